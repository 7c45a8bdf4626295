"""Shared fixtures: a seeded generator, torch in double precision where asked, and a
small corpus and a run trained on it with the command line (``corpus``, ``trained``)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def corpus(tmp_path):
    """A small text file (``tests.test_cli.CORPUS``)."""
    from tests.test_cli import CORPUS

    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


@pytest.fixture
def trained(tmp_path, corpus, monkeypatch, capsys):
    """The directory of a 20-step run of ``rnnlab train`` on ``corpus`` (tiny model)."""
    from tests.test_cli import TINY, run

    out = tmp_path / "run"
    args = ["train", "--data", str(corpus), "--steps", "20", "--out", str(out), *TINY]
    status, stdout, _ = run(monkeypatch, capsys, *args)
    assert status == 0, stdout
    return out
