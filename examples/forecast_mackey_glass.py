"""Forecast the chaotic Mackey-Glass series (τ = 17) with an LSTM, next to persistence.

    python examples/forecast_mackey_glass.py            # LSTM-32, 2,000 steps: ~1 min
    python examples/forecast_mackey_glass.py --cell gru
    python examples/forecast_mackey_glass.py --quick    # a few seconds (what the tests run)

The building blocks, in order: a series, training statistics, windows, a model that
carries its normalisation, the Trainer, then one-step and closed-loop forecasts.
"""

from __future__ import annotations

import argparse

from rnnlab.data.datasets import ArrayBatcher
from rnnlab.data.series import mackey_glass
from rnnlab.models.forecast import (
    closed_loop_origins,
    make_forecaster,
    make_windows,
    normalise,
    nrmse,
    one_step,
    persistence,
)
from rnnlab.train import TrainConfig, Trainer


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm", help="lstm, gru or rnn_tanh")
    parser.add_argument("--quick", action="store_true", help="a tiny run, for the tests")
    args = parser.parse_args(argv)
    n_train, n_test, window, steps, hidden = 4000, 1000, 50, 2000, 32
    if args.quick:
        n_train, n_test, window, steps, hidden = 400, 100, 20, 30, 8

    values = mackey_glass(n_train + n_test, seed=0).values  # (N,)
    train = values[:n_train]

    # μ and σ of the training part only travel with the model: y = V h_T + c, in z-units
    model = make_forecaster(train, window, cell=args.cell, hidden_size=hidden, seed=0)
    z = normalise(train, model.config.normalisation)
    inputs, targets = make_windows(z, window)  # (N − w, w, 1) → (N − w, 1)
    batches = ArrayBatcher(inputs.astype("float32"), targets.astype("float32"), 64, seed=0)
    config = TrainConfig(steps=steps, batch_size=64, lr=3e-3, clip=1.0, sample_every=0)
    Trainer(model, batches, None, config).fit()

    truth = values[n_train:]
    results = {
        "one_step": nrmse(one_step(model, values, n_train), truth),
        "persistence": nrmse(persistence(values, n_train), truth),
    }
    horizon = 84 if not args.quick else 10
    forecasts, later = closed_loop_origins(model, values, n_train, horizon)
    results["closed_loop_final"] = nrmse(forecasts[:, -1], later[:, -1])
    print(f"Mackey-Glass, {args.cell.upper()}-{hidden}, {steps} steps, windows of {window}")
    print(f"  one-step test NRMSE  {results['one_step']:.4f}")
    print(f"  persistence          {results['persistence']:.4f}")
    print(f"  closed loop, NRMSE at step {horizon}: {results['closed_loop_final']:.4f}")
    return results


if __name__ == "__main__":
    main()
