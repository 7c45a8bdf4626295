"""Backpropagation through time written out for the plain RNN (the BPTT panel).

The material's network is h_t = tanh(U x_t + W h_{t−1} + b), y_t = softmax(V h_t + c),
trained on L = (1/T) Σ_t L_t, L_t = −log y_t[next character]. Its gradient with respect
to the recurrent matrix is a sum over the steps, collected while walking back from T to 1:

    δ_t = ∂L/∂h_t ⊙ (1 − h_t²)          (through tanh; ∂L/∂h_t holds every later loss)
    ∂L/∂W = Σ_t δ_t h_{t−1}ᵀ

and one step of gradient descent, W := W − η ∂L/∂W (every parameter alike, the whole
gradient scaled to norm τ first when clipping at τ), lowers L for a small enough η.
``bptt_view`` computes each of these numbers with the library's own backward pass, for
the page to reveal step by step; the sum of the per-step terms is the gradient that
``model.backward`` accumulated (the tests check that they agree).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.models.language import LanguageModel
from rnnlab.nn.losses import cross_entropy
from rnnlab.optim.clipping import clip_factor, global_norm
from rnnlab.probe import layer_records
from rnnlab.web.entry import LabError
from rnnlab.web.views import DIGITS, Prepared, rounded, significant

BLOCK = 4  #: rows and columns of W shown before and after the update


def number(value: float) -> float | None:
    """A float rounded for the page, or None when it is not finite (JSON has no inf)."""
    return round(float(value), DIGITS) if np.isfinite(value) else None


def step_losses(model: LanguageModel, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L_t (T−1,), logits (T−1, 1, V)) of predicting ids[1:] from ids[:-1]; ids (T,)."""
    logits, _ = model(ids[:-1, None])
    shifted = logits[:, 0, :] - logits[:, 0, :].max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(ids) - 1), ids[1:]], logits


def recurrent_terms(
    hidden: np.ndarray, d_hidden: np.ndarray, mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """∂L/∂W collected walking back from t = T to 1, as BPTT does, in O(H²) memory.

    hidden, d_hidden: (T, H) h_1 … h_T and ∂L/∂h_t; h_0 = 0; ``mode`` rnn_tanh or rnn_relu.
    → (δ (T, H); ‖δ_t h_{t−1}ᵀ‖ (T,), the norm of each step's term, = ‖δ_t‖ ‖h_{t−1}‖;
    ‖Σ_{s ≥ t} δ_s h_{s−1}ᵀ‖ (T,), the norm of the sum collected from the end back to t;
    the whole sum ∂L/∂W (H, H)).
    """
    slope = 1.0 - hidden**2 if mode == "rnn_tanh" else (hidden > 0).astype(hidden.dtype)
    delta = d_hidden * slope
    previous = np.vstack([np.zeros((1, hidden.shape[1]), hidden.dtype), hidden[:-1]])
    term_norms = np.linalg.norm(delta, axis=1) * np.linalg.norm(previous, axis=1)
    collected = np.zeros((hidden.shape[1], hidden.shape[1]), hidden.dtype)
    collected_norms = np.empty(len(hidden))
    for t in range(len(hidden) - 1, -1, -1):
        collected += np.outer(delta[t], previous[t])
        collected_norms[t] = np.linalg.norm(collected)
    return delta, term_norms, collected_norms, collected


def bptt_view(
    model: LanguageModel,
    trained_steps: int,
    prepared: Prepared,
    lr: float,
    clip: float | None,
    layer: int = 0,
) -> dict[str, Any]:
    """Forward, backward and one update of the plain RNN ``model`` (a private copy) on
    the text ``prepared``, with ∂L/∂W of layer ``layer`` built step by step.

    Per step t (T − 1 of them: the last character is only predicted): the loss L_t,
    ‖∂L/∂h_t‖, ‖δ_t h_{t−1}ᵀ‖ and the norm of the sum collected walking back from the
    end to t. Then the update with learning rate ``lr`` (clipped at ``clip``): a
    BLOCK × BLOCK corner of W before, its gradient, after, and L before and after.
    """
    if not model.rnn.mode.startswith("rnn_"):
        raise LabError(f"the BPTT view writes out the plain RNN, not {model.rnn.mode!r}")
    if prepared.kind != "text" or prepared.ids is None or len(prepared.ids) < 2:
        raise LabError("the BPTT view reads a text of at least 2 characters")
    if layer >= model.rnn.num_layers:
        raise LabError(f"layer must be below {model.rnn.num_layers}, got {layer}")
    ids = prepared.ids
    for grad in model.grads.values():
        grad[...] = 0
    rnn = model.rnn
    rnn.retain_tapes = True
    try:
        logits, _ = model(ids[:-1, None])
        loss, d_logits = cross_entropy(logits, ids[1:, None])
        model.backward(d_logits)
        rec = layer_records(rnn)[layer]
    finally:
        rnn.retain_tapes = False
    hidden = np.asarray(rec.hidden[:, 0, :], np.float64)
    d_hidden = np.asarray(rec.d_hidden[:, 0, :], np.float64)
    gradient = {key: np.array(value) for key, value in model.grads.items()}
    norm = global_norm(gradient)
    if not (np.isfinite(loss) and np.isfinite(norm) and np.isfinite(hidden).all()):
        raise LabError(
            "the plain RNN's states or gradient overflow on this text (a ReLU RNN can grow "
            "without bound); choose a shorter text or the RNN (tanh)"
        )
    delta, term_norms, collected_norms, _ = recurrent_terms(hidden, d_hidden, rnn.mode)
    losses, _ = step_losses(model, ids)

    name = f"rnn.weight_hh_l{layer}"
    scale = 1.0 if clip is None else clip_factor(norm, clip)
    before = model.params[name][:BLOCK, :BLOCK].copy()
    for key, value in model.params.items():
        value -= (lr * scale * gradient[key]).astype(value.dtype)
    losses_after, _ = step_losses(model, ids)
    k = min(BLOCK, rnn.hidden_size)
    return {
        "labels": prepared.labels,
        "steps": len(ids) - 1,
        "cell": rnn.mode,
        "layer": layer,
        "trained_steps": trained_steps,
        "hidden_size": rnn.hidden_size,
        "losses": rounded(losses),
        "loss": number(loss),
        "d_hidden": significant(np.linalg.norm(d_hidden, axis=1)),
        "delta": significant(np.linalg.norm(delta, axis=1)),
        "terms": significant(term_norms),
        "collected": significant(collected_norms),
        "update": {
            "lr": lr,
            "clip": clip,
            "norm": significant([norm])[0],
            "scale": significant([scale])[0],
            "W_before": [significant(row, 7) for row in before[:k, :k]],
            "dW": [significant(row) for row in gradient[name][:k, :k]],
            "W_after": [significant(row, 7) for row in model.params[name][:k, :k]],
            "size": k,
            "loss_before": number(losses.mean()),
            "loss_after": number(losses_after.mean()),
        },
    }
