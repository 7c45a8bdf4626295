"""Forecasting: NRMSE and persistence, training-only normalisation, windows, closed loop,
series loaders, checkpoints in original units, bad inputs, and the `rnnlab forecast` command."""

from __future__ import annotations

import numpy as np
import pytest
from test_cli import run

from rnnlab.applications.forecasting import ForecastOptions, run_forecast
from rnnlab.data.series import Series, load_series, read_csv_column, sunspots
from rnnlab.errors import ConfigError, DataError
from rnnlab.io import load_model
from rnnlab.models.forecast import (
    closed_loop,
    closed_loop_origins,
    forecast_next,
    make_forecaster,
    make_windows,
    nrmse,
    one_step,
    persistence,
)


def sine(n: int = 400, period: float = 20.0, offset: float = 0.0) -> np.ndarray:
    return np.sin(2 * np.pi * np.arange(n) / period) + offset


def series(values: np.ndarray, name: str = "sine") -> Series:
    return Series(name, values, np.arange(len(values)), "test")


# ----------------------------------------------------------------------------- metrics


def test_nrmse_is_rmse_over_the_std_of_the_truth():
    truth = np.array([1.0, 3.0, 5.0, 7.0])  # std √5
    predicted = truth + np.array([1.0, -1.0, 1.0, -1.0])  # RMSE 1
    assert nrmse(predicted, truth) == pytest.approx(1 / np.sqrt(5))
    assert nrmse(truth, truth) == 0
    assert nrmse(np.full(4, truth.mean()), truth) == pytest.approx(1.0)
    with pytest.raises(DataError, match="constant"):
        nrmse(truth, np.ones(4))


def test_persistence_forecasts_each_value_by_the_one_before():
    values = np.array([2.0, 4.0, 7.0, 11.0])
    np.testing.assert_array_equal(persistence(values, 2), [4.0, 7.0])
    # sin(ωt) − sin(ω(t − 1)) = 2 sin(ω/2) cos(ωt − ω/2): RMSE 2 sin(ω/2)/√2, std 1/√2
    v = sine(4000, period=20.0)
    expected = 2 * np.sin(np.pi / 20)
    assert nrmse(persistence(v, 1), v[1:]) == pytest.approx(expected, rel=1e-2)
    with pytest.raises(ConfigError, match="start must be ≥ 1"):
        persistence(values, 0)


def test_windows_pair_each_window_with_the_value_after_it():
    z = np.arange(10.0)
    x, y = make_windows(z, 3, "last")
    assert x.shape == (7, 3, 1) and y.shape == (7, 1)
    np.testing.assert_array_equal(x[2, :, 0], [2, 3, 4])
    assert y[2, 0] == 5
    x, y = make_windows(z, 3, "all")
    assert y.shape == (7, 3, 1)
    np.testing.assert_array_equal(y[2, :, 0], [3, 4, 5])
    x, y = make_windows(z, 3, "last", start=8)  # only targets 8 and 9
    np.testing.assert_array_equal(y[:, 0], [8, 9])


# ----------------------------------------------------------------------------- the model


def test_normalisation_uses_the_training_part_only():
    values = np.concatenate([sine(300), 1000 + sine(100)])  # a test part far off
    model = make_forecaster(values[:300], window=10, hidden_size=4)
    norm = model.config.normalisation
    assert norm["mean"] == pytest.approx(values[:300].mean())
    assert norm["std"] == pytest.approx(values[:300].std())
    assert norm["window"] == 10
    outcome = run_forecast(
        ForecastOptions(
            train_points=300, test_points=100, window=10, hidden=4, steps=2, batch=8, horizon=5
        ),
        series=series(values),
    )
    assert outcome.model.config.normalisation["mean"] == pytest.approx(values[:300].mean())


def test_closed_loop_feeds_each_forecast_back_as_the_newest_input(rng):
    model = make_forecaster(sine(200), window=8, hidden_size=6, cell="gru", seed=3)
    contexts = sine(200)[None, 50:70] + rng.normal(0, 0.1, size=(2, 20))
    forecasts = closed_loop(model, contexts, 4)
    assert forecasts.shape == (2, 4)
    window = contexts[:, -8:]
    for k in range(4):  # step k sees only the context and the forecasts before it
        np.testing.assert_allclose(forecast_next(model, window), forecasts[:, k], rtol=1e-6)
        window = np.concatenate([window[:, 1:], forecasts[:, k : k + 1]], axis=1)
    # and not the truth: changing the values after the context changes nothing
    values = sine(200)
    a, truth = closed_loop_origins(model, values, 100, 5, every=50)
    values[105:] += 10
    b, _ = closed_loop_origins(model, values, 100, 5, every=50)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(truth[0], sine(200)[100:105])


def test_one_step_forecasts_come_from_the_true_values_before_each_target():
    values = sine(120)
    model = make_forecaster(values, window=10, hidden_size=4, readout="all", seed=1)
    predicted = one_step(model, values, 50, 53)
    expected = forecast_next(model, np.stack([values[40:50], values[41:51], values[42:52]]))
    np.testing.assert_allclose(predicted, expected)


def test_a_trained_forecaster_beats_persistence_and_predicts_in_original_units(tmp_path):
    values = 100 + 30 * sine(700, period=16.0)  # far from z-scores: the units must come back
    options = ForecastOptions(
        train_points=600,
        test_points=100,
        window=16,
        hidden=16,
        steps=250,
        batch=32,
        lr=1e-2,
        horizon=10,
        seed=0,
    )
    outcome = run_forecast(options, out=tmp_path, series=series(values))
    assert outcome.nrmse < outcome.persistence_nrmse / 3, (outcome.nrmse, outcome.persistence_nrmse)
    assert abs(outcome.predicted.mean() - 100) < 5
    loaded = load_model(tmp_path, kind="sequence")
    np.testing.assert_allclose(one_step(loaded, values, 600), outcome.predicted, rtol=1e-6)


# ----------------------------------------------------------------------------- series


def test_sunspots_ship_with_the_package():
    s = sunspots()
    assert len(s.values) == 309 and s.index[0] == 1700 and s.index[-1] == 2008
    assert s.values[0] == 5 and s.values[-1] == pytest.approx(2.9)


def test_generated_series_come_from_synthetic():
    mg = load_series("mackey-glass", length=600, seed=0)
    assert mg.values.shape == (600,) and 0.2 < mg.values.min() < mg.values.max() < 1.5
    assert nrmse(persistence(mg.values, 1), mg.values[1:]) == pytest.approx(0.145, abs=0.02)
    sines = load_series("sines", length=300, seed=1)
    assert sines.values.shape == (300,)


def test_a_csv_without_the_named_column_is_a_clear_error(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("# a comment\ndate,price\n1,2.5\n2,3.5\n")
    np.testing.assert_array_equal(read_csv_column(path, "price"), [2.5, 3.5])
    with pytest.raises(
        DataError, match=r"has no column 'volume'; its columns are: 'date', 'price'"
    ):
        read_csv_column(path, "volume")
    with pytest.raises(DataError, match="name the one to forecast"):
        read_csv_column(path)


def test_non_numeric_values_are_a_clear_error(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("price\n1.0\n2.0\nn/a\n")
    with pytest.raises(DataError, match=r"data row 3: 'n/a' is not a number"):
        read_csv_column(path, "price")
    path.write_text("price\n1.0\n\n,\n")
    with pytest.raises(DataError, match="an empty value is not a number"):
        read_csv_column(path, "price")


def test_a_series_shorter_than_one_window_is_a_clear_error():
    with pytest.raises(DataError, match="has 30 values, too short for one window of 50"):
        run_forecast(ForecastOptions(window=50), series=series(sine(30)))
    with pytest.raises(DataError, match="training part has 40 values"):
        run_forecast(
            ForecastOptions(window=50, train_points=40, test_points=20), series=series(sine(100))
        )


def test_training_and_test_points_must_fit_the_series():
    outcome_split = run_forecast(
        ForecastOptions(window=10, hidden=4, steps=1, batch=8, horizon=3),
        series=series(sine(100)),
    )
    assert outcome_split.train_points == 80 and len(outcome_split.truth) == 20  # 80 % / rest
    with pytest.raises(DataError, match="train_points 4000 leaves nothing to test"):
        run_forecast(ForecastOptions(train_points=4000), series=series(sine(309)))
    with pytest.raises(DataError, match="leave 20 to test, but test_points is 50"):
        run_forecast(
            ForecastOptions(window=10, train_points=80, test_points=50), series=series(sine(100))
        )


def test_unknown_series_names_the_choices():
    with pytest.raises(DataError, match="mackey-glass, sines, sunspots"):
        load_series("no-such-series")


# ----------------------------------------------------------------------------- command


def test_forecast_command_trains_reports_plots_and_continues(tmp_path, monkeypatch, capsys):
    csv = tmp_path / "series.csv"
    csv.write_text("t,level\n" + "".join(f"{t},{v:.5f}\n" for t, v in enumerate(sine(300))))
    out = tmp_path / "run"
    status, stdout, stderr = run(
        monkeypatch,
        capsys,
        "forecast",
        "train",
        "--series",
        str(csv),
        "--column",
        "level",
        "--train-points",
        "240",
        "--test-points",
        "60",
        "--window",
        "12",
        "--hidden",
        "8",
        "--steps",
        "20",
        "--batch",
        "16",
        "--horizon",
        "6",
        "--out",
        str(out),
    )
    assert status == 0, stderr
    assert "persistence" in stdout and "closed loop, step 6" in stdout
    assert (out / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    status, stdout, stderr = run(monkeypatch, capsys, "forecast", str(out), "--steps", "3")
    assert status == 0, stderr
    assert "+3" in stdout and "the 3 values after the last of 300" in stdout
    status, _, stderr = run(
        monkeypatch, capsys, "forecast", "train", "--series", str(csv), "--column", "price"
    )
    assert status == 2 and "no column 'price'" in stderr
