"""The arrays around a layer call's loops: the input projection, the per-step records,
the output; in the layer's workspace (``rnnlab.runtime.workspace``) where they outlive it."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.runtime.team import matmul


def sequence_output(
    hidden: np.ndarray, lengths: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The layer's output h_1 … h_T from hidden (T + 1, B, H), and the padding mask.

    Without lengths the output is a read-only view of ``hidden``, which the tape also
    holds (no copy, one (T, B, H) array less): writing into it would corrupt the
    gradients, so numpy refuses. With lengths, padded steps are zeros in a new array.
    """
    T = hidden.shape[0] - 1
    if lengths is None:
        out = hidden[1:]
        out.flags.writeable = False
        return out, None
    mask = (np.arange(T)[:, None] < lengths[None, :])[..., None]
    return np.where(mask, hidden[1:], 0), mask


def step_buffer(
    workspace: Any, name: str, shape: tuple[int, ...], dtype: np.dtype, keep: bool
) -> np.ndarray:
    """A per-step record (T, B, n) when ``keep``, else one step's scratch (1, B, n).

    Gates are kept only for a backward pass, ∂L/∂h_t and ∂L/∂c_t only for probes
    (``layer.retain_tapes``). The two forms live under different names, so switching
    between training and evaluation reallocates (and faults in) nothing.
    """
    if keep:
        return workspace.array(name, shape, dtype)
    return workspace.array(f"step_{name}", (1, *shape[1:]), dtype)


def all_steps(lengths: np.ndarray | None, steps: int, batch: int) -> np.ndarray:
    """lengths (B,) as int64, or T for every sequence when there are none."""
    if lengths is None:
        return np.full(batch, steps, dtype=np.int64)
    return np.ascontiguousarray(lengths, dtype=np.int64)


def input_projection(
    params: dict[str, np.ndarray], x: np.ndarray, workspace: Any, parts: int = 1, bias: bool = True
) -> np.ndarray:
    """W_ih x_t + b_ih for every step at once: x (T, B, I) → (T, B, G·H), one GEMM
    (over ``parts`` threads, see ``rnnlab.runtime.team.matmul``); without ``bias``
    only W_ih x_t (a loop that adds b_ih to its gates itself saves a pass)."""
    T, B, I = x.shape
    W_ih = params["W_ih"]
    x_proj = workspace.array("x_proj", (T * B, W_ih.shape[0]), W_ih.dtype)
    inputs = np.ascontiguousarray(x.reshape(T * B, I), dtype=W_ih.dtype)
    matmul(inputs, np.ascontiguousarray(W_ih).T, x_proj, parts)
    if bias:
        x_proj += params["b_ih"]
    return x_proj.reshape(T, B, -1)


def reuse_input_projection(workspace: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The input projection's buffer as (T, B, G·H) scratch for the backward pass.

    The forward loop is its only reader, so the backward pass can write ∂L/∂a there
    and the step needs one (T, B, G·H) array less.
    """
    T, B, GH = shape
    return workspace.array("x_proj", (T * B, GH), dtype).reshape(T, B, GH)
