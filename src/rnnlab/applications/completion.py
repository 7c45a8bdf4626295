"""Word-level completion: a word language model and what it says comes next.

    tokens   w_1 … w_N   words, numbers, punctuation and newlines (``WordVocab``), the
                         ``vocab_size − 1`` most frequent of the training text, the rest <unk>
    model    p(w_{t+1} | w_1 … w_t) = softmax(V h_t + c),  h_t = cell(E[w_t], h_{t−1})
    loss     −(1/N) Σ_t log p(w_{t+1} | w_≤t)      (nats per token; perplexity = e^loss)

The corpus is split in two at a line break: the first ``1 − val_fraction`` trains (and
alone builds the vocabulary), the rest validates. The baseline is the unigram model of
the same vocabulary, p(w) = count(w) / N over the training tokens (<unk> counts every
token left out), scored on the same validation tokens:

    perplexity_unigram = exp(−(1/N) Σ_t log p(w_{t+1}))

Completing a prompt ("To be, or not to ___"): the trailing blank (``_``, ``…``, ``...``)
is dropped, the rest is run through the model, and the answer is the k most likely next
words with their probabilities (``<unk>`` among them: "a rarer word"), a greedy
continuation (always the most likely word) and sampled ones; continuations never choose
``<unk>`` (its probability is set to 0 before the choice), so they read as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data.corpora import load_corpus
from rnnlab.data.text import WordVocab
from rnnlab.errors import ConfigError, DataError, check_positive_int
from rnnlab.generate import next_distribution, sampling_distribution
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.nn.module import inference
from rnnlab.options import (
    cell_option,
    clip_option,
    hidden_option,
    layers_option,
    lr_option,
    option,
    residual_option,
    schedule_option,
    seed_option,
)
from rnnlab.train import TrainConfig, Trainer, TrainResult, evaluate

_BLANK = re.compile(r"(?:\s|_|…|\.\.\.)+$")


@dataclass
class CompleteOptions:
    """Every option of a word-model run, with defaults that train in ~5 minutes on 2 cores."""

    data: str = option("shakespeare", "shakespeare, python, or a UTF-8 text file")
    vocab_size: int = option(5000, "words kept, with <unk>")
    cell: str = cell_option()
    hidden: int = hidden_option(256)
    layers: int = layers_option()
    residual: bool = residual_option()
    embedding_dim: int = option(64, "word embedding size")
    dropout: float = option(0.0, "dropout between layers")
    seq_len: int = option(32, "truncated-BPTT length in words")
    batch: int = option(32, "parallel streams")
    steps: int | None = option(3000, "step budget; 0: none", none=0)
    minutes: float | None = option(None, "time budget in minutes; 0: none", none=0.0)
    lr: float = lr_option(3e-3)
    schedule: str = schedule_option("cosine")
    clip: float | None = clip_option(5.0)
    val_fraction: float = option(0.1, "last fraction held out")
    eval_every: int = option(500, "validate every N steps")
    eval_tokens: int | None = 50_000  #: cap while training; the final score uses all
    sample_every: int = 0
    seed: int = seed_option("seed for weights and samples")


@dataclass
class CompleteOutcome:
    """A trained word model and its validation perplexity next to the unigram baseline."""

    model: LanguageModel
    val_loss: float  #: nats per token, over every validation token
    unigram_loss: float
    val_tokens: int
    unk_rate: float  #: fraction of validation tokens outside the vocabulary
    train_tokens: int
    train_result: TrainResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def perplexity(self) -> float:
        return math.exp(self.val_loss)

    @property
    def unigram_perplexity(self) -> float:
        return math.exp(self.unigram_loss)


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """(training text, validation text): cut at the first line break after the
    ``1 − val_fraction`` point, so no word is split."""
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    cut = text.find("\n", int(len(text) * (1 - val_fraction)))
    if cut <= 0 or cut >= len(text) - 1:
        raise DataError(
            "the text has no line break after the training part, so it cannot be split for "
            "validation; use a longer text or a larger val_fraction"
        )
    return text[: cut + 1], text[cut + 1 :]


def unigram_loss(vocab: WordVocab, ids: np.ndarray) -> float:
    """−(1/N) Σ log p(w) over ids[1:] (the tokens a language model is scored on)."""
    p = vocab.unigram_probabilities()
    scored = np.asarray(ids)[1:]
    if not len(scored) or (p[scored] == 0).any():
        raise DataError("the unigram model gives some validation token probability 0")
    return float(-np.log(p[scored]).mean())


def run_complete(
    options: CompleteOptions,
    out: str | Path | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
    text: str | None = None,
) -> CompleteOutcome:
    """Train a word model as ``options`` say; score it and the unigram on validation.

    ``text`` overrides ``options.data`` (a corpus already in memory)."""
    text = load_corpus(options.data) if text is None else text
    train_text, val_text = split_text(text, options.val_fraction)
    vocab = WordVocab.from_text(train_text, max_size=options.vocab_size)
    train_ids = vocab.encode(train_text)
    val_ids, unknown = vocab.encode_counting(val_text)
    needed = options.batch * (options.seq_len + 1)
    if len(train_ids) < needed or len(val_ids) < 2:
        raise DataError(
            f"the text has {len(train_ids)} training and {len(val_ids)} validation tokens; "
            f"a batch of {options.batch} streams of {options.seq_len} needs {needed} "
            "training tokens (use a longer text or a smaller --batch / --seq-len)"
        )
    config = LanguageModelConfig(
        vocab_size=len(vocab),
        cell=options.cell,
        hidden_size=options.hidden,
        num_layers=options.layers,
        residual=options.residual,
        dropout=options.dropout,
        embedding_dim=options.embedding_dim,
    )
    model = LanguageModel(config, seed=options.seed, vocab=vocab)
    train_config = TrainConfig(
        steps=options.steps,
        minutes=options.minutes,
        batch_size=options.batch,
        seq_len=options.seq_len,
        lr=options.lr,
        schedule=options.schedule,
        clip=options.clip,
        eval_every=options.eval_every,
        eval_tokens=options.eval_tokens,
        sample_every=options.sample_every,
        sample_length=30,
        checkpoint_every=options.eval_every,
        seed=options.seed,
    )
    source = {"application": "complete", "data": options.data, "val_fraction": options.val_fraction}
    trainer = Trainer(model, train_ids, val_ids, train_config, out, report, data_source=source)
    result = trainer.fit()
    if result.stopped == "diverged":
        raise DataError(result.message)
    val_loss, count = evaluate(model, val_ids, options.batch, options.seq_len)
    return CompleteOutcome(
        model=model,
        val_loss=val_loss,
        unigram_loss=unigram_loss(vocab, val_ids),
        val_tokens=count,
        unk_rate=unknown / max(len(val_ids), 1),
        train_tokens=len(train_ids),
        train_result=result,
    )


# ----------------------------------------------------------------------------- completion


@dataclass
class Completion:
    """What a word model says after a prompt."""

    prompt: str  #: the prompt as given to the model (trailing blank removed)
    top: list[tuple[str, float]]  #: the k most likely next tokens, most likely first
    greedy: str  #: the most likely continuation, token by token
    samples: list[str]  #: sampled continuations


def clean_prompt(prompt: str) -> str:
    """The prompt without a trailing blank (``___``, ``…``, ``...``, spaces)."""
    if not isinstance(prompt, str):
        raise ConfigError(f"prompt must be a str, got {type(prompt).__name__}")
    cleaned = _BLANK.sub("", prompt)
    if not WordVocab.tokenize(cleaned):
        raise ConfigError(
            f"the prompt {prompt!r} has no words; give the beginning of a sentence, "
            'e.g. "To be, or not to"'
        )
    return cleaned


def continue_words(
    model: LanguageModel,
    prompt: str,
    n: int,
    temperature: float = 0.0,
    rng: np.random.Generator | None = None,
) -> str:
    """The ``n`` tokens after ``prompt``, each drawn from p(· | prompt, tokens so far)
    without ``<unk>`` (temperature 0: the most likely). Returns the continuation only,
    with the space that joins it to the prompt."""
    vocab = model.vocab
    ids = vocab.encode(prompt)
    rng = rng if rng is not None else np.random.default_rng(0)
    chosen: list[int] = []
    was_training = model.training
    model.eval()
    try:
        with inference(model):
            logits, state = model(ids[:, None], None)
            for _ in range(n):
                last = logits[-1, 0].astype(np.float64)
                last[vocab.unk_id] = -np.inf
                probs = sampling_distribution(last, temperature)
                token = int(rng.choice(probs.size, p=probs))
                chosen.append(token)
                logits, state = model(np.array([[token]]), state)
    finally:
        model.train(was_training)
    head = vocab.decode(ids[-1:])
    return vocab.decode([int(ids[-1]), *chosen])[len(head) :]


def complete(
    model: LanguageModel,
    prompt: str,
    k: int = 10,
    words: int = 12,
    samples: int = 3,
    temperature: float = 0.8,
    seed: int | None = 0,
) -> Completion:
    """Top-``k`` next tokens after ``prompt``, a greedy continuation of ``words`` tokens
    and ``samples`` sampled ones (at ``temperature``, reproducible with ``seed``)."""
    if not isinstance(getattr(model, "vocab", None), WordVocab):
        raise ConfigError(
            "completion needs a word-level language model (a WordVocab); train one with "
            "`rnnlab complete train`"
        )
    check_positive_int("words", words)
    text = clean_prompt(prompt)
    rng = np.random.default_rng(seed)
    return Completion(
        prompt=text,
        top=next_distribution(model, text, k=k),
        greedy=continue_words(model, text, words),
        samples=[continue_words(model, text, words, temperature, rng) for _ in range(samples)],
    )
