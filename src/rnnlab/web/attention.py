"""What the attention panel shows: an encoder–decoder decoding one source greedily, step
by step, with the attention weights of every step (computed from a model snapshot).

    source x_1 … x_S  →  encoder  →  keys k_1 … k_S and the decoder's first state
    step u: the decoder reads y_{u−1} (START first), attends: α_u = softmax(score(o_u, k)),
            and emits y_u = argmax p(y | y_<u, x); it stops at END or after
            ``limits.MAX_DECODE_STEPS`` characters

The answer holds, for each step u, the character emitted, its probability, the three
likeliest characters and α_u (S weights summing to 1; None without attention, where the
decoder knows of the source only what the encoder's last state h_S carries), with the
right answer, whether the output matches it exactly, and the exact match on held-out
pairs (how good the model is, beside how it does on this one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.data.pairs import PairData
from rnnlab.models.seq2seq import Seq2Seq
from rnnlab.web import limits
from rnnlab.web.entry import LabError
from rnnlab.web.pairs import PAIR_TASKS, check_source, expected
from rnnlab.web.schemas import SequenceSpec

DIGITS = 4  #: decimals of the weights and probabilities sent to the page


def pair_examples(task: str) -> dict[str, Any]:
    """The examples of an encoder–decoder task for the page's picker, with their answers."""
    info = PAIR_TASKS[task]
    return {
        "task": task,
        "title": info.title,
        "description": info.description,
        "max_source": info.max_source,
        "alphabet": info.alphabet_text,
        "examples": [
            {"index": i, "title": title, "text": text, "target": expected(task, text)}
            for i, (title, text) in enumerate(info.examples)
        ],
    }


def pair_source(task: str, spec: SequenceSpec | None) -> tuple[str, str]:
    """(source text, its title) of ``spec`` for ``task``: typed (checked) or an example;
    None: the first example."""
    info = PAIR_TASKS[task]
    if spec is None:
        spec = SequenceSpec(kind=task)  # type: ignore[arg-type]
    if spec.kind != task:
        raise LabError(
            f"this model is for {task!r} sources, not {spec.kind!r}; pick a {spec.kind!r} "
            f"model (POST /api/models with task={spec.kind!r})"
        )
    if spec.text is not None:
        check_source(task, spec.text)
        return spec.text, "typed source"
    if not 0 <= spec.example < len(info.examples):
        raise LabError(
            f"{task} has examples 0 to {len(info.examples) - 1}, got {spec.example}; "
            "or type a source"
        )
    title, text = info.examples[spec.example]
    return text, title


def exact_match(model: Seq2Seq, data: PairData) -> float:
    """The share of ``data``'s targets that greedy decoding writes exactly."""
    longest = int(data.target_lengths.max())
    decoded = model.greedy(data.sources.T, data.source_lengths, max_length=longest)
    texts = [data.target_vocab.decode(tokens) for tokens in decoded]
    return float(np.mean([got == want for got, want in zip(texts, data.target_texts, strict=True)]))


def attention_view(
    model: Seq2Seq, task: str, spec: SequenceSpec | None, held_out: PairData | None = None
) -> dict[str, Any]:
    """Greedy decoding of the source ``spec`` names, step by step (see the module).

    → {"source": S characters, "steps": U dicts {"symbol" (None for END), "end", "p",
    "top": [[symbol or None, p]] × 3}, "weights": (U, S) or None, "output", "target",
    "exact", "ended", "held_out"} and the model's attention kind."""
    text, title = pair_source(task, spec)
    vocab = model.vocab
    tokens, log_p, weights = model.greedy_steps(vocab.source.encode(text), limits.MAX_DECODE_STEPS)
    end = model.config.end_id
    symbols = vocab.target.symbols

    def symbol(token: int) -> str | None:
        return None if token == end else symbols[token]

    probs = np.exp(log_p)  # (U, V); START's is 0
    steps = []
    for u, token in enumerate(tokens):
        best = np.argsort(-probs[u], kind="stable")[:3]
        steps.append(
            {
                "symbol": symbol(token),
                "end": token == end,
                "p": round(float(probs[u, token]), DIGITS),
                "top": [[symbol(int(k)), round(float(probs[u, k]), DIGITS)] for k in best],
            }
        )
    output = vocab.target.decode([t for t in tokens if t != end])
    target = expected(task, text)
    view: dict[str, Any] = {
        "task": task,
        "title": title,
        "attention": model.config.attention,
        "cell": model.config.cell,
        "source": list(text),
        "steps": steps,
        "weights": None if weights is None else np.round(weights.astype(float), DIGITS).tolist(),
        "output": output,
        "target": target,
        "exact": None if target is None else output == target,
        "ended": bool(tokens) and tokens[-1] == end,
        "max_steps": limits.MAX_DECODE_STEPS,
        "held_out": None,
    }
    if held_out is not None:
        view["held_out"] = {"pairs": len(held_out), "exact": exact_match(model, held_out)}
    return view
