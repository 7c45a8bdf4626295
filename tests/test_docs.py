"""The documentation site builds with ``mkdocs build --strict`` (no broken link, no
missing reference), executing every tutorial notebook from top to bottom."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.ipynb"))


def test_the_site_builds_strictly_and_runs_every_tutorial(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    assert TUTORIALS, "no tutorial notebooks"
    for notebook in TUTORIALS:
        page = (site / "tutorials" / notebook.stem / "index.html").read_text(encoding="utf-8")
        assert "Traceback" not in page and "Error" not in page.split("<article")[-1][:200]
        assert 'class="jp-OutputArea' in page or "jp-OutputArea" in page  # executed outputs
    api = (site / "api" / "layers" / "index.html").read_text(encoding="utf-8")
    assert "rnnlab.nn.recurrent.LSTM" in api and "backward" in api


def test_the_tutorials_are_stored_without_outputs():
    """Outputs come from the build (so they are always those of the current code)."""
    for notebook in TUTORIALS:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), notebook
