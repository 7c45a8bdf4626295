"""Specification of rnnlab.data.batching: train/val split and truncated-BPTT streams."""

import json

import numpy as np
import pytest

from rnnlab.data import StreamBatcher, eval_chunks, split_train_val
from rnnlab.errors import ConfigError, DataError

# ----------------------------------------------------------------------------- split


def test_split_train_val_is_contiguous_and_complete():
    ids = np.arange(100)
    train, val = split_train_val(ids, val_fraction=0.2)
    assert train.tolist() == list(range(80))
    assert val.tolist() == list(range(80, 100))


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, True, "0.1"])
def test_split_train_val_rejects_bad_fractions(fraction):
    with pytest.raises(ConfigError, match="val_fraction"):
        split_train_val(np.arange(100), fraction)


def test_split_train_val_rejects_too_short_data():
    with pytest.raises(DataError, match="cannot split 5 tokens"):
        split_train_val(np.arange(5), 0.1)


# ----------------------------------------------------------------------------- StreamBatcher


def test_chunks_are_time_major_int64_with_targets_shifted_by_one():
    ids = np.arange(1000)
    batcher = StreamBatcher(ids, batch_size=4, seq_len=10)
    inputs, targets = batcher.next_batch()
    assert inputs.shape == targets.shape == (10, 4)
    assert inputs.dtype == targets.dtype == np.int64
    assert np.array_equal(targets[:-1], inputs[1:])
    # Stream b is the b-th contiguous quarter of the corpus: 250 tokens each.
    assert inputs[:, 2].tolist() == list(range(500, 510))
    assert targets[:, 2].tolist() == list(range(501, 511))


def test_streams_continue_from_one_chunk_to_the_next():
    ids = np.random.default_rng(0).integers(0, 50, size=2000)
    batcher = StreamBatcher(ids, batch_size=5, seq_len=7)
    stream_len = len(ids) // 5
    _, previous_targets = batcher.next_batch()
    for k in range(1, len(batcher)):
        inputs, targets = batcher.next_batch()
        for b in range(5):
            # the next chunk's first input is the previous chunk's last target,
            assert inputs[0, b] == previous_targets[-1, b]
            # and both are the corpus read straight along stream b.
            start = b * stream_len + k * 7
            assert inputs[:, b].tolist() == ids[start : start + 7].tolist()
        previous_targets = targets


def test_len_counts_full_chunks_and_an_epoch_covers_them_once():
    batcher = StreamBatcher(np.arange(1003), batch_size=4, seq_len=10)
    # 1003 // 4 = 250 tokens per stream; (250 - 1) // 10 = 24 chunks.
    assert len(batcher) == 24
    chunks = list(batcher)
    assert len(chunks) == 24
    assert batcher.epoch == 1 and batcher.position == 0
    assert len(list(batcher)) == 24  # a second loop is the second epoch


def test_next_batch_wraps_into_the_next_epoch_and_says_so():
    batcher = StreamBatcher(np.arange(100), batch_size=2, seq_len=9)
    assert len(batcher) == 5
    first, _ = batcher.next_batch()
    assert batcher.wrapped
    wrapped = []
    for _ in range(9):
        batcher.next_batch()
        wrapped.append(batcher.wrapped)
    assert wrapped == [False, False, False, False, True, False, False, False, False]
    assert batcher.epoch == 2
    inputs, _ = batcher.next_batch()  # first chunk of the third epoch
    assert np.array_equal(inputs, first)
    assert batcher.wrapped


def test_resuming_from_state_dict_gives_the_same_next_batches():
    ids = np.random.default_rng(1).integers(0, 30, size=500)
    original = StreamBatcher(ids, batch_size=3, seq_len=8)
    for _ in range(len(original) + 4):  # into the second epoch
        original.next_batch()
    state = json.loads(json.dumps(original.state_dict()))
    assert state["epoch"] == 1 and state["position"] == 4

    resumed = StreamBatcher(ids, batch_size=3, seq_len=8)
    resumed.load_state_dict(state)
    for _ in range(len(original) + 2):
        a, b = original.next_batch(), resumed.next_batch()
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert original.wrapped == resumed.wrapped
    assert resumed.state_dict() == original.state_dict()


def test_for_loop_resumes_the_rest_of_the_epoch():
    ids = np.arange(400)
    batcher = StreamBatcher(ids, batch_size=2, seq_len=5)
    everything = [x.copy() for x, _ in StreamBatcher(ids, batch_size=2, seq_len=5)]
    for i, _ in enumerate(batcher):
        if i == 6:
            break
    state = batcher.state_dict()
    resumed = StreamBatcher(ids, batch_size=2, seq_len=5)
    resumed.load_state_dict(state)
    rest = [x for x, _ in resumed]
    assert len(rest) == len(everything) - 7
    assert all(np.array_equal(a, b) for a, b in zip(rest, everything[7:], strict=True))


def test_load_state_dict_rejects_state_from_other_settings():
    ids = np.arange(500)
    state = StreamBatcher(ids, batch_size=3, seq_len=8).state_dict()
    with pytest.raises(DataError, match=r"seq_len=8.*seq_len=9"):
        StreamBatcher(ids, batch_size=3, seq_len=9).load_state_dict(state)
    with pytest.raises(DataError, match="position"):
        StreamBatcher(ids, batch_size=3, seq_len=8).load_state_dict({**state, "position": 10**6})


def test_offset_shifts_where_the_streams_start():
    batcher = StreamBatcher(np.arange(100), batch_size=2, seq_len=4, offset=10)
    inputs, _ = batcher.next_batch()
    assert inputs[:, 0].tolist() == [10, 11, 12, 13]
    assert inputs[:, 1].tolist() == [55, 56, 57, 58]  # 90 tokens → streams of 45


def test_chunks_are_read_only_views():
    inputs, _ = StreamBatcher(np.arange(100), batch_size=2, seq_len=4).next_batch()
    with pytest.raises(ValueError):
        inputs[0, 0] = 7


def test_too_short_corpus_says_how_many_tokens_it_has_and_needs():
    with pytest.raises(DataError, match=r"has 40 tokens.*need at least 44"):
        StreamBatcher(np.arange(40), batch_size=4, seq_len=10)
    StreamBatcher(np.arange(44), batch_size=4, seq_len=10)  # exactly one chunk fits


@pytest.mark.parametrize(("batch_size", "seq_len"), [(0, 5), (2, 0), (2.5, 5), (2, -1)])
def test_bad_batch_size_or_seq_len_is_a_config_error(batch_size, seq_len):
    with pytest.raises(ConfigError):
        StreamBatcher(np.arange(100), batch_size=batch_size, seq_len=seq_len)


def test_float_ids_are_rejected():
    with pytest.raises(TypeError, match="integer"):
        StreamBatcher(np.linspace(0, 1, 100), batch_size=2, seq_len=4)


# ----------------------------------------------------------------------------- eval_chunks


def test_eval_chunks_cover_every_target_once_with_a_short_last_chunk():
    ids = np.arange(2 * 24)  # two streams of 24: 23 targets each
    chunks = list(eval_chunks(ids, batch_size=2, seq_len=10))
    assert [x.shape for x, _ in chunks] == [(10, 2), (10, 2), (3, 2)]
    targets = np.concatenate([y for _, y in chunks])
    assert targets[:, 0].tolist() == list(range(1, 24))
    assert targets[:, 1].tolist() == list(range(25, 48))
    for x, y in chunks:
        assert np.array_equal(x[1:], y[:-1])


def test_eval_chunks_reject_too_little_data_before_iterating():
    with pytest.raises(DataError, match="has 5 tokens"):
        eval_chunks(np.arange(5), batch_size=4, seq_len=10)
