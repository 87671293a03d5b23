"""The renderers' data files (measuring script, page templates) load from the package and
ship in the wheel: a file missing from pyproject's package-data would work from a checkout
and fail once installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from vlforge.renderers.paginate import builtin_templates, measure_script

REPO = Path(__file__).resolve().parents[2]
RENDERERS = REPO / "src" / "vlforge" / "renderers"


def test_measuring_script_loads_from_the_package():
    script = measure_script()
    assert script.startswith("async (cfg) => {") and script.rstrip().endswith("}")
    assert "getClientRects" in script and "parsererror" in script
    assert set(builtin_templates()) == {"serif", "sans", "two-column"}


def test_renderer_data_files_are_in_the_wheel(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(project)], check=True, capture_output=True)
    wheel, = (tmp_path / "dist").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data = [path for path in RENDERERS.rglob("*")
            if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts]
    assert data and any(path.name == "measure.js" for path in data)
    for path in data:
        assert path.relative_to(REPO / "src").as_posix() in shipped, f"{path.name} is not packaged"
