"""Weights into a Janus model: a whole transformers Janus folder, or stage I's three parts.

Same rule as `weights` (whose strict copy, `weights.fill`, does the work): every parameter
of the model is filled from the checkpoints, or the load stops naming what is missing;
only the layers no part can hold (`janus_model.JANUS_NEW_LAYERS`: the understanding
aligner, the generation aligner, the image head) may start at their init, and the report
lists them.

    load_janus_full(model, folder)   `save_pretrained` of JanusForConditionalGeneration (our
                                     export, transformers' converted deepseek-community/Janus*)
    load_janus_parts(model, siglip=, vq=, llm=)
        siglip  a SiglipVisionModel / SiglipModel / JanusVisionModel folder (SigLIP's
                `out_proj` is Janus's `projection_layer`; a pooling head is not used)
        vq      a JanusVQVAE folder (the VQ model the captions job tokenized with); its
                codebook also fills `generation_embeddings`, the table the generation
                path looks ids up in (spec: "the codebook embedding of each id")
        llm     a LlamaForCausalLM folder (DeepSeek-LLM)

The original release layout (deepseek-ai/Janus*, model_type multi_modality) is refused with
the way to convert it (`vlforge convert-checkpoint`, `janus_convert`).
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn
from transformers import JanusConfig

from vlforge.trainer.janus_model import JANUS_NEW_LAYERS
from vlforge.trainer.weights import LoadReport, StateDict, WeightsError, fill, read_folder

_UNUSED = (".rotary_emb.inv_freq",)
_SIGLIP_MARK = "embeddings.patch_embedding.weight"


def _config_json(path: Path) -> dict:
    file = Path(path) / "config.json"
    if not file.is_file():
        raise WeightsError(f"{path}: no config.json (a transformers model folder is needed)")
    return json.loads(file.read_text(encoding="utf-8"))


def is_janus_folder(path: str | Path) -> bool:
    """A folder holding a transformers Janus model (config.json model_type "janus")."""
    file = Path(path) / "config.json"
    return file.is_file() and json.loads(file.read_text(encoding="utf-8")).get("model_type") == "janus"


def read_janus_config(path: str | Path) -> JanusConfig:
    data = _config_json(Path(path))
    if data.get("model_type") == "multi_modality":
        raise WeightsError(f"{path}: the original deepseek-ai Janus release layout; convert it to a transformers "
                           "folder first (`vlforge convert-checkpoint SRC DST`), then point init_from at it")
    if data.get("model_type") != "janus":
        raise WeightsError(f"{path}: model_type {data.get('model_type')!r} is not a Janus model")
    return JanusConfig.from_pretrained(str(path), local_files_only=True)


def load_janus_full(model: nn.Module, path: str | Path) -> LoadReport:
    """Every parameter of `model` from a transformers Janus folder, else WeightsError."""
    read_janus_config(path)
    state = read_folder(path)
    ignored = [k for k in state if k.endswith(_UNUSED)]
    state = {k: v for k, v in state.items() if k not in ignored}
    return fill(model, state, source=str(path), layout="transformers", ignored=ignored)


def _tower_prefix(state: StateDict, mark: str, source: Path) -> str:
    """The prefix the tower's tensors sit under (SiglipModel nests it, a bare tower not)."""
    hits = [k[: -len(mark)] for k in state if k.endswith(mark)]
    if len(hits) != 1:
        raise WeightsError(f"{source}: expected one vision tower (a tensor ending in {mark!r}), found {len(hits)}")
    return hits[0]


def siglip_part(path: Path) -> tuple[StateDict, list[str]]:
    """(tensors under Janus names, tensors not used: a text tower, SigLIP's pooling head)."""
    state = read_folder(path)
    prefix = _tower_prefix(state, _SIGLIP_MARK, path)
    used = [k for k in state if k.startswith(prefix) and not k[len(prefix):].startswith("head.")]
    out = {"model.vision_model." + k[len(prefix):].replace(".self_attn.out_proj.", ".self_attn.projection_layer."):
           state[k] for k in used}
    return out, sorted(set(state) - set(used))


def vq_part(path: Path) -> tuple[StateDict, list[str]]:
    if _config_json(path).get("model_type") != "janus_vqgan":
        raise WeightsError(f"{path}: not a JanusVQVAE folder (model_type janus_vqgan)")
    state = read_folder(path)
    out = {"model.vqmodel." + k: v for k, v in state.items()}
    out["model.generation_embeddings.weight"] = state["quantize.embedding.weight"]
    return out, []


def llm_part(path: Path) -> tuple[StateDict, list[str]]:
    data = _config_json(path)
    if data.get("model_type") != "llama":
        raise WeightsError(f"{path}: the LLM part must be a Llama (DeepSeek-LLM) folder, "
                           f"not model_type {data.get('model_type')!r}")
    state = read_folder(path)
    ignored = [k for k in state if k.endswith(_UNUSED)]
    out = {("lm_head.weight" if k == "lm_head.weight" else "model.language_model." + k.removeprefix("model.")): v
           for k, v in state.items() if k not in ignored}
    return out, ignored


def load_janus_parts(model: nn.Module, *, siglip=None, vq=None, llm=None) -> LoadReport:
    """Stage I from parts: SigLIP, VQ and LLM folders; only JANUS_NEW_LAYERS stay at init."""
    state: StateDict = {}
    ignored: list[str] = []
    for reader, path in ((siglip_part, siglip), (vq_part, vq), (llm_part, llm)):
        if path is not None:
            part, unused = reader(Path(path))
            state.update(part)
            ignored += unused
    sources = ", ".join(str(p) for p in (siglip, vq, llm) if p is not None)
    return fill(model, state, source=sources or "no parts", layout="parts", ignored=ignored,
                new_layers=JANUS_NEW_LAYERS)
