"""The documentation site builds with ``mkdocs build --strict`` (no broken link, no
missing reference). The suite builds it without running the notebooks; CI's own step
builds it running every tutorial notebook from top to bottom (a failing cell fails
the build)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.ipynb"))


def test_the_site_builds_strictly(tmp_path):
    """Links, references and the API pages, with the notebooks not run (fast): CI's
    own step (`.ci/run`) builds the site again running every notebook."""
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "RNNLAB_DOCS_EXECUTE": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    assert TUTORIALS, "no tutorial notebooks"
    for notebook in TUTORIALS:
        assert (site / "tutorials" / notebook.stem / "index.html").is_file()
    api = (site / "api" / "layers" / "index.html").read_text(encoding="utf-8")
    assert "rnnlab.nn.recurrent.LSTM" in api and "backward" in api


def test_ci_builds_the_site_running_every_notebook():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "mkdocs build --strict" in ci and "RNNLAB_DOCS_EXECUTE" not in ci


def test_the_tutorials_are_stored_without_outputs():
    """Outputs come from the build (so they are always those of the current code)."""
    for notebook in TUTORIALS:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), notebook
