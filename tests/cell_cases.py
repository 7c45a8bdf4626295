"""What the tests of every registered cell need: random parameters and states of any cell.

The draws come in a fixed order, the four weights of every cell first (W_ih, W_hh,
b_ih, b_hh) and then the cell's own parameters, so a test gets the same numbers for a
cell whatever cells are registered.
"""

from __future__ import annotations

import numpy as np

import rnnlab
from rnnlab.cells import CELLS
from rnnlab.io import load_model
from rnnlab.runs import prepare_run


def random_params(
    mode: str,
    inputs: int,
    hidden: int,
    rng: np.random.Generator,
    scale: float = 0.5,
    bias_scale: float | None = None,
    dtype: type = np.float64,
) -> dict[str, np.ndarray]:
    """A parameter dict of cell ``mode``: normal weights × ``scale``, biases × ``bias_scale``
    (``scale`` if None), the cell's own parameters × ``scale`` about their start."""
    cell, H = CELLS[mode], hidden
    G = cell.blocks
    bias_scale = scale if bias_scale is None else bias_scale
    params = {
        "W_ih": rng.normal(size=(G * H, inputs)) * scale,
        "W_hh": rng.normal(size=(G * H, H)) * scale,  # drawn for every cell (the order)
        "b_ih": rng.normal(size=G * H) * bias_scale,
        "b_hh": rng.normal(size=G * H) * bias_scale,
    }
    if not cell.recurrent:  # IndRNN: no W_hh (the cells get an empty one)
        params["W_hh"] = params["W_hh"][:0]
    for name in cell.parameters:  # about their starting value (a gain about 1)
        size = cell.parameter_width(name) * H
        start = cell.parameter_init.get(name, 0.0)
        centre = sum(start) / 2 if isinstance(start, tuple) else start  # a range's middle
        params[name] = rng.normal(size=size) * scale + centre
    return {name: value.astype(dtype) for name, value in params.items()}


def random_state(mode: str, batch: int, hidden: int, draw) -> object:
    """A state of cell ``mode`` from ``draw()`` (a (B, H) array each call): h, or (h, c)."""
    return (draw(), draw()) if CELLS[mode].has_cell_state else draw()


def has_cell_state(mode: str) -> bool:
    return CELLS[mode].has_cell_state


def check_a_language_model_trains_saves_samples_and_loads(tmp_path, mode: str, **options) -> None:
    """A character model of registered cell ``mode`` (``rnnlab train``'s options) learns a
    repeated line in 60 steps, and its checkpoint loads, computes the same and samples."""
    text = "to be or not to be, that is the question. " * 40
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    run = prepare_run(data=str(tmp_path / "t.txt"), hidden=32, steps=60, minutes=None,
                      batch_size=8, seq_len=16, eval_every=30, sample_every=0,
                      out=tmp_path / "run", **options)  # fmt: skip
    model = run.trainer.model
    assert model.rnn.mode == mode and model.config.cell == mode
    result = run.trainer.fit()
    assert result.best_val_loss < 0.8 * np.log(len(model.vocab))  # it learnt something
    loaded = load_model(tmp_path / "run/last.safetensors")
    assert loaded.rnn.mode == mode
    ids = model.vocab.encode("to be or not")[:, None]
    np.testing.assert_array_equal(loaded(ids)[0], model(ids)[0])
    sampled = rnnlab.sample(loaded, 30, prime="to be", seed=0)
    assert len(sampled) == 30 and set(sampled) <= set(text)
