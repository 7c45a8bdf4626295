"""Initialisations of recurrent weights, one gate block at a time.

PyTorch's default, uniform(−1/√H, 1/√H) for every weight and bias, is what every layer
starts from. The options below replace parts of it:

- ``orthogonal`` recurrent weights: each H×H gate block of W_hh is a random orthogonal
  matrix, so that at initialisation h ↦ W_hh h neither shrinks nor grows a vector
  (Saxe et al. 2014) — the cure for vanishing and exploding gradients at the start.
- ``xavier`` input weights: each gate block of W_ih uniform(±√(6 / (I + H)))
  (Glorot and Bengio 2010).
- LSTM forget-gate bias: b_if = forget_bias and b_hf = 0, so that the forget gate starts
  mostly open (σ(1) ≈ 0.73) and the cell remembers by default (Gers et al. 2000;
  Jozefowicz et al. 2015 recommend 1.0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.errors import ConfigError

RECURRENT_INITS = ("uniform", "orthogonal")
INPUT_INITS = ("uniform", "xavier")


def uniform(shape: tuple[int, ...], hidden_size: int, rng: np.random.Generator) -> np.ndarray:
    """PyTorch's recurrent default: uniform(−1/√H, 1/√H)."""
    bound = 1.0 / np.sqrt(hidden_size)
    return rng.uniform(-bound, bound, shape)


def own_parameters(cell: Any, hidden_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A cell's own parameters (``rnnlab.cells.Cell.parameters``) at their start: each
    (width · H,), the constant or the uniform range the cell gives (``parameter_init``),
    or ``uniform``."""
    values = {}
    for name in cell.parameters:
        shape = (cell.parameter_width(name) * hidden_size,)
        start = cell.parameter_init.get(name)
        if isinstance(start, tuple):
            values[name] = rng.uniform(*start, shape)
        elif start is not None:
            values[name] = np.full(shape, start)
        else:
            values[name] = uniform(shape, hidden_size, rng)
    return values


def orthogonal(size: int, rng: np.random.Generator, columns: int | None = None) -> np.ndarray:
    """A random (size, size) orthogonal matrix, uniform over the orthogonal group, or
    its first ``columns`` columns (orthonormal; columns ≤ size).

    QR of a Gaussian matrix, with the signs of R's diagonal moved into Q
    (Mezzadri 2007) so the distribution is not biased.
    """
    q, r = np.linalg.qr(rng.standard_normal((size, size if columns is None else columns)))
    return q * np.sign(np.diag(r))


def xavier(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Glorot uniform: uniform(±√(6 / (rows + cols))), shape (rows, cols)."""
    bound = np.sqrt(6.0 / (rows + cols))
    return rng.uniform(-bound, bound, (rows, cols))


def check_init_names(recurrent_init: str, input_init: str) -> None:
    """Raise ConfigError for an unknown initialisation name."""
    if recurrent_init not in RECURRENT_INITS:
        raise ConfigError(
            f"recurrent_init must be one of {RECURRENT_INITS}, got {recurrent_init!r}"
        )
    if input_init not in INPUT_INITS:
        raise ConfigError(f"input_init must be one of {INPUT_INITS}, got {input_init!r}")


def initial_weights(
    gates: int,
    input_size: int,
    hidden_size: int,
    rng: np.random.Generator,
    recurrent_init: str = "uniform",
    input_init: str = "uniform",
    state_size: int | None = None,
) -> dict[str, np.ndarray]:
    """W_ih (G·H, I), W_hh (G·H, R), b_ih, b_hh (G·H,) in float64, by the named scheme;
    R = ``state_size``, H where it is None. With R < H (an LSTM's projection) also the
    projection W_hr (R, H), uniform as the rest, and each orthogonal block of W_hh has
    orthonormal columns."""
    H = hidden_size
    R = H if state_size is None else state_size
    params = {
        "W_ih": uniform((gates * H, input_size), H, rng),
        "W_hh": uniform((gates * H, R), H, rng),
        "b_ih": uniform((gates * H,), H, rng),
        "b_hh": uniform((gates * H,), H, rng),
    }
    if R != H:
        params["W_hr"] = uniform((R, H), H, rng)
    if input_init == "xavier":
        params["W_ih"] = np.concatenate([xavier(H, input_size, rng) for _ in range(gates)])
    if recurrent_init == "orthogonal":
        params["W_hh"] = np.concatenate([orthogonal(H, rng, R) for _ in range(gates)])
    return params
