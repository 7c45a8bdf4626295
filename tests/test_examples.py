"""Every script in examples/ runs, in its --quick version, and reports sane numbers."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str):
    """The ``main`` function of examples/NAME.py (run as a module, not as __main__)."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="example")["main"]


def test_every_example_is_tested():
    tested = {
        "forecast_mackey_glass",
        "classify_digits",
        "classify_genre",
        "tag_punctuation",
        "complete_words",
    }
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_forecast_example(capsys):
    results = example("forecast_mackey_glass")(["--quick"])
    assert results["persistence"] == pytest.approx(0.15, abs=0.03)
    assert all(math.isfinite(v) for v in results.values())
    assert "one-step test NRMSE" in capsys.readouterr().out


def test_classify_digits_example(capsys):
    assert example("classify_digits")(["--quick", "--cell", "gru"]) > 0.2  # chance: 0.1
    assert "confusion matrix" in capsys.readouterr().out


def test_classify_genre_example(capsys):
    assert example("classify_genre")(["--quick"]) > 0.34  # chance: 1/3
    out = capsys.readouterr().out
    assert "majority class" in out and "King Lear" in out


def test_tag_punctuation_example(capsys):
    f1 = example("tag_punctuation")(["--quick"])
    assert f1["period"] > f1["baseline period"]  # sentence ends need the words around them
    out = capsys.readouterr().out
    assert "King Lear" in out and "restored:" in out


def test_complete_words_example(capsys):
    perplexity, unigram = example("complete_words")(["--quick"])
    assert 1 < perplexity < 1000 and unigram > 1  # below the uniform 1,000 words
    assert "To be, or not to" in capsys.readouterr().out
