"""`vlforge taxonomy ...`: build the prompt set, train, tag, sample, report, evaluate.

    prompts   write the labelled prompt set (promptset.py documents the recipe)
    train     LOSO-calibrate and train the models on real labelled prompts + the prompt set
    tag       prompt files (JSONL, JSON lists or keyed objects, CSV, parquet) -> records + tags
    sample    a balanced evaluation set: N records per category, deterministic per seed
    report    counts per main and secondary category: a table and a bar chart PNG
    evaluate  leave-one-source-out (or one model's) accuracy on real labelled prompts,
              abstention, confusion matrix; where CharXiv questions land

`add_taxonomy_parser(subparsers)` plugs these into `vlforge`; `python -m
vlforge.taxonomy.cli ARGS` runs `vlforge taxonomy ARGS` on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vlforge.errors import VlforgeError, run_handler


def add_taxonomy_parser(subparsers) -> None:
    p = subparsers.add_parser("taxonomy", help="tag SFT prompts with the DeepSeek-VL use-case taxonomy",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="taxonomy_command", required=True)
    _add_prompts(sub)
    _add_train(sub)
    _add_tag(sub)
    _add_sample(sub)
    _add_report(sub)
    _add_evaluate(sub)


def _model_dir_option(p) -> None:
    p.add_argument("--model-dir", help="directory with main.ftz, secondary.ftz, model.json "
                                       "(default: the models shipped in the package)")


def _add_prompts(sub) -> None:
    from vlforge.taxonomy.promptset import DEFAULT_SEED
    p = sub.add_parser("prompts", help="write the labelled prompt set (English and Chinese)")
    p.add_argument("--output", "-o", required=True, help="JSONL file to write")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"generation seed (default: {DEFAULT_SEED})")
    p.set_defaults(handler=_cmd_prompts)


def _cmd_prompts(args) -> int:
    from vlforge.taxonomy.promptset import generate, write_promptset
    rows = generate(args.seed)
    write_promptset(rows, args.output)
    test = sum(r["split"] == "test" for r in rows)
    print(f"{len(rows)} prompts ({test} held out) written to {args.output}", file=sys.stderr)
    return 0


def _labelled_option(p, required: bool) -> None:
    p.add_argument("--labelled", required=required, metavar="DIR",
                   help="shared/corpora/prompts_labelled: real prompts with their categories")


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="LOSO-calibrate and train the models on real labelled prompts")
    _labelled_option(p, required=True)
    p.add_argument("--prompts", help="generated prompt set JSONL, the augmentation (default: the packaged one)")
    p.add_argument("--output-dir", "-o", required=True, help="where main.ftz, secondary.ftz, model.json, "
                                                                "evaluation.json go")
    p.add_argument("--seed", type=int, default=1, help="fastText and sampling seed (default: 1)")
    p.add_argument("--charxiv", metavar="DIR", help="a CharXiv checkout: its questions join the real prompts "
                                                    "the default threshold is chosen on")
    p.set_defaults(handler=_cmd_train)


def _cmd_train(args) -> int:
    from vlforge.taxonomy.build import build
    from vlforge.taxonomy.evaluate import charxiv_rows, format_report
    from vlforge.taxonomy.labelled import load_labelled
    from vlforge.taxonomy.model import TrainConfig
    from vlforge.taxonomy.promptset import load_promptset
    result = build(load_labelled(args.labelled), load_promptset(args.prompts), args.output_dir,
                   TrainConfig(seed=args.seed), lambda message: print(message, file=sys.stderr),
                   charxiv_rows(args.charxiv) if args.charxiv else [])
    print(format_report(result))
    return 0


def _add_tag(sub) -> None:
    p = sub.add_parser("tag", help="tag SFT records (JSON/JSONL) with taxonomy categories")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="JSON/JSONL files, directories or globs")
    p.add_argument("--output", "-o", required=True, help="JSONL file of the tagged records")
    p.add_argument("--rejects", help="JSONL file of unreadable records (default: OUTPUT.rejects.jsonl)")
    p.add_argument("--field", help="the prompt's key (dotted for nested: meta.question) or CSV/parquet "
                                   "column (default: conversations, then question/query/prompt/instruction/text)")
    _model_dir_option(p)
    _threshold_options(p)
    p.set_defaults(handler=_cmd_tag)


def _threshold_options(p) -> None:
    p.add_argument("--threshold", type=float, help="main-category confidence below which a record is "
                                                     "unassigned (default: the model's, see model.json)")
    p.add_argument("--top-k", type=int, default=3, help="labels in the `top` list (default: 3)")


def _tagger(args):
    from vlforge.taxonomy.prompt_tagger import Tagger
    return Tagger.load(args.model_dir, top_k=getattr(args, "top_k", 3),
                       main_threshold=getattr(args, "threshold", None))


def _cmd_tag(args) -> int:
    from vlforge.taxonomy.tag_files import default_rejects_path, tag_files
    rejects = args.rejects or default_rejects_path(args.output)
    stats = tag_files(args.inputs, args.output, rejects, _tagger(args), args.field)
    print(json.dumps(stats.as_dict(), sort_keys=True), file=sys.stderr)
    print(f"{stats.tagged} records tagged ({stats.unassigned} unassigned) -> {args.output}; "
          f"{stats.rejected} rejected -> {rejects}", file=sys.stderr)
    return 0


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="a balanced evaluation set, N records per category")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="tagged (or untagged) record files")
    p.add_argument("--per-category", "-n", type=int, required=True, help="records per category")
    p.add_argument("--output", "-o", required=True, help="JSONL file of the chosen records")
    p.add_argument("--seed", type=int, default=0, help="which records are chosen (default: 0)")
    p.add_argument("--level", choices=["main", "secondary"], default="main")
    p.add_argument("--all-categories", action="store_true",
                   help="include Safety (default: the paper's seven human-evaluation categories)")
    _model_dir_option(p)
    p.set_defaults(handler=_cmd_sample)


def _cmd_sample(args) -> int:
    from vlforge.taxonomy.sampling import balanced_sample
    if args.per_category < 1:
        raise VlforgeError("--per-category must be at least 1")
    records = _tagged_records(args)
    chosen = balanced_sample(records, args.per_category, args.seed, args.level, args.all_categories)
    with open(args.output, "w", encoding="utf-8") as f:
        for record in chosen.records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    short = {name: f"{n}/{args.per_category}" for name, n in chosen.counts.items() if n < args.per_category}
    print(f"{len(chosen.records)} records -> {args.output}" +
          (f"; categories short of {args.per_category}: {short}" if short else ""), file=sys.stderr)
    return 0


def _tagged_records(args) -> list[dict]:
    """Records of the inputs with their tags: kept when tagged already, tagged here if not."""
    from vlforge.taxonomy.tag_files import tagged_records
    records, rejected = tagged_records(args.inputs, lambda: _tagger(args))
    if rejected:
        print(f"{rejected} unreadable records left out (run `vlforge taxonomy tag` to see why)", file=sys.stderr)
    return records


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="counts per main and secondary category: table and bar chart")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="tagged (or untagged) record files")
    p.add_argument("--png", help="bar chart to write")
    p.add_argument("--json", help="counts as JSON to write")
    _model_dir_option(p)
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args) -> int:
    from vlforge.taxonomy.report import draw_coverage, format_coverage
    from vlforge.taxonomy.sampling import coverage
    cov = coverage(_tagged_records(args))
    print(format_coverage(cov))
    if args.png:
        draw_coverage(cov, args.png)
    if args.json:
        Path(args.json).write_text(json.dumps(cov, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="accuracy on real labelled prompts (leave-one-source-out or one model)")
    _labelled_option(p, required=False)
    p.add_argument("--loso", action="store_true",
                   help="train leave-one-source-out folds with the shipped recipe (minutes) instead of "
                        "scoring one model")
    p.add_argument("--prompts", help="with --loso: generated prompt set JSONL (default: the packaged one)")
    _model_dir_option(p)
    p.add_argument("--charxiv", metavar="DIR", help="a CharXiv checkout: report where its questions land")
    p.add_argument("--json", help="the full report as JSON to write")
    p.set_defaults(handler=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from vlforge.taxonomy import evaluate
    if not (args.labelled or args.charxiv):
        raise VlforgeError("name --labelled DIR (real labelled prompts) and/or --charxiv DIR")
    result: dict = {}
    if args.labelled:
        result = _labelled_report(args)
    if args.charxiv:
        result["charxiv"] = evaluate.charxiv_landing(args.charxiv, args.model_dir)
    print(evaluate.format_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def _labelled_report(args) -> dict:
    from vlforge.taxonomy import evaluate
    from vlforge.taxonomy.labelled import augmentation, load_labelled
    from vlforge.taxonomy.model import TrainConfig
    from vlforge.taxonomy.promptset import load_promptset
    rows = load_labelled(args.labelled)
    if not args.loso:
        return evaluate.evaluate_model(rows, args.model_dir)
    rows += evaluate.charxiv_rows(args.charxiv) if args.charxiv else []
    predictions = evaluate.loso_predictions(rows, augmentation(load_promptset(args.prompts)), TrainConfig(),
                                            lambda message: print(message, file=sys.stderr))
    return evaluate.report(predictions, evaluate.calibration_of(predictions))


def main(argv: list[str] | None = None) -> int:
    """`vlforge taxonomy ARGV` without the rest of the vlforge CLI."""
    parser = argparse.ArgumentParser(prog="vlforge")
    add_taxonomy_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["taxonomy", *(sys.argv[1:] if argv is None else argv)])
    return run_handler(args.handler, args)


if __name__ == "__main__":
    raise SystemExit(main())
