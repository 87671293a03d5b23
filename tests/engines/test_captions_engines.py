"""The captions job, VQ stage included (CPU), writes the same files on local, Ray and Beam,
near-duplicates across tasks (the job-level pass) included."""

import importlib.util
from pathlib import Path

import pytest
from job_files import job_files

from vlforge.engines.runner import run_job
from vlforge.vq import save_tiny_vq

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def caption_job(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("make_captions", REPO / "examples" / "make_captions.py")
    make_captions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_captions)
    root = tmp_path_factory.mktemp("caption-engines")
    pairs = make_captions.scenes(3, 11)
    (root / "in").mkdir()
    for i, (image, caption) in enumerate(pairs):
        image.save(root / "in" / f"s{i}.png")
        (root / "in" / f"s{i}.txt").write_text(caption)
    pairs[0][0].resize((300, 257)).save(root / "in" / "s3.jpg", quality=70)  # another task's near copy
    (root / "in" / "s3.txt").write_text(pairs[0][1])
    vq = save_tiny_vq(root / "vq", seed=1)
    options = ("tasks.max_files=4", f"vq.model={vq}", "vq.batch_size=2")  # s0,s1 | s2,s3 (image+txt)
    reference = root / "local"
    stats = run_job("captions", [str(root / "in")], str(reference), "local", 2, quiet=True, assignments=options)
    assert stats["accepted"] == 3 and stats["rejected_by_reason"] == {"near_duplicate_image": 1}
    return root, options, job_files(reference)


@pytest.mark.parametrize("engine", ["local", "ray", "beam"])
def test_captions_job_writes_identical_files_on_every_engine(engine, caption_job, tmp_path):
    root, options, files = caption_job
    run_job("captions", [str(root / "in")], str(tmp_path), engine, 2, quiet=True, assignments=options)
    assert job_files(tmp_path) == files
    assert sum(name.endswith(".tar") for name in files) == 2 and "_tasks/_dedup.json" in files
