"""The three-stage FSDP2 trainer for DeepSeek-VL and Janus, on transformers' own model classes, reading vlforge's shards.

presets         model shapes: tiny, tiny-siglip, deepseek-vl-1.3b, deepseek-vl-7b, tiny-janus, janus-1.3b,
                janus-pro-1b, janus-pro-7b -> transformers configs
model           DeepseekVL(Hybrid)ForConditionalGeneration built, stage trainable sets, FSDP2 units, FLOPs
weights         weights in: transformers and release folders whole (load_full), SigLIP/SAM/LLM parts for
                stage 1 (load_parts, new layers listed), strict, with a LoadReport
convert         the DeepSeek-VL release layout -> transformers (`vlforge convert-checkpoint`)
janus_convert   the Janus / Janus-Pro release layout -> a transformers Janus folder
parts           separate tiny SigLIP/SAM/LLM checkpoints of a preset's shape (demo, tests)
tokenizer       a local tokenizer folder, or the built-in byte tokenizer (tiny presets, tests)
chat_format     the released "deepseek" chat format, its jinja template and answer-only labels
images          the model's transformers image processor with the released arithmetic
processing      the transformers processor of an export folder (image processor, tokenizer, template)
data            shards -> language / pair / conversation examples, resumable per rank
mixing          language:multimodal mixing, modality warm-up, grouped batches, packing
prefetch        batches made ahead in a background thread, with their data position
training_stages Table 4 plans and learning-rate schedules
config          train options (YAML, --set), strict
distributed     process group, FSDP2 units, mixed precision, activation checkpointing
checkpoint      DCP save/resume with the data position, stage chaining, init_from sources
evaluation      multi-choice PPL evaluation
metrics         per-step loss, lr, tokens/s, samples/s, memory, MFU -> console + metrics.jsonl
train           the loop and the export (a transformers folder); cli / __main__: `vlforge train`,
                `torchrun -m vlforge.trainer`; `vlforge generate` (Janus CFG sampling)
janus_*         Janus: the model with one text + image-id loss (janus_model), examples (janus_data),
                understanding:text:generation slots and the curriculum (janus_mixing), weights in
                (janus_weights), separate tiny parts (janus_parts), the stage loop (janus_train)
"""
