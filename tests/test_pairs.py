"""The encoder–decoder tasks: copy, reverse, sort and written dates → ISO, generated."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from rnnlab.data.pairs import (
    DATE_FORMS,
    END,
    START,
    copy,
    dates,
    pair_data,
    reverse,
    sort_letters,
    written_date,
)
from rnnlab.errors import ConfigError


def decoded(data, row):
    """The source and target texts of a row, read back from the ids."""
    source = data.source_vocab.decode(data.sources[row, : data.source_lengths[row]])
    target = data.target_vocab.decode(data.targets[row, : data.target_lengths[row]])
    return source, target


def test_copy_reverse_and_sort_give_what_they_say_with_the_markers_around_the_target():
    tasks = ((copy, list), (reverse, lambda s: s[::-1]), (sort_letters, sorted))
    for task, transform in tasks:
        data = task(50, 12, min_length=3, seed=1)
        assert len(data) == 50 and data.sources.shape == (50, 12)
        assert data.source_lengths.min() >= 3 and data.source_lengths.max() <= 12
        for row in range(len(data)):
            source, target = decoded(data, row)
            assert source == data.source_texts[row]
            assert target == START + "".join(transform(source)) + END
            assert (data.sources[row, len(source) :] == 0).all()
            padding = data.targets[row, data.target_lengths[row] :]
            assert (padding == data.target_vocab.encode(END)[0]).all()


def test_the_same_seed_gives_the_same_pairs_and_a_fixed_vocabulary():
    a, b, c = reverse(20, 8, seed=3), reverse(20, 8, seed=3), reverse(20, 8, seed=4)
    assert a.source_texts == b.source_texts and a.source_texts != c.source_texts
    assert a.source_vocab == c.source_vocab and a.target_vocab == c.target_vocab


def test_written_dates_are_read_back_to_their_iso_day():
    data = dates(300, seed=0)
    seen_forms = set()
    for source, target in zip(data.source_texts, data.target_texts, strict=True):
        day = datetime.date.fromisoformat(target)
        forms = [k for k in range(len(DATE_FORMS)) if written_date(day, k) == source]
        assert forms, (source, target)  # every source is one of the forms of its day
        seen_forms.update(forms)
    assert len(seen_forms) == len(DATE_FORMS)  # and every form occurs
    assert written_date(datetime.date(1999, 3, 3), 0) == "the 3rd of March, 1999"
    assert written_date(datetime.date(2011, 11, 11), 4) == "11th November 2011"
    assert written_date(datetime.date(1999, 3, 3), 7) == "Wednesday, March 3, 1999"


def test_test_dates_are_never_training_dates():
    train, test = dates(3000, "train", seed=0), dates(3000, "test", seed=0)
    train_days = {datetime.date.fromisoformat(t).toordinal() for t in train.target_texts}
    test_days = {datetime.date.fromisoformat(t).toordinal() for t in test.target_texts}
    assert not train_days & test_days
    assert all(day % 10 == 0 for day in test_days)
    years = [int(t[:4]) for t in train.target_texts]
    assert min(years) >= 1900 and max(years) <= 2099 and max(years) - min(years) > 150


def test_bad_requests_are_named():
    with pytest.raises(ConfigError, match="split must be 'train' or 'test'"):
        dates(3, "validation")
    with pytest.raises(ConfigError, match="min_length must be at most length"):
        reverse(3, 4, min_length=5)
    with pytest.raises(ConfigError, match="n must be a positive integer"):
        sort_letters(0, 4)
    data = reverse(2, 3)
    with pytest.raises(ConfigError, match="one target each"):
        pair_data(["ab"], [], data.source_vocab, data.target_vocab)
    with pytest.raises(ConfigError, match="START and END"):
        pair_data(["ab"], ["ba"], data.source_vocab, data.source_vocab)
    assert np.issubdtype(data.targets.dtype, np.integer)
