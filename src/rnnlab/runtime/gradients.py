"""The weight gradients of a step loop as GEMMs over all its steps, after the loop.

The backward loop leaves ∂L/∂a_t, the gradient of the gate pre-activations, for every
step; W_ih's gradient is Σ_t ∂L/∂a_t x_tᵀ and W_hh's Σ_t ∂L/∂a_t h_{t−1}ᵀ, each one large
GEMM (split over the team, ``rnnlab.runtime.team.matmul``). A cell whose last blocks
reach W_hh h_{t−1} through something else (the GRU's n: r ⊙ (W_hn h_{t−1} + b_hn)) gives
those blocks' recurrent gradient apart, as ``d_own``. ``rnnlab.runtime.pipeline`` computes
the same sums beside the loop instead.
"""

from __future__ import annotations

import numpy as np

from rnnlab.runtime.team import matmul


def weight_gradients(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    hidden: np.ndarray,
    d_pre: np.ndarray,
    d_own: np.ndarray | None = None,
    *,
    input_grad: bool = True,
    parts: int = 1,
    bias_grad: np.ndarray,
    own_bias_grad: np.ndarray | None = None,
    into: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The weight gradients as GEMMs over all steps after the loop, and ∂L/∂x.

    d_pre: (T, B, G·H) gradient of the pre-activations, which is the gradient of both
    projections W_ih x_t + b_ih and W_hh h_{t−1} + b_hh — except for a cell's last
    blocks whose recurrent part has its own gradient d_own (T, B, W), W > 0 (the GRU's
    n gate: r ⊙ ∂L/∂a_n)
    → (grads, dx (T, B, I), or None without ``input_grad``: a first layer fed one-hot
    vectors has no use for it, and skipping it saves a GEMM and a (T, B, I) array).
    The GEMMs run over ``parts`` threads (``rnnlab.runtime.team.matmul``).
    ``bias_grad`` (G·H,) = Σ_t,b ∂L/∂a and ``own_bias_grad`` (W,) = Σ_t,b d_own, as the
    backward loop summed them. ``into``: the caller's gradient arrays
    (see ``gradient_targets``), which the GEMMs add to in place.
    """
    T, B, I = x.shape
    H = hidden.shape[-1]
    flat = d_pre.reshape(T * B, -1)
    G = flat.shape[1]
    dtype = flat.dtype
    h_prev = hidden[:-1].reshape(T * B, H)
    x_flat = np.ascontiguousarray(x.reshape(T * B, I), dtype=dtype)
    W_hh_rows = params["W_hh"].shape[0]  # G, or 0 for a cell without W_hh (IndRNN)
    W_ih_grad, W_hh_grad, add = gradient_targets(into, (G, I), (W_hh_rows, H), dtype)
    matmul(flat.T, x_flat, W_ih_grad, parts, add)
    own = 0 if d_own is None else d_own.shape[2]
    if W_hh_rows == 0:
        pass
    elif own == 0:
        matmul(flat.T, h_prev, W_hh_grad, parts, add)
    else:  # the first blocks from d_pre, the last from d_own, each in place
        # (stacking the two products would hold them twice at once)
        matmul(flat[:, : G - own].T, h_prev, W_hh_grad[: G - own], parts, add)
        matmul(d_own.reshape(T * B, own).T, h_prev, W_hh_grad[G - own :], parts, add)
    grads = gradient_dict(W_ih_grad, W_hh_grad, bias_grad, own_bias_grad, into)
    dx = None
    if input_grad:
        dx = matmul(flat, np.ascontiguousarray(params["W_ih"]), np.empty((T * B, I), dtype), parts)
        dx = dx.reshape(T, B, I)
    return grads, dx


def gradient_targets(
    into: dict[str, np.ndarray] | None,
    W_ih_shape: tuple[int, int],
    W_hh_shape: tuple[int, int],
    dtype: np.dtype,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(W_ih's gradient, W_hh's gradient, whether the GEMMs add to them): the caller's
    arrays ``into["W_ih"]``, ``into["W_hh"]`` (a layer's ``grads``, C-contiguous, of the
    cell's shape and dtype), which then need no temporary and no pass to add them, or
    new arrays when ``into`` is None. A W_hh of no rows (a cell without one) gets an
    empty gradient of its own."""
    if into is None:
        return np.empty(W_ih_shape, dtype), np.empty(W_hh_shape, dtype), False
    if W_hh_shape[0] == 0 and "W_hh" not in into:
        into = {**into, "W_hh": np.empty(W_hh_shape, dtype)}
    for key, shape in (("W_ih", W_ih_shape), ("W_hh", W_hh_shape)):
        target = into.get(key)
        if target is None or target.shape != shape or target.dtype != dtype:
            found = "nothing" if target is None else f"{target.dtype} {target.shape}"
            raise ValueError(f"into[{key!r}]: expected {np.dtype(dtype)} {shape}, got {found}")
        if not target.flags.c_contiguous:
            raise ValueError(f"into[{key!r}] must be C-contiguous")
    return into["W_ih"], into["W_hh"], True


def gradient_dict(
    W_ih_grad: np.ndarray,
    W_hh_grad: np.ndarray,
    bias_grad: np.ndarray,
    own_bias_grad: np.ndarray | None = None,
    into: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """A cell's gradients by name. bias_grad = Σ_t,b ∂L/∂a is the gradient of both biases,
    except for the last entries of b_hh where the cell has its own (own_bias_grad). The bias
    gradients are added to ``into``'s where it has them (a layer without biases has not)."""
    b_ih_grad = bias_grad.astype(W_ih_grad.dtype)
    b_hh_grad = b_ih_grad.copy()
    if own_bias_grad is not None and own_bias_grad.size:
        b_hh_grad[-own_bias_grad.size :] = own_bias_grad
    grads = {"W_ih": W_ih_grad, "W_hh": W_hh_grad, "b_ih": b_ih_grad, "b_hh": b_hh_grad}
    for key in ("b_ih", "b_hh"):
        if into is not None and key in into:
            into[key] += grads[key]
            grads[key] = into[key]
    return grads
