"""The benchmark harness runs both implementations in their own processes and reports ratios."""

from __future__ import annotations

import json

import pytest

from rnnlab.benchmark.runner import Grid, geometric_mean, markdown, run, train_flops


@pytest.mark.slow
def test_a_tiny_grid_reports_tokens_per_second_ratios_memory_and_startup(tmp_path):
    grid = Grid(
        cells=("gru",),
        hidden=(8,),
        batch=(2,),
        threads=(1,),
        steps=5,
        repeats=1,
        gap=0.0,
        sample_hidden=(8,),
        sample_chars=5,
    )
    report = run(grid, tmp_path, progress=lambda row: None)
    (row,) = report.results[1]
    assert row["rnnlab_train_tokens_per_s"] > 0 and row["torch_train_tokens_per_s"] > 0
    assert row["train_ratio"] == (
        row["rnnlab_train_tokens_per_s"] / row["torch_train_tokens_per_s"]
    )
    assert row["rnnlab_train_peak_mib"] >= 0 and row["torch_train_peak_mib"] >= 0
    assert report.sampling[0]["rnnlab_us_per_char"] > 0
    assert [r["threads"] for r in report.sampling] == [1]  # one row per thread count
    assert report.startup["warm_seconds"] > 0 and report.gemm_gflops[1] > 0
    saved = json.loads((tmp_path / "benchmark.json").read_text())
    assert saved["results"]["1"][0]["cell"] == "gru"
    assert "Geometric mean ratio" in (tmp_path / "benchmark.md").read_text()
    assert "| gru | 8 | 2 |" in markdown(report)
    assert "| 1 | 8 |" in markdown(report)  # the sampling row: threads, H


def test_flop_count_and_geometric_mean():
    # LSTM, H = I = 10, B = 2, T = 3: T · B · 4H · (4I + 6H), no ∂L/∂x
    assert train_flops("lstm", 10, 2, 3) == 3 * 2 * 4 * 10 * (4 * 10 + 6 * 10)
    assert train_flops("lstm", 10, 2, 3, bidirectional=True) == 2 * train_flops("lstm", 10, 2, 3)
    assert abs(geometric_mean([2.0, 8.0]) - 4.0) < 1e-12


def test_a_turn_is_one_untimed_step_then_back_to_back_steps_for_the_time_asked():
    from rnnlab.benchmark.worker import _seconds_per_step

    calls: list[int] = []
    seconds = _seconds_per_step(lambda: calls.append(1), at_least=0.0)
    assert len(calls) == 2 and seconds >= 0  # the untimed step, then one timed
    calls.clear()
    _seconds_per_step(lambda: calls.append(1), at_least=60.0, most_steps=5)
    assert len(calls) == 1 + 5  # a fast step stops at most_steps, not after a minute


@pytest.mark.parametrize("impl", ["rnnlab", "torch"])
def test_bidirectional_cases_train_both_directions(impl):
    from rnnlab.benchmark.worker import RnnlabCase, TorchCase

    factory = RnnlabCase if impl == "rnnlab" else TorchCase
    case = factory("gru", 6, 3, 5, threads=1, bidirectional=True)
    assert case.dy.shape == (5, 3, 12)  # both directions' outputs
    case.train()
    case.infer()
    if impl == "rnnlab":
        grads = case.layer.grads
        assert any(abs(grads[name]).sum() > 0 for name in grads if name.endswith("_reverse"))
    else:
        assert case.layer.weight_hh_l0_reverse.grad.abs().sum() > 0
