"""Janus's generation view: images -> 576 VQ ids with transformers' JanusVQVAE encoder.

    generation_view   RGB (transparency on white), resized so the short side is 384
                      (bicubic), centre-cropped to 384x384 (Janus's generation preprocessing;
                      the understanding view, long side 384 padded with grey, is
                      JanusImageProcessor's and not used here)
    pixels            scaled to [0, 1], then (x - mean) / std with the checkpoint's
                      preprocessor_config.json image_mean/std, else 0.5/0.5 ([-1, 1], what
                      the LlamaGen VQ of Janus was trained on)
    encode            JanusVQVAE.encode -> the codebook index of each cell of the
                      (384 / 16) x (384 / 16) = 24 x 24 latent grid, row-major: 576 ids

A checkpoint is a local folder holding either a JanusVQVAE (config model_type "janus_vqgan")
or a whole Janus model (model_type "janus", its `model.vqmodel.*` weights are used). Every
VQ parameter must come from the folder: a missing or unexpected one is an error, never a
random initialisation.

`python -m vlforge.vq tiny OUT` writes a tiny random JanusVQVAE with the real geometry
(384 -> 24 x 24) for tests and the demo. Its shape is the VQ part of the trainer's
`tiny-janus` preset (`tiny_vq_fields` here, the one definition of it), so the ids
a demo shard stores index the codebook tiny-janus trains on.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vlforge.errors import VlforgeError
from vlforge.images import to_rgb

GENERATION_SIZE = 384
VIEW_NAME = "short_side_resize_center_crop"
DEFAULT_MEAN = DEFAULT_STD = (0.5, 0.5, 0.5)

def generation_view(image: Image.Image, size: int = GENERATION_SIZE) -> Image.Image:
    """The image as Janus's generation path sees it: short side `size`, centre crop."""
    rgb = to_rgb(image)
    width, height = rgb.size
    scale = size / min(width, height)
    resized = rgb.resize((max(size, round(width * scale)), max(size, round(height * scale))),
                         Image.Resampling.BICUBIC)
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    return resized.crop((left, top, left + size, top + size))


@dataclass
class VQTokenizer:
    model: Any  # transformers JanusVQVAE, eval mode
    device: str
    dtype: Any
    name: str  # the checkpoint folder's name, for provenance
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD
    size: int = GENERATION_SIZE
    # encode() from several threads of one process (Beam's in-process runners) takes turns.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def codebook_size(self) -> int:
        return int(self.model.config.num_embeddings)

    @property
    def grid(self) -> tuple[int, int]:
        side = self.size // 2 ** (len(self.model.config.channel_multiplier) - 1)
        return side, side

    def pixels(self, images: list[Image.Image]):
        """The (B, 3, size, size) float tensor of the generation views of `images`."""
        import torch

        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        arrays = [(np.asarray(generation_view(image, self.size), np.float32) / 255.0 - mean) / std
                  for image in images]
        return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())

    def encode_pixels(self, pixel_values) -> np.ndarray:
        """(B, grid*grid) int32 ids of already preprocessed pixels."""
        import torch

        with self.lock, torch.inference_mode():
            out = self.model.encode(pixel_values.to(self.device, self.dtype))
        return out.image_tokens.view(pixel_values.shape[0], -1).to("cpu", torch.int32).numpy()

    def encode(self, images: list[Image.Image]) -> np.ndarray:
        return self.encode_pixels(self.pixels(images))

    def decode(self, ids) -> Any:
        """Pixels (B, 3, size, size), in the normalised range, of (B, 576) ids."""
        import torch

        with self.lock, torch.inference_mode():
            return self.model.decode(torch.as_tensor(np.asarray(ids), dtype=torch.long, device=self.device))


# --------------------------------------------------------------------------------------
# Loading: once per checkpoint, device and dtype in each worker process
# --------------------------------------------------------------------------------------

_TOKENIZERS: dict[tuple, VQTokenizer] = {}
_LOAD_LOCK = threading.Lock()


def load_vq(path: str | os.PathLike, device: str = "", dtype: str = "float32") -> VQTokenizer:
    """The VQ checkpoint at `path` on `device` (empty: CUDA when there is one), loaded once per
    process (the process id keeps a forked child from using its parent's CUDA model)."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise VlforgeError(f"vq.dtype={dtype!r} is not a torch dtype; use float32 or bfloat16")
    key = (os.getpid(), str(Path(path).resolve()), device, dtype)
    with _LOAD_LOCK:
        if key not in _TOKENIZERS:
            _TOKENIZERS.clear()
            _TOKENIZERS[key] = _load(Path(path), device, torch_dtype)
        return _TOKENIZERS[key]


def checkpoint_kind(path: str | os.PathLike) -> str:
    """"janus_vqgan" or "janus"; a VlforgeError naming what is wrong with anything else."""
    folder = Path(path)
    config = folder / "config.json"
    if not config.is_file():
        raise VlforgeError(f"vq.model: {folder} is not a checkpoint folder (no config.json)")
    kind = json.loads(config.read_text()).get("model_type")
    if kind not in ("janus_vqgan", "janus"):
        raise VlforgeError(f"vq.model: {folder} holds a {kind!r} model; it must be a JanusVQVAE "
                           "(janus_vqgan) or a Janus (janus) transformers folder")
    if not any(folder.glob("*.safetensors")):
        raise VlforgeError(f"vq.model: {folder} has no .safetensors weights")
    return kind


def _load(folder: Path, device: str, dtype) -> VQTokenizer:
    from transformers import JanusVQVAE
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bars from every worker
    if checkpoint_kind(folder) == "janus_vqgan":
        model, info = JanusVQVAE.from_pretrained(folder, local_files_only=True, output_loading_info=True)
        problems = {name: sorted(info[name]) for name in ("missing_keys", "unexpected_keys", "mismatched_keys")
                    if info.get(name)}
        if problems:
            raise VlforgeError(f"vq.model: {folder} does not fill the JanusVQVAE: {problems}")
    else:
        model = _vq_of_janus(folder)
    model.to(device, dtype).eval()
    mean, std = _normalisation(folder)
    return VQTokenizer(model, device, dtype, folder.resolve().name, mean, std)


def _vq_of_janus(folder: Path):
    """The JanusVQVAE inside a whole Janus folder, every parameter from its weights."""
    from safetensors import safe_open
    from transformers import JanusVQVAE, JanusVQVAEConfig

    config = JanusVQVAEConfig(**json.loads((folder / "config.json").read_text())["vq_config"])
    model = JanusVQVAE(config)
    prefix, state = "model.vqmodel.", {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(file, framework="pt") as weights:
            state.update({name[len(prefix):]: weights.get_tensor(name)
                          for name in weights.keys() if name.startswith(prefix)})
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise VlforgeError(f"vq.model: {folder}'s {prefix}* weights do not fill the JanusVQVAE: "
                           f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    return model


def _normalisation(folder: Path) -> tuple[tuple, tuple]:
    config = folder / "preprocessor_config.json"
    if not config.is_file():
        return DEFAULT_MEAN, DEFAULT_STD
    values = json.loads(config.read_text())
    return tuple(values.get("image_mean", DEFAULT_MEAN)), tuple(values.get("image_std", DEFAULT_STD))


def tiny_vq_fields() -> dict[str, Any]:
    """The VQ model of `tiny-janus` (its one definition; the trainer's preset imports it): 384 px
    -> 24x24 = 576 ids as the released one, at toy widths (1024 codes), so ids that the demo's
    captions job stores fit the codebook the tiny model trains on."""
    return dict(embed_dim=8, num_embeddings=1024, base_channels=32, channel_multiplier=[1, 1, 1, 1, 2],
                num_res_blocks=1, latent_channels=32, projection_dim=64, image_token_embed_dim=64,
                num_hidden_layers=2, hidden_act="gelu")


def standalone_config(fields: dict[str, Any]):
    """The JanusVQVAEConfig of a saved VQ folder with these fields: its latent grid
    (`num_patches`, which decoding reshapes ids to) set from the geometry, as JanusConfig sets
    it for the VQ inside a whole model; the config default (32) would not decode 576 ids."""
    from transformers import JanusVQVAEConfig

    side = GENERATION_SIZE // 2 ** (len(fields["channel_multiplier"]) - 1)
    return JanusVQVAEConfig(**{**fields, "num_patches": side})


def save_tiny_vq(output: str | os.PathLike, seed: int = 0) -> Path:
    """A tiny random JanusVQVAE of `tiny-janus`'s VQ shape (384 -> 24 x 24 ids) saved to `output`."""
    import torch
    from transformers import JanusVQVAE

    torch.manual_seed(seed)
    model = JanusVQVAE(standalone_config(tiny_vq_fields()))
    model.save_pretrained(output)
    Path(output, "preprocessor_config.json").write_text(
        json.dumps({"image_mean": list(DEFAULT_MEAN), "image_std": list(DEFAULT_STD)}, indent=1))
    return Path(output)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vlforge.vq")
    commands = parser.add_subparsers(dest="command", required=True)
    tiny = commands.add_parser("tiny", help="write a tiny random JanusVQVAE (384 -> 24x24 ids)")
    tiny.add_argument("output")
    tiny.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"tiny JanusVQVAE: {save_tiny_vq(args.output, args.seed)}")


if __name__ == "__main__":
    main()
