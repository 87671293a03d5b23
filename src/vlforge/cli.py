"""`vlforge`: run corpus jobs, inspect their shards, and train on them.

Errors a user can fix (bad arguments, missing inputs, an output dir of another job) end in a
one-line `vlforge: error: ...` and exit status 2, never a traceback.

Exit status of `vlforge run`: 0 the job wrote samples; 2 it could not run; 3 some tasks
failed (re-run to retry them); 4 it accepted nothing from its inputs (the ledger says why);
130 interrupted (Ctrl-C; re-run to resume).
"""

from __future__ import annotations

import argparse
import json
import sys

from vlforge.errors import VlforgeError, run_handler

EXIT_FAILED_TASKS = 3
EXIT_NOTHING_ACCEPTED = 4


def _add_run(sub) -> None:
    from vlforge.contract import corpus_names
    p = sub.add_parser("run", help="run a corpus job into WebDataset shards",
                       description="Run a corpus job: read INPUTs, write shards, index, reject ledger and "
                                   "stats.json under --output. Re-running the same command resumes it.",
                       epilog="exit status: 0 samples written; 2 the job could not run; 3 some tasks failed "
                              "(re-run to retry them); 4 nothing accepted from the inputs (see the reject "
                              "ledger); 130 interrupted (re-run to resume)")
    p.add_argument("corpus", choices=corpus_names(), help="which corpus job to run")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or globs")
    p.add_argument("--output", "-o", required=True, help="output directory (created if missing)")
    p.add_argument("--engine", default="local", choices=["local", "ray", "beam"],
                   help="where tasks run: a local process pool (default), Ray, or Apache Beam")
    p.add_argument("--address", help="ray: address of a running cluster (default: start a local one)")
    p.add_argument("--beam-args", help="beam: pipeline options, e.g. '--runner=FlinkRunner "
                                       "--flink_master=HOST:8081' (default: DirectRunner, multi-processing)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    p.add_argument("--config", help="YAML file of options")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                   help="override one option, e.g. --set shards.max_count=1000 (repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or summary on stderr")
    p.set_defaults(handler=_cmd_run)


def _cmd_run(args) -> int:
    from vlforge.engines.runner import make_engine, run_job
    if args.workers < 1:
        raise VlforgeError("--workers must be at least 1")
    engine = make_engine(args.engine, args.workers, address=args.address, beam_args=args.beam_args)
    stats = run_job(args.corpus, args.inputs, args.output, engine, config_file=args.config,
                    assignments=tuple(args.assignments), quiet=args.quiet)
    if stats["tasks_failed"]:
        first = stats["failed"][0]
        print(f"vlforge: {stats['tasks_failed']} of {stats['tasks']} tasks failed (task {first['task']}: "
              f"{first['error']}); re-run the same command to retry them", file=sys.stderr)
        return EXIT_FAILED_TASKS
    if stats["accepted"] == 0:
        reasons = ", ".join(f"{reason} {count}" for reason, count in stats["rejected_by_reason"].items())
        print(f"vlforge: the job accepted nothing: {stats['read']} items read, {stats['rejected']} rejected"
              f"{f' ({reasons})' if reasons else ''}; see {stats['rejects_file']}", file=sys.stderr)
        return EXIT_NOTHING_ACCEPTED
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="write OUT/report.html: what a job made and dropped",
                       description="Write the job report (counts, rejects by stage and reason with "
                                   "examples, distributions, a sample of pairs, timings) as "
                                   "OUT/report.html; every job also writes it when it ends.")
    p.add_argument("output", help="the --output directory of a job")
    p.add_argument("--pairs", type=int, default=24, help="random accepted pairs shown (default: 24)")
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args) -> int:
    from vlforge.report import write_report
    print(write_report(args.output, shown=args.pairs))
    return 0


def _add_options(sub) -> None:
    from vlforge.contract import corpus_names
    p = sub.add_parser("options", help="every option of a corpus job, its default and meaning",
                       description="Print every option a corpus job takes (set them with --set KEY=VALUE "
                                   "or a --config YAML file), with its default and one line of meaning.")
    p.add_argument("corpus", choices=corpus_names())
    p.set_defaults(handler=_cmd_options)


def _cmd_options(args) -> int:
    from vlforge.config import describe_options
    from vlforge.contract import get_corpus
    print(describe_options(get_corpus(args.corpus).defaults))
    return 0


def _add_submit(sub) -> None:
    from vlforge.contract import corpus_names
    p = sub.add_parser("submit", help="submit a corpus job to a Ray cluster (job submission API)",
                       description="Submit `vlforge run CORPUS ... --engine ray` to a Ray cluster, stream its "
                                   "logs and print the job id. Inputs and --output must be on storage every "
                                   "node sees.")
    p.add_argument("corpus", choices=corpus_names())
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--output", "-o", required=True)
    p.add_argument("--address", required=True, help="the cluster's dashboard, e.g. http://HOST:8265")
    p.add_argument("--workers", type=int, default=2, help="passed to the job's run command")
    p.add_argument("--config", help="YAML options file; shipped with the job")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--python", default="python", help="python on the cluster that has vlforge's dependencies")
    p.add_argument("--no-wait", action="store_true", help="return after submitting; do not stream logs")
    p.set_defaults(handler=_cmd_submit)


def _cmd_submit(args) -> int:
    from vlforge.engines.submit import submit
    job_id, status = submit(args.corpus, args.inputs, args.output, args.address, args.workers,
                            args.config, tuple(args.assignments), args.python, wait=not args.no_wait)
    print(f"job {job_id}: {status}")
    return 0 if status in ("SUCCEEDED", "PENDING") else 1


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="summarise, show, lint or draw shards",
                       description="Summarise the shards under PATH (a shard, a directory of shards or a "
                                   "job's output directory).")
    p.add_argument("path", help="a .tar shard, a directory of shards, or a job output directory")
    p.add_argument("--show", metavar="KEY", help="print one sample's metadata and text, write its image")
    p.add_argument("--image-dir", default=".", help="where --show writes the image (default: .)")
    p.add_argument("--lint", action="store_true", help="decode every member; exit 1 if any is bad")
    p.add_argument("--grid", metavar="FILE.png", help="draw a contact sheet of samples")
    p.add_argument("-n", type=int, default=16, help="samples in the --grid (default: 16)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=_cmd_inspect)


def _cmd_inspect(args) -> int:
    from vlforge.shards import inspect
    if args.show:
        shown, image_path = inspect.show(args.path, args.show, args.image_dir)
        print(shown)
        if image_path:
            print(f"--- image written to {image_path}")
        return 0
    if args.lint:
        checked, problems = inspect.lint(args.path)
        for problem in problems:
            print(problem)
        print(f"{checked} samples checked, {len(problems)} problems")
        return 1 if problems else 0
    if args.grid:
        drawn = inspect.grid(args.path, args.grid, n=args.n)
        print(f"{drawn} samples drawn to {args.grid}")
        return 0
    summary = inspect.summarize(args.path)
    print(json.dumps(summary, indent=1) if args.json else inspect.format_summary(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlforge", description=__doc__.splitlines()[0].strip("`"))
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_submit(sub)
    _add_inspect(sub)
    _add_report(sub)
    _add_options(sub)
    from vlforge.taxonomy.cli import add_taxonomy_parser
    add_taxonomy_parser(sub)
    from vlforge.trainer.cli import add_convert_parser, add_generate_parser, add_train_parser
    add_train_parser(sub)
    add_generate_parser(sub)
    add_convert_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_handler(args.handler, args)


if __name__ == "__main__":
    raise SystemExit(main())
