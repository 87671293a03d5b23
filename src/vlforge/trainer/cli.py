"""`vlforge train`: one DeepSeek-VL training stage on our shards.

    vlforge train --stage {1,2,3} --config FILE [--set key=value ...] [--nproc N]

With --nproc N > 1 the command starts N processes itself through torchrun
(`python -m torch.distributed.run --standalone`); under torchrun, on many nodes, run the
module instead: `torchrun ... -m vlforge.trainer --stage 2 --config FILE`.
`add_train_parser(subparsers)` plugs this into `vlforge`; `python -m vlforge.trainer ARGS`
runs it on its own.

    vlforge generate --model EXPORT --prompt "..." [--cfg 5] [--seed 0] -o out.png

draws one image from a Janus export (a transformers folder) with classifier-free guidance,
through transformers' `JanusForConditionalGeneration.generate(generation_mode="image")`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from vlforge.errors import VlforgeError, run_handler


def add_train_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one DeepSeek-VL stage on shards (FSDP2)",
                              description=__doc__.splitlines()[0].strip("`"))
    add_train_arguments(p)
    p.set_defaults(handler=cmd_train)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", type=int, choices=(1, 2, 3), help="1 adaptor warm-up, 2 joint "
                   "pretraining, 3 SFT (default: `stage` in the config)")
    p.add_argument("--config", help="YAML file of train options (see vlforge.trainer.config)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                   help="override one option, e.g. --set steps=100 (repeatable)")
    p.add_argument("--nproc", type=int, default=1, help="processes on this machine, one per GPU "
                   "or CPU rank (default: 1); > 1 launches torchrun")


def cmd_train(args) -> int:
    if args.nproc < 1:
        raise VlforgeError("--nproc must be at least 1")
    if args.nproc > 1 and "LOCAL_RANK" not in os.environ:
        return subprocess.call(torchrun_command(args.nproc, module_arguments(args)))
    from vlforge.trainer.config import build_train_config, resolve_train_options
    from vlforge.trainer.train import train
    options = resolve_train_options(args.config, tuple(args.assignments), args.stage)
    summary = train(build_train_config(options), options)
    if int(os.environ.get("RANK", 0)) == 0:
        print(_summary_line(summary))
    return 0


def add_generate_parser(subparsers) -> None:
    p = subparsers.add_parser("generate", help="draw an image from a Janus export (CFG sampling)",
                              description="Draw one image from a Janus model folder with classifier-free guidance.")
    p.add_argument("--model", required=True, help="a transformers Janus folder (a Janus run's export)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--cfg", type=float, default=5.0, help="guidance scale s: l_u + s (l_c - l_u) (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--raw-prompt", action="store_true",
                   help="feed the prompt as it is (stages I-II) instead of the chat format (stage III)")
    p.add_argument("--ids", help="also write the image ids as JSON here")
    p.add_argument("-o", "--output", required=True, help="image file (PNG)")
    p.set_defaults(handler=cmd_generate)


def cmd_generate(args) -> int:
    import json
    from pathlib import Path

    from vlforge.trainer.janus_data import janus_tokenizer
    from vlforge.trainer.janus_train import decode_image, load_janus_export, sample_ids
    from vlforge.trainer.tokenizer import load_tokenizer

    if args.cfg < 0:
        raise VlforgeError("--cfg must be >= 0")
    model = load_janus_export(args.model)
    tokenizer = janus_tokenizer(load_tokenizer(args.model))
    ids = sample_ids(model, tokenizer, args.prompt, cfg=args.cfg, seed=args.seed, chat=not args.raw_prompt,
                     temperature=args.temperature)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    decode_image(model, ids).save(args.output)
    if args.ids:
        Path(args.ids).write_text(json.dumps(ids[0].tolist()) + "\n")
    print(f"{ids.shape[1]} image ids -> {args.output}")
    return 0


# The parser is here, not in convert.py, so that `vlforge --help` and corpus jobs do not
# import torch to build it; the handler imports the converter.
def add_convert_parser(sub) -> None:
    p = sub.add_parser("convert-checkpoint",
                       help="convert a DeepSeek-VL or Janus release folder into a transformers folder",
                       description="Convert a deepseek-ai/deepseek-vl-* release folder (config.json "
                                   "with vision_config/aligner_config/language_config) into a "
                                   "folder that transformers' DeepseekVL(Hybrid)ForConditionalGeneration "
                                   "loads with from_pretrained; a deepseek-ai/Janus* folder (with "
                                   "gen_vision_config too) into a JanusForConditionalGeneration folder.")
    p.add_argument("src", help="the release folder")
    p.add_argument("dst", help="the new transformers folder (must not exist or be empty)")
    p.add_argument("--tokenizer", help="tokenizer folder for the processor (default: the release folder's)")
    p.set_defaults(handler=cmd_convert)


def cmd_convert(args) -> int:
    import json
    from pathlib import Path

    from vlforge.trainer.convert import convert_release

    out = convert_release(args.src, args.dst, args.tokenizer)
    kind = json.loads((Path(out) / "config.json").read_text())["architectures"][0]
    print(f"{args.src} -> {out} ({kind})")
    if not (Path(out) / "tokenizer.json").is_file():
        print(f"note: {args.src} has no tokenizer.json and --tokenizer was not given: {out} holds the "
              "image processor but no tokenizer, so AutoProcessor cannot load it", file=sys.stderr)
    return 0


def module_arguments(args) -> list[str]:
    """The arguments that `python -m vlforge.trainer` takes for the same run."""
    argv = []
    if args.stage is not None:
        argv += ["--stage", str(args.stage)]
    if args.config:
        argv += ["--config", args.config]
    for assignment in args.assignments:
        argv += ["--set", assignment]
    return argv


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    # --standalone: a rendezvous on localhost with a free port, so runs side by side never clash.
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "vlforge.trainer", *argv]


def _summary_line(summary: dict) -> str:
    first = summary["losses"][0] if summary["losses"] else None
    losses = f"loss {first:.4f} -> {summary['final_loss']:.4f}" if first is not None else "no steps run"
    line = f"stage {summary['stage']}: steps {summary['start_step']}..{summary['steps']}, {losses}"
    if summary.get("eval"):
        line += f", eval accuracy {summary['eval']['accuracy']:.3f}"
    if summary.get("records_skipped"):
        skipped = ", ".join(f"{reason} {count}" for reason, count in summary["records_skipped"].items())
        line += f"; records that gave no example: {skipped}"
    if summary["checkpoint"]:
        line += f"; checkpoint {summary['checkpoint']}"
    return line + (f"; export {summary['export']}" if summary["export"] else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vlforge train", description=__doc__.splitlines()[0].strip("`"))
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    return run_handler(cmd_train, args)
