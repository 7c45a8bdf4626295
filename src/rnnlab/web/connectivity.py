"""Connectivity (Madsen 2019, "Visualizing memorization in RNNs", Distill): how strongly
each input x_s drives the output at step t, ‖∂y_t/∂x_s‖ for s = 1 … t.

    text     y_t = log p(x_{t+1} | x_1 … x_t)   the log-probability the model gives to the
                                                character that really comes next
    numeric  y_t = V h_t + c                    the model's output at t

x_s is what the recurrent stack reads at step s: the one-hot vector (or embedding) of a
character, or a numeric task's input vector. y_t is a scalar, so one backward pass of
the project's own BPTT (``Linear.backward`` then ``RecurrentLayer.backward`` with the
input's gradient on) gives ∂y_t/∂x_s for every s at once. The logits' Jacobian would
need one backward pass per character of the vocabulary; the log-probability of the
character to predict is the term of the training loss at t, so connectivity says which
inputs the learning signal at t reaches.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from rnnlab.models.language import LanguageModel, recurrent_from_config
from rnnlab.models.sequence import SequenceModel
from rnnlab.nn.linear import Linear
from rnnlab.nn.module import Module, make_rng
from rnnlab.ops import softmax
from rnnlab.web.entry import LabError
from rnnlab.web.views import Prepared, significant

REACH_FRACTION = 0.01  #: an input "reaches" the output while ‖∂y_t/∂x_s‖ ≥ 1 % of the row's maximum


def output_steps(prepared: Prepared) -> int:
    """How many outputs there are: T − 1 for a text (the last character predicts nothing
    that is known), T for a numeric sequence."""
    T = len(prepared.labels)
    return T - 1 if prepared.kind == "text" else T


def connectivity(model: Module, prepared: Prepared, t: int) -> tuple[np.ndarray, float]:
    """(‖∂y_t/∂x_s‖ for s = 0 … t, shape (t + 1,); y_t) for one model, by one backward pass.

    x_s: a text's characters through the model's own embedding (one-hot in the lab), else
    prepared.x (T, 1, F); only x_0 … x_t are run (later inputs cannot reach y_t), unless
    the stack reads both ways: then all T, and the norms are (T,). The model is a private
    copy: its gradients are accumulated into and left so.
    """
    read = len(prepared.labels) if model.rnn.num_directions == 2 else t + 1
    if prepared.kind == "text":
        x = model.embedding(prepared.ids[:read, None])  # (read, 1, F)
    else:
        x = np.ascontiguousarray(prepared.x[:read])
    hidden, _ = model.rnn(x)  # (read, 1, R), or (read, 1, 2R) [h→_t; h←_t] both ways
    outputs = model.head(hidden)  # (read, 1, V) logits, or (read, 1, 1)
    d_outputs = np.zeros_like(outputs)
    if prepared.kind == "text":
        target = int(prepared.ids[t + 1])
        p = softmax(outputs[t, 0].astype(np.float64))
        y = float(np.log(p[target]))
        d_outputs[t, 0] = -p  # ∂ log p_target / ∂ logits = onehot(target) − p
        d_outputs[t, 0, target] += 1.0
    else:
        y = float(outputs[t, 0, 0])
        d_outputs[t, 0, 0] = 1.0  # ∂y_t/∂y_t
    d_hidden = model.head.backward(d_outputs)
    d_x, _ = model.rnn.backward(d_hidden, input_grad=True)  # (t + 1, 1, F)
    return np.linalg.norm(d_x[:, 0, :].astype(np.float64), axis=-1), y


class BothWays(Module):
    """A text model's twin that reads in both directions: the same embedding, a
    bidirectional stack of the same cell, size and layers, and an output layer over
    [h→_t; h←_t]. Only for the connectivity view: at step t it has read the character it
    is asked to predict, which is why a language model is never bidirectional."""

    def __init__(self, model: LanguageModel, seed: int) -> None:
        super().__init__()
        rng = make_rng(seed)
        self.config = config = model.config  #: the one-way model's (vocabulary, sizes)
        self.embedding = model.embedding
        width = model.rnn.input_size
        self.rnn = recurrent_from_config(config, width, model.dtype, rng, bidirectional=True)
        self.head = Linear(2 * self.rnn.state_size, config.vocab_size, dtype=model.dtype, seed=rng)
        self.eval()


def both_ways(model: Module, seed: int) -> Module:
    """A fresh (untrained, seeded) twin of ``model`` that reads its sequence both ways."""
    if isinstance(model, LanguageModel):
        return BothWays(model, seed)
    if isinstance(model, SequenceModel):
        return SequenceModel(replace(model.config, bidirectional=True), seed=seed).eval()
    raise LabError(f"no bidirectional twin for a {type(model).__name__}")


def reach(norms: np.ndarray, fraction: float = REACH_FRACTION) -> int | None:
    """How far back the output at t = len(norms) − 1 is driven: the largest distance t − s
    with norms[s] ≥ fraction · max(norms); None when every norm is 0."""
    norms = np.asarray(norms, dtype=np.float64)
    top = norms.max(initial=0.0)
    if not top > 0:
        return None
    first = int(np.flatnonzero(norms >= fraction * top)[0])
    return len(norms) - 1 - first


def connectivity_view(
    models: dict[str, tuple[Module, int]], prepared: Prepared, t: int
) -> dict[str, Any]:
    """‖∂y_t/∂x_s‖ for every model (name → (private copy, steps trained)) and s ≤ t, or
    every s for a model that reads both ways (its ``directions`` is 2)."""
    steps = output_steps(prepared)
    if not 0 <= t < steps:
        last = "the last character has no next one to predict; " if prepared.kind == "text" else ""
        raise LabError(f"t must be in 0 … {steps - 1} for this sequence ({last}got {t})")
    series = []
    for name, (model, trained) in models.items():
        norms, y = connectivity(model, prepared, t)
        series.append(
            {
                "name": name,
                "cell": model.rnn.mode,
                "directions": model.rnn.num_directions,
                "trained_steps": trained,
                "norms": significant(norms),
                "y": round(y, 6),
                "reach": reach(norms[: t + 1]),
            }
        )
    view: dict[str, Any] = {
        "kind": prepared.kind,
        "labels": prepared.labels,
        "t": t,
        "steps": steps,
        "y": "log p" if prepared.kind == "text" else "output",
        "reach_fraction": REACH_FRACTION,
        "series": series,
    }
    if prepared.kind == "text":
        view["target"] = prepared.labels[t + 1]
    else:
        view["target"] = round(float(prepared.targets[t]), 4)
    return view
