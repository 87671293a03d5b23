"""The three-stage FSDP2 trainer for the DeepSeek-VL architecture, reading vlforge's shards.

presets         model shapes: tiny, tiny-siglip, deepseek-vl-1.3b, deepseek-vl-7b
model           SigLIP(+SAM) encoder, adaptor, Llama decoder; stage trainable sets; HF export
weights         local SigLIP/SAM checkpoints (transformers folders or timm-format files)
tokenizer       a local tokenizer folder, or the built-in byte tokenizer (tiny preset, tests)
chat_format     the "deepseek" chat format and answer-only labels
images          resize + pad-to-square preprocessing
data            shards -> language / pair / conversation examples, resumable per rank
mixing          language:multimodal mixing, modality warm-up, grouped batches, packing
training_stages Table 4 plans and learning-rate schedules
config          train options (YAML, --set), strict
distributed     process group, FSDP2 units, mixed precision, activation checkpointing
checkpoint      DCP save/resume with the data position, stage chaining, final export
evaluation      multi-choice PPL evaluation
metrics         per-step loss, lr, tokens/s, samples/s, memory, MFU -> console + metrics.jsonl
train           the loop; cli / __main__: `vlforge train`, `torchrun -m vlforge.trainer`
"""
