"""Attention against sequence length (Bahdanau et al. 2015, Fig. 2, in miniature): the
same encoder–decoder with and without attention, reversing strings of lower-case
letters of growing length (``task="reverse"``), copying them (``task="copy"``, the
copy task at T = 100 with ``length=100``), or turning written dates into ISO dates
(``task="dates"``: one data set of every written form, its length the longest source).

Without attention everything the decoder knows of the source passes through the
encoder's last state, and the gradient of each output reaches source position s only
through the S − s encoder steps after it; with attention every output reads every
encoder output directly. The experiment measures, for each length, the exact-match
accuracy of greedy decoding on held-out strings; for the longest, ‖∂L/∂h_s‖ of the
encoder at every source position s at initialisation, before learning shapes it (the
shortened gradient path, beside the vanishing experiment's plots), and the attention map
of one example after training. With ``beam`` > 0, beam search of that width is scored
too at the end of each run, beside greedy decoding.

Training: fresh random strings (a set of ``train_size``, shuffled), Adam, gradient-norm
clipping; test: ``test_size`` other strings (for dates: days never drawn for training).
The encoder is one-directional, so its state at the end is all a model without
attention can read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data.pairs import END, START, PairData, copy, dates, reverse
from rnnlab.errors import ConfigError
from rnnlab.experiments.common import (
    Run,
    fmt,
    print_table,
    train_config,
    train_run,
    write_json,
)
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.nn.module import evaluating
from rnnlab.probe import layer_records, step_norms

TASKS = ("reverse", "copy", "dates")
TITLES = {
    "reverse": "reversing letters",
    "copy": "copying letters",
    "dates": "written dates → ISO",
}


@dataclass
class AttentionConfig:
    """Options of ``rnnlab experiment attention``."""

    cells: tuple[str, ...] = ("gru",)
    task: str = "reverse"  #: or "copy", or "dates" (written → ISO; one length, not four)
    length: int = 40  #: the longest strings; also a quarter, a half and three quarters of it
    kinds: tuple[str, ...] = ("none", "general")  #: the decoders compared
    hidden: int = 64
    batch_size: int = 64
    lr: float = 3e-3
    clip: float | None = 1.0
    steps: int = 2000
    eval_every: int = 250
    train_size: int = 20000
    test_size: int = 200
    seed: int = 0
    repeats: int = 1
    beam: int = 5  #: the beam width scored beside greedy decoding at the end; 0: none

    def __post_init__(self) -> None:
        if self.length < 2:
            raise ConfigError(f"length must be at least 2, got {self.length}")
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if isinstance(self.beam, bool) or not isinstance(self.beam, int) or self.beam < 0:
            raise ConfigError(f"beam must be a width ≥ 1, or 0 for none; got {self.beam!r}")

    @property
    def lengths(self) -> list[int]:
        """The lengths measured: a quarter of ``length`` … ``length`` (at least 2)."""
        return sorted({max(2, round(self.length * k / 4)) for k in range(1, 5)})


def _ids(data: PairData) -> tuple[int, int]:
    return int(data.target_vocab.encode(START)[0]), int(data.target_vocab.encode(END)[0])


def _model(cell: str, kind: str, data: PairData, config: AttentionConfig, seed: int) -> Seq2Seq:
    sizes = (len(data.source_vocab), len(data.target_vocab), *_ids(data))
    model_config = Seq2SeqConfig(
        *sizes, cell=cell, hidden_size=config.hidden, embedding_dim=16, bidirectional=False,
        attention=kind,
    )  # fmt: skip
    return Seq2Seq(model_config, seed=seed, vocab=data.vocab)


def exact_match(model: Seq2Seq, data: PairData) -> float:
    """The share of ``data``'s targets that greedy decoding gets exactly right."""
    longest = int(data.target_lengths.max())
    decoded = model.greedy(data.sources.T, data.source_lengths, max_length=longest)
    texts = [data.target_vocab.decode(tokens) for tokens in decoded]
    return float(np.mean([got == want for got, want in zip(texts, data.target_texts, strict=True)]))


def beam_exact_match(model: Seq2Seq, data: PairData, width: int) -> float:
    """The share of ``data``'s targets that beam search of ``width`` gets exactly right."""
    longest = int(data.target_lengths.max())
    right = 0
    for source, length, want in zip(
        data.sources, data.source_lengths, data.target_texts, strict=True
    ):
        tokens = model.beam_search(source[:length], width, max_length=longest)
        right += data.target_vocab.decode(tokens) == want
    return right / len(data)


def task_data(config: AttentionConfig) -> list[tuple[int, PairData, PairData]]:
    """(length, training pairs, test pairs) of each length measured: four of reverse
    and copy; one of dates, named by its longest source."""
    if config.task == "dates":
        train = dates(config.train_size, "train", seed=config.seed)
        test = dates(config.test_size, "test", seed=config.seed + 1)
        return [(int(test.source_lengths.max()), train, test)]
    task = copy if config.task == "copy" else reverse
    return [
        (
            length,
            task(config.train_size, length, seed=config.seed + 1000 * length),
            task(config.test_size, length, seed=config.seed + 1000 * length + 1),
        )
        for length in config.lengths
    ]


def _test_loss(model: Seq2Seq, data: PairData) -> float:
    batcher = data.batcher(len(data), shuffle=False)
    return float(model.compute_loss(*batcher.next_batch(), train=False)[0])


def encoder_gradient_norms(model: Seq2Seq, data: PairData) -> list[float]:
    """‖∂L/∂h_s‖ of the encoder's (first layer's) state at each source position s, the
    mean over ``data``'s pairs, for the mean cross-entropy of their targets."""
    encoder = model.encoder
    encoder.retain_tapes = True
    try:
        model.zero_grad()
        model.compute_loss(*data.batcher(len(data), shuffle=False).next_batch())
        record = layer_records(encoder)[0]
    finally:
        encoder.retain_tapes = False
        model.zero_grad()
    return [float(v) for v in step_norms(record.d_hidden)]


def attention_map(model: Seq2Seq, data: PairData, row: int = 0) -> dict[str, Any]:
    """The attention weights of pair ``row`` (teacher forced): target step × source
    position, with both texts."""
    batcher = data.batcher(len(data), shuffle=False)
    inputs, _ = batcher.batch(np.array([row]))
    with evaluating(model):
        model(inputs)
    model.attention.forget()
    S, U = int(data.source_lengths[row]), int(data.target_lengths[row]) - 1
    weights = model.last_weights[:U, 0, :S]
    return {
        "weights": weights.round(4).tolist(),
        "source": data.source_texts[row],
        "target": data.target_texts[row] + "·",  # the last row decides END
    }


def run_attention(config: AttentionConfig, out: Path) -> dict[str, Any]:
    """Train every (cell, kind, length, seed); write attention.json and the plots."""
    runs: list[Run] = []
    summary: list[dict[str, Any]] = []
    gradients: dict[str, list[float]] = {}
    maps: dict[str, dict[str, Any]] = {}
    measured = task_data(config)
    longest = measured[-1][0]
    for length, train, test in measured:
        for cell in config.cells:
            for kind in config.kinds:
                for seed in range(config.seed, config.seed + config.repeats):
                    model = _model(cell, kind, train, config, seed)
                    label = f"{cell} {kind} T={length} seed {seed}"
                    first = length == longest and seed == config.seed
                    if first:  # the gradient's path through the untrained model
                        gradients[f"{cell} {kind}"] = encoder_gradient_norms(model, test)

                    def evaluate(m: Seq2Seq, test: PairData = test) -> dict[str, float]:
                        return {"test_loss": _test_loss(m, test), "exact": exact_match(m, test)}

                    train_options = train_config(
                        config.steps, config.batch_size, config.lr, config.clip, seed,
                        config.eval_every,
                    )  # fmt: skip
                    run = train_run(
                        Run(label, cell, seed), model, train.batcher(config.batch_size, seed),
                        evaluate, train_options,
                    )  # fmt: skip
                    runs.append(run)
                    beam = beam_exact_match(model, test, config.beam) if config.beam else None
                    summary.append(
                        {
                            "label": label, "cell": cell, "kind": kind, "length": length,
                            "seed": seed, "exact": run.final("exact"), "beam_exact": beam,
                            "test_loss": run.final("test_loss"), "stopped": run.stopped,
                            "seconds": round(run.seconds, 1),
                        }
                    )  # fmt: skip
                    if first and model.attention is not None:
                        maps[f"{cell} {kind}"] = attention_map(model, test)
    results = {
        "experiment": "attention",
        "config": {**asdict(config), "lengths": [length for length, _, _ in measured]},
        "summary": summary,
        "gradient_norms": gradients,
        "attention_maps": maps,
        "runs": [run.to_json() for run in runs],
    }
    results["plots"] = [p.name for p in plot_attention(results, out)]
    write_json(out / "attention.json", results)
    table_attention(results)
    return results


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def plot_attention(results: dict[str, Any], out: Path) -> list[Path]:
    """attention_accuracy.png, attention_gradients.png and attention_map.png."""
    from rnnlab import plots

    config = results["config"]
    curves = []
    for name in dict.fromkeys(f"{s['cell']} {s['kind']}" for s in results["summary"]):
        rows = [s for s in results["summary"] if f"{s['cell']} {s['kind']}" == name]
        lengths = sorted({s["length"] for s in rows})
        means = [np.mean([s["exact"] for s in rows if s["length"] == n]) for n in lengths]
        curves.append(plots.Curve(lengths, means, name, marker="o"))
    paths = [
        plots.learning_curves(
            out / "attention_accuracy.png",
            f"{_sentence(TITLES[config.get('task', 'reverse')])}: exact match on "
            f"{config['test_size']} held-out pairs, {config['steps']} steps",
            curves, "exact match (greedy)", logy=False, xlabel="source length",
        )
    ]  # fmt: skip
    gradient_curves = [
        plots.Curve(range(1, len(norms) + 1), norms, name, marker=".")
        for name, norms in results["gradient_norms"].items()
    ]
    if gradient_curves:
        paths.append(
            plots.learning_curves(
                out / "attention_gradients.png",
                f"‖∂L/∂h_s‖ of the untrained encoder, length {config['lengths'][-1]}",
                gradient_curves, "mean ‖∂L/∂h_s‖ (log scale)", xlabel="source position s",
            )
        )  # fmt: skip
    for name, entry in list(results["attention_maps"].items())[:1]:
        paths.append(
            plots.heatmap(
                out / "attention_map.png",
                f"Where {name} attention looks ({entry['source']})",
                np.array(entry["weights"]), list(entry["source"]), list(entry["target"]),
                "source position", "output step",
            )
        )  # fmt: skip
    return paths


def table_attention(results: dict[str, Any]) -> None:
    """The summary table of the results."""
    config = results["config"]
    beam = config.get("beam", 0)
    print_table(
        f"{TITLES[config.get('task', 'reverse')]}: exact match by length, with and without "
        "attention",
        ["run", "length", "attention", "exact (greedy)", f"exact (beam {beam})", "test loss",
         "stopped", "seconds"],
        [
            [s["label"], str(s["length"]), s["kind"], fmt(s["exact"]), fmt(s.get("beam_exact")),
             fmt(s["test_loss"]), s["stopped"], f"{s['seconds']:.0f}"]
            for s in results["summary"]
        ],
    )  # fmt: skip
