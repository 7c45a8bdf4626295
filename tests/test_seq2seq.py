"""The encoder–decoder: exact gradients (finite differences, every attention kind, a
bidirectional stacked encoder, ragged sources and targets), decoding (greedy is the
argmax at every step; beam search finds the most likely sequence where every sequence
can be enumerated), and learning to reverse letters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rnnlab.data.pairs import END, START, reverse
from rnnlab.errors import ConfigError, ShapeError, StateError
from rnnlab.io import load_model, save_checkpoint
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.models.size import parameter_count
from rnnlab.optim import Adam
from rnnlab.train import TrainConfig, Trainer


def config(**options) -> Seq2SeqConfig:
    base = dict(source_vocab_size=5, target_vocab_size=6, start_id=4, end_id=5, hidden_size=4,
                embedding_dim=3, dtype="float64")  # fmt: skip
    return Seq2SeqConfig(**{**base, **options})


def batch(rng, S=5, U=4, B=3):
    sources = rng.integers(0, 5, size=(S, B))
    targets = rng.integers(0, 4, size=(U, B))
    target_inputs = np.vstack([np.full((1, B), 4), targets[:-1]])
    inputs = (sources, np.array([5, 2, 4]), target_inputs, np.array([4, 1, 3]))
    return inputs, targets


@pytest.mark.parametrize(
    "options",
    [
        {"attention": "none", "cell": "gru"},
        {"attention": "general", "num_layers": 2},
        {"attention": "additive", "bidirectional": False},
        {"attention": "dot", "cell": "rnn_tanh"},
    ],
    ids=["none-gru", "general-2-layers", "additive-one-way", "dot-rnn"],
)
def test_every_gradient_matches_finite_differences(options, rng):
    model = Seq2Seq(config(**options), seed=1)
    inputs, targets = batch(rng)
    model.zero_grad()
    model.compute_loss(inputs, targets)
    analytic = {name: grad.copy() for name, grad in model.grads.items()}
    for name, param in model.params.items():
        flat, worst = param.reshape(-1), 0.0
        for index in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            saved = flat[index]
            flat[index] = saved + 1e-6
            plus = model.compute_loss(inputs, targets, train=False)[0]
            flat[index] = saved - 1e-6
            minus = model.compute_loss(inputs, targets, train=False)[0]
            flat[index] = saved
            numeric = (plus - minus) / 2e-6
            worst = max(worst, abs(numeric - analytic[name].reshape(-1)[index]))
        # relative to the tensor's scale, above the differences' own rounding (~1e-10)
        assert worst < 1e-6 * np.abs(analytic[name]).max() + 1e-9, (name, worst)


def test_the_loss_counts_each_target_to_its_length_and_ignores_what_is_past_it(rng):
    model = Seq2Seq(config(), seed=1)
    inputs, targets = batch(rng)
    loss, count, _ = model.compute_loss(inputs, targets, train=False)
    assert count == 4 + 1 + 3 and np.isfinite(loss)
    sources, targets_past = inputs[0].copy(), targets.copy()
    sources[2:, 1] = (sources[2:, 1] + 1) % 5  # past the second source's length, 2
    targets_past[1:, 1] = (targets_past[1:, 1] + 1) % 4  # past its target's length, 1
    moved = model.compute_loss((sources, *inputs[1:]), targets_past, train=False)[0]
    assert moved == pytest.approx(loss, abs=1e-12)
    targets_past[0, 1] = (targets_past[0, 1] + 1) % 4  # within it: the loss moves
    assert model.compute_loss(inputs, targets_past, train=False)[0] != pytest.approx(loss)


def test_greedy_takes_the_most_likely_token_and_beam_width_one_agrees(rng):
    model = Seq2Seq(config(attention="additive"), seed=3)
    sources = rng.integers(0, 5, size=(6, 4))
    decoded = model.greedy(sources, max_length=5)
    for b, tokens in enumerate(decoded):
        assert model.beam_search(sources[:, b], width=1, max_length=5) == tokens
        previous = []
        for token in tokens:  # each is the argmax after the ones before it
            scores = [model.log_probability(sources[:, b], [*previous, v]) for v in range(6)]
            assert int(np.argmax(scores)) == token
            previous.append(token)


def test_beam_search_finds_the_most_likely_of_all_sequences():
    """Targets of up to 3 tokens over a vocabulary of 4: every sequence is enumerated."""
    model = Seq2Seq(config(target_vocab_size=4, start_id=2, end_id=3, attention="general"), seed=5)
    source = np.array([0, 4, 1, 1])
    candidates = []
    for length in range(1, 4):  # a sequence ends at END, or after 3 tokens
        for tokens in itertools.product(range(4), repeat=length):
            if 3 in tokens[:-1] or (length < 3 and tokens[-1] != 3):
                continue
            candidates.append(list(tokens))
    scores = [model.log_probability(source, tokens) for tokens in candidates]
    best = candidates[int(np.argmax(scores))]
    expected = best[:-1] if best[-1] == 3 else best
    assert model.beam_search(source, width=64, max_length=3) == expected
    narrow = model.beam_search(source, width=2, max_length=3)
    narrow_score = model.log_probability(source, narrow + ([3] if len(narrow) < 3 else []))
    assert narrow_score <= max(scores) + 1e-12


def test_an_attention_model_learns_to_reverse_letters():
    train = reverse(2000, 6, min_length=3, seed=0)
    test = reverse(100, 6, min_length=3, seed=1)
    start, end = (int(train.target_vocab.encode(m)[0]) for m in (START, END))
    model = Seq2Seq(Seq2SeqConfig(len(train.source_vocab), len(train.target_vocab), start, end,
                                  hidden_size=48, embedding_dim=16), seed=0)  # fmt: skip
    optimizer = Adam(model.params, lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(300):
        rows = rng.choice(len(train), size=32, replace=False)
        targets = train.targets[rows].T  # START … END
        inputs = (train.sources[rows].T, train.source_lengths[rows], targets[:-1],
                  train.target_lengths[rows] - 1)  # fmt: skip
        model.zero_grad()
        model.compute_loss(inputs, targets[1:])
        optimizer.step(model.grads)
    decoded = model.greedy(test.sources.T, test.source_lengths, max_length=8)
    texts = [test.target_vocab.decode(tokens) for tokens in decoded]
    exact = np.mean([text == want for text, want in zip(texts, test.target_texts, strict=True)])
    assert exact > 0.8, (exact, texts[:5], test.target_texts[:5])


def test_bad_configurations_and_inputs_are_named(rng):
    with pytest.raises(ConfigError, match="attention must be one of"):
        config(attention="luong")
    with pytest.raises(ConfigError, match=r"start_id must be a target id in \[0, 6\)"):
        config(start_id=6)
    model = Seq2Seq(config(), seed=0)
    with pytest.raises(ShapeError, match="must be \\(sources, source_lengths"):
        model.compute_loss((np.zeros((2, 3), int),), np.zeros((2, 3), int))
    with pytest.raises(ShapeError, match="source must be one sequence"):
        model.beam_search(np.zeros((2, 2), int))
    with pytest.raises(ConfigError, match="alpha must be"):
        model.beam_search(np.zeros(2, int), alpha=-1.0)
    with pytest.raises(ShapeError, match=r"sources has shape \(3,\), expected \(S, B\)"):
        model.greedy(np.zeros(3, int))
    with pytest.raises(ConfigError, match="start_id and end_id must differ"):
        config(end_id=4)
    assert config(start_id=np.int64(1)).start_id == 1  # an id read from a vocabulary


def test_a_loaded_model_in_evaluation_mode_still_trains_and_never_emits_start(tmp_path, rng):
    model = Seq2Seq(config(attention="general"), seed=0)
    model.eval()
    inputs, targets = batch(rng)
    model.zero_grad()
    model.compute_loss(inputs, targets)  # eval mode: no dropout, but a tape all the same
    assert np.abs(model.grads["attention.weight"]).max() > 0
    decoded = model.greedy(rng.integers(0, 5, size=(5, 8)), max_length=6)
    assert all(4 not in tokens for tokens in decoded)  # 4: START


def test_a_checkpoint_rebuilds_the_model_with_both_vocabularies(tmp_path, rng):
    data = reverse(8, 5, seed=2)
    start, end = (int(data.target_vocab.encode(m)[0]) for m in (START, END))
    sizes = (len(data.source_vocab), len(data.target_vocab), start, end)
    config = Seq2SeqConfig(*sizes, cell="gru", attention="additive")
    model = Seq2Seq(config, seed=0, vocab=data.vocab)
    path = save_checkpoint(tmp_path / "model.safetensors", model)
    loaded = load_model(path)
    assert isinstance(loaded, Seq2Seq) and loaded.vocab == data.vocab
    assert parameter_count(model.config) == model.num_parameters()
    targets = data.targets.T
    inputs = (data.sources.T, data.source_lengths, targets[:-1], data.target_lengths - 1)
    np.testing.assert_array_equal(loaded(inputs), model.eval()(inputs))
    assert loaded.translate("abcde", width=3) == model.translate("abcde", width=3)
    with pytest.raises(StateError, match="no vocabulary"):
        Seq2Seq(loaded.config).translate("abc")


def test_the_trainer_trains_checkpoints_and_resumes_a_seq2seq_exactly(tmp_path):
    train, held_out = reverse(600, 5, min_length=2, seed=0), reverse(64, 5, min_length=2, seed=1)
    start, end = (int(train.target_vocab.encode(m)[0]) for m in (START, END))
    sizes = (len(train.source_vocab), len(train.target_vocab), start, end)
    batcher = held_out.batcher(64, shuffle=False)

    def validation_loss(model):
        batcher.position = 0
        return model.compute_loss(*batcher.next_batch(), train=False)[0]

    def trainer(steps, out):
        config = Seq2SeqConfig(*sizes, hidden_size=32, embedding_dim=12)
        model = Seq2Seq(config, seed=0, vocab=train.vocab)
        options = TrainConfig(steps=steps, batch_size=32, lr=1e-2, eval_every=20, sample_every=0)
        return Trainer(model, train.batcher(32, seed=3), validation_loss, options, out)

    whole = trainer(40, tmp_path / "whole")
    first = validation_loss(whole.model)
    result = whole.fit()
    assert result.best_val_loss < 0.8 * first  # it learns
    trainer(20, tmp_path / "half").fit()
    resumed = trainer(40, tmp_path / "half")
    resumed.restore(tmp_path / "half/last.safetensors")
    resumed.fit()
    for name, value in whole.model.params.items():  # interrupted at 20, the same bits
        np.testing.assert_array_equal(resumed.model.params[name], value, err_msg=name)
    loaded = load_model(tmp_path / "whole/last.safetensors")
    assert loaded.translate("abc") == whole.model.translate("abc")

    inputs, targets = train.batcher(8, shuffle=False).next_batch()
    sources, source_lengths, target_inputs, target_lengths = inputs
    assert target_inputs[0].tolist() == [start] * 8 and targets.shape == target_inputs.shape
    assert sources.shape[0] == source_lengths.max()
    assert (targets[target_lengths - 1, range(8)] == end).all()


def test_forward_passes_without_backward_leave_no_tapes_behind(rng):
    model = Seq2Seq(config(attention="additive"), seed=0)
    inputs, targets = batch(rng)
    for _ in range(3):
        model.compute_loss(inputs, targets, train=False)
        model(inputs)  # a forward in training mode that is never undone
    assert len(model.attention._tapes) == 1  # the last call's, for its backward
    model.backward(np.zeros((4, 3, 6)))
    assert model.attention._tapes == []
