"""Every file a job wrote, in the form that must be equal whichever engine ran the job."""

import json
from pathlib import Path

# stats.json fields that say how long a run took, where it wrote or what ran it, not what it wrote
RUN_FIELDS = ("elapsed_s", "items_per_s", "output", "shards_dir", "rejects_file", "engine", "workers")


def job_files(output: Path) -> dict[str, bytes | dict]:
    """Relative path -> the file's bytes; stats.json and the task markers less their run
    fields. report.html is left out: it shows the engine by name, and is drawn from what
    is compared here (its own rerun test masks its timings: tests/shards/test_demo_outputs)."""
    files = {}
    for path in sorted(p for p in output.rglob("*") if p.is_file()):
        relative = path.relative_to(output)
        if relative == Path("report.html"):
            continue
        if relative == Path("stats.json") or (relative.parts[0] == "_tasks" and path.suffix == ".json"):
            files[str(relative)] = {k: v for k, v in json.loads(path.read_text()).items() if k not in RUN_FIELDS}
        else:
            files[str(relative)] = path.read_bytes()
    return files
