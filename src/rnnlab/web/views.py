"""What the panels show, computed from a model snapshot: plain dicts ready for JSON.

``prepare`` turns a requested sequence into the model's inputs; ``run_view`` runs the
model over it once with the probes on (hidden states, cell states, gates of every step,
the outputs, and the terms of the cell's equations for one unit, so the page can write
the equations with the numbers in them); ``gradient_view`` measures ‖∂L/∂h_t‖ for
every t in an RNN, an LSTM and a GRU, with the recurrent weights scaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.cells import CELLS
from rnnlab.models.language import LanguageModel
from rnnlab.models.seq2seq import Seq2Seq
from rnnlab.nn.module import Module
from rnnlab.ops import softmax
from rnnlab.probe import (
    language_model_gradient_norms,
    layer_records,
    record,
    step_norms,
)
from rnnlab.web.attention import pair_examples, pair_source
from rnnlab.web.entry import LabError
from rnnlab.web.pairs import PAIR_TASKS, expected
from rnnlab.web.schemas import SequenceSpec
from rnnlab.web.sequences import TASKS, TEXT_EXAMPLES, numeric_sequence

DIGITS = 4  #: decimals of the numbers sent to the page


@dataclass
class Prepared:
    """A sequence ready for a model: x (T, 1, F) layer inputs, labels, targets."""

    kind: str
    title: str
    labels: list[str]
    x: np.ndarray
    ids: np.ndarray | None = None  #: text: token ids (T,)
    targets: np.ndarray | None = None  #: numeric: the wanted output at every step (T,)
    values: np.ndarray | None = None  #: numeric: the raw inputs (T, F)


def rounded(array: Any, digits: int = DIGITS) -> Any:
    """Nested lists of floats rounded to ``digits`` decimals; non-finite → None."""
    array = np.asarray(array, dtype=np.float64)
    out = np.round(array, digits).astype(object)
    out[~np.isfinite(array)] = None
    return out.tolist()


def significant(array: Any, digits: int = 4) -> list:
    """Floats to ``digits`` significant digits (for values spanning many decades)."""
    return [float(f"{v:.{digits}g}") if np.isfinite(v) else None for v in np.ravel(array)]


EXCERPT = 60  #: characters of each excerpt of a typed training text


def text_examples(model: Module, own: str | None = None) -> list[dict[str, Any]]:
    """Example texts the model can read: the famous lines its vocabulary covers, and, for
    a model trained on a typed text ``own``, excerpts of it (indices 10, 11, 12)."""
    known = set(model.vocab.symbols)
    found = [
        {"index": i, "title": title, "text": text}
        for i, (title, text) in enumerate(TEXT_EXAMPLES)
        if set(text) <= known
    ]
    if own:
        places = ("start", "middle", "end")
        starts = (0, len(own) // 3, max(0, len(own) - EXCERPT))
        seen = set()
        for k, (place, start) in enumerate(zip(places, starts, strict=True)):
            piece = own[start : start + EXCERPT]
            if len(piece) >= 2 and piece not in seen:
                seen.add(piece)
                found.append({"index": 10 + k, "title": f"your text ({place})", "text": piece})
    return found


def check_known(model: Module, text: str, what: str = "the text") -> None:
    """LabError naming the characters of ``text`` that the model's vocabulary lacks."""
    known = set(model.vocab.symbols)
    unknown = sorted(set(text) - known)
    if unknown:
        shown = " ".join(repr(c) for c in unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise LabError(
            f"{what} has {len(unknown)} character(s) this model does not know: {shown}; "
            f"it knows only the {len(known)} characters of its training text"
        )


def examples(task: str, model: Module, own: str | None = None) -> dict[str, Any]:
    """The examples of a task for the page's picker (``own``: a typed training text)."""
    if task == "text":
        return {"task": task, "title": "Text", "examples": text_examples(model, own)}
    if task in PAIR_TASKS:
        return pair_examples(task)
    info = TASKS[task]
    return {
        "task": task,
        "title": info.title,
        "description": info.description,
        "features": list(info.features),
        "target": info.target,
        "examples": [{"index": i, "title": t} for i, t in enumerate(info.examples)],
    }


def prepare(model: Module, task: str, spec: SequenceSpec, own: str | None = None) -> Prepared:
    """The inputs of ``spec`` for a model of ``task`` (text needs a text model, etc.);
    ``own``: the model's typed training text, whose excerpts are examples too."""
    if spec.kind != task:
        raise LabError(
            f"this model is for {task!r} sequences, not {spec.kind!r}; "
            f"pick a {spec.kind!r} model (POST /api/models with task={spec.kind!r})"
        )
    if task == "text":
        if spec.text is not None:
            text, title = spec.text, "typed text"
        else:
            found = [e for e in text_examples(model, own) if e["index"] == spec.example]
            if not found:
                raise LabError(
                    f"text example {spec.example} does not exist or uses characters this "
                    "model does not know; type a text instead"
                )
            text, title = found[0]["text"], found[0]["title"]
        check_known(model, text)
        ids = model.vocab.encode(text)
        x = model.embedding(ids[:, None])
        return Prepared("text", title, list(text), x, ids=ids)
    if task in PAIR_TASKS:  # what the encoder reads
        text, title = pair_source(task, spec)
        ids = model.vocab.source.encode(text)
        return Prepared(task, title, list(text), model.source_embedding(ids[:, None]), ids=ids)
    sequence = numeric_sequence(task, spec.example, spec.length, spec.seed)
    x = sequence.x[:, None, :].astype(model.dtype)
    return Prepared(
        task, sequence.title, sequence.labels, x, targets=sequence.target, values=sequence.x
    )


def equation_terms(rnn: Module, layer: int, inputs: np.ndarray, rec: Any, unit: int) -> dict:
    """The pieces of unit ``unit``'s equations at every step of layer ``layer``.

    For each gate (or the single pre-activation ``a`` of an RNN): the input term
    (W_ih x_t)_j, the recurrent term (W_hh h_{t−1})_j (0 for a cell without W_hh: IndRNN's
    recurrence is its own weight u_j, sent with the others; (W_hn g_t)_j for the blocks
    that read the reset-before GRU's g_t = r ⊙ h_{t−1}) and both biases; with the gate
    values, h_{t−1}, h_t (for an LSTM with a projection the unit's own h̃_t, and no
    h_{t−1}: h_t = W_hr h̃_t is not one per unit), the cell's own weights of this unit
    (the peepholes) and, for an LSTM, c_{t−1} and c_t, the page writes out
    h_t = act(...) with numbers and the reader can check the arithmetic.
    inputs: (T, F) what the layer read; rec: its LayerRecord.
    """
    params = rnn.cell_params(layer, 0)
    H = rnn.hidden_size
    names = CELLS[rnn.mode].gates or ("a",)
    rows = np.arange(len(names)) * H + unit
    h = rec.hidden[:, 0, :]  # (T, R): R = P with a projection
    h_prev = np.vstack([np.zeros((1, h.shape[1]), h.dtype), h[:-1]])
    x_terms = inputs @ params["W_ih"][rows].T  # (T, G)
    h_terms = h_prev @ params["W_hh"][rows].T if len(params["W_hh"]) else 0 * x_terms
    gated = CELLS[rnn.mode].gated_blocks
    if gated:  # the last blocks multiplied g_t (the reset-before GRU's r ⊙ h_{t−1})
        h_terms[:, -gated:] = rec.kept["gated"][:, 0, :] @ params["W_hh"][rows[-gated:]].T
    pairs = list(zip(names, rows, strict=True))
    terms: dict[str, Any] = {
        "gates": list(names),
        "activations": CELLS[rnn.mode].activations,
        "x": {n: rounded(x_terms[:, g]) for g, n in enumerate(names)},
        "h": {n: rounded(h_terms[:, g]) for g, n in enumerate(names)},
        "b_ih": {n: round(float(params["b_ih"][r]), DIGITS) for n, r in pairs},
        "b_hh": {n: round(float(params["b_hh"][r]), DIGITS) for n, r in pairs},
        "value": {n: rounded(rec.gates[n][:, 0, unit]) for n in rec.gates},
    }
    if "projected" in rec.kept:  # the unit's own output is h̃_t; h_t = W_hr h̃_t mixes them
        terms["h_t"] = rounded(rec.kept["projected"][:, 0, unit])
    else:
        terms["h_prev"], terms["h_t"] = rounded(h_prev[:, unit]), rounded(h[:, unit])
    cell = CELLS[rnn.mode]  # the cell's own weights of this unit, a value per block
    terms["own"] = {
        name: [round(float(params[name][k * H + unit]), DIGITS) for k in range(width)]
        for name in cell.parameters
        for width in [cell.parameter_width(name)]
    }
    terms["kept"] = {  # the rest of the tape (the normalised terms), a series per block
        name: [rounded(values[:, 0, k * H + unit]) for k in range(values.shape[2] // H)]
        for name, values in rec.kept.items()
    }
    if rec.cell is not None:
        c = rec.cell[:, 0, unit]
        terms["c_t"] = rounded(c)
        terms["c_prev"] = rounded(np.concatenate([[0.0], c[:-1]]))
    return terms


def layer_outputs(rnn: Module, records: list) -> list[np.ndarray]:
    """What each layer passes on, (T, B, H) each: its h_t, plus its input from the second
    layer on in a residual stack (y_l = h_l + y_{l−1}; the lab runs in evaluation mode,
    without dropout)."""
    outputs = [records[0].hidden]
    for rec in records[1:]:
        outputs.append(rec.hidden + outputs[-1] if rnn.residual else rec.hidden)
    return outputs


def liveliness(hidden: np.ndarray) -> np.ndarray:
    """(T, H) → (H,): how much each unit changes per step, mean |h_t − h_{t−1}|."""
    return np.abs(np.diff(hidden, axis=0)).mean(axis=0)


def run_view(
    model: Module, prepared: Prepared, layer: int, unit: int | None = None
) -> dict[str, Any]:
    """Everything one pass of the model over the sequence computed, for panels 3, 4, 7, 8
    (for an encoder–decoder: its encoder reading the source).

    ``unit``: the hidden unit whose equation terms are included; None picks the liveliest
    unit of ``layer``: the one whose value changes most from step to step (mean |h_t −
    h_{t−1}|), i.e. the one that responds most to the inputs.
    """
    rnn = model.encoder if isinstance(model, Seq2Seq) else model.rnn
    if layer >= rnn.num_layers:
        raise LabError(f"layer must be below {rnn.num_layers} for this model, got {layer}")
    if unit is not None and unit >= rnn.hidden_size:
        raise LabError(f"unit must be below the hidden size {rnn.hidden_size}, got {unit}")
    records = [_copy(r) for r in record(rnn, prepared.x)]
    rec = records[layer]
    # one value per unit: h_t, or with a projection the cell's own output h̃_t
    per_unit = rec.kept.get("projected", rec.hidden)
    if unit is None:
        unit = int(np.argmax(liveliness(per_unit[:, 0, :])))
    outputs = layer_outputs(rnn, records)
    inputs = prepared.x[:, 0, :] if layer == 0 else outputs[layer - 1][:, 0, :]
    top = outputs[-1]
    view: dict[str, Any] = {
        "kind": prepared.kind,
        "title": prepared.title,
        "labels": prepared.labels,
        "steps": len(prepared.labels),
        "cell": rnn.mode,
        "layer": layer,
        "layers": rnn.num_layers,
        "hidden_size": rnn.hidden_size,
        "unit": unit,
        "projection": rnn.proj_size,
        "hidden": rounded(per_unit[:, 0, :]),
        "cell_state": None if rec.cell is None else rounded(rec.cell[:, 0, :]),
        "gates": {name: rounded(values[:, 0, :]) for name, values in rec.gates.items()},
        "terms": equation_terms(rnn, layer, inputs, rec, unit),
    }
    if isinstance(model, LanguageModel):
        view["predictions"] = _predictions(model, top[:, 0, :], prepared.ids)
        view["one_hot"] = model.config.embedding_dim is None
    elif isinstance(model, Seq2Seq):  # the encoder's outputs are the attention's keys
        source = "".join(prepared.labels)
        view["seq2seq"] = {
            "attention": model.config.attention,
            "target": expected(prepared.kind, source),
        }
    else:
        outputs = model.head(top)[:, 0, 0]
        view["outputs"] = rounded(outputs)
        view["targets"] = rounded(prepared.targets)
        view["inputs"] = rounded(prepared.values)
        view["features"] = list(TASKS[prepared.kind].features)
    return view


def _copy(rec: Any) -> Any:
    """A record with its own arrays (the layer may reuse its buffers on the next call)."""
    rec.hidden = np.array(rec.hidden)
    rec.cell = None if rec.cell is None else np.array(rec.cell)
    rec.gates = {name: np.array(values) for name, values in rec.gates.items()}
    rec.kept = {name: np.array(values) for name, values in rec.kept.items()}
    return rec


def _predictions(model: LanguageModel, top: np.ndarray, ids: np.ndarray) -> list[dict]:
    """At each step: the 3 likeliest next characters with their probabilities and their
    scores (V h_t + c), and the probability of the real one."""
    scores = model.head(top).astype(np.float64)  # (T, V)
    probs = softmax(scores, axis=-1)
    symbols = model.vocab.symbols
    out = []
    for t, p in enumerate(probs):
        best = np.argsort(-p, kind="stable")[:3]
        step = {
            "top": [[symbols[i], round(float(p[i]), DIGITS)] for i in best],
            "scores": [round(float(scores[t, i]), DIGITS) for i in best],
        }
        if t + 1 < len(ids):
            step["actual"] = round(float(p[ids[t + 1]]), DIGITS)
        out.append(step)
    return out


def gradient_view(
    models: dict[str, tuple[Module, int]], prepared: Prepared, scale: float, layer: int
) -> dict[str, Any]:
    """‖∂L/∂h_t‖ at every t for each model, L the loss at the last step only.

    Text: L is the cross-entropy of predicting the last character from the ones before
    (so T − 1 steps); numeric: ½ (y_T − target_T)². Each model is a private copy; its
    recurrent weights ``weight_hh_l*`` are multiplied by ``scale`` first.
    """
    series = []
    for cell, (model, steps) in models.items():
        if layer >= model.rnn.num_layers:
            raise LabError(f"layer must be below {model.rnn.num_layers}, got {layer}")
        for name, value in model.rnn.params.items():
            if name.startswith("weight_hh"):
                value *= scale
        norms = step_norms(_d_hidden(model, prepared)[layer])
        series.append({"cell": cell, "trained_steps": steps, "norms": significant(norms)})
    labels = prepared.labels[:-1] if prepared.kind == "text" else prepared.labels
    return {
        "kind": prepared.kind,
        "labels": labels,
        "scale": scale,
        "layer": layer,
        "series": series,
    }


def _d_hidden(model: Module, prepared: Prepared) -> list[np.ndarray]:
    """∂L/∂h_t (T, 1, H) of every layer, for the loss at the last step."""
    if isinstance(model, LanguageModel):
        ids = prepared.ids
        records = language_model_gradient_norms(model, ids[:-1, None], ids[1:, None], at="last")
        return [np.array(r.d_hidden) for r in records]
    rnn = model.rnn
    rnn.retain_tapes = True
    try:
        outputs, _ = model(prepared.x)
        d_outputs = np.zeros_like(outputs)
        d_outputs[-1] = outputs[-1] - prepared.targets[-1]
        model.backward(d_outputs)
        return [np.array(r.d_hidden) for r in layer_records(rnn)]
    finally:
        rnn.retain_tapes = False
