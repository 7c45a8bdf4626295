"""Every code block of the README and the documentation site works as written.

- ```python blocks run, page by page, each page's blocks in order in one namespace (as a
  reader would paste them), in a temporary directory;
- ```py blocks are fragments that need something a test machine has not (a cluster, a
  trained run of the reader's own) and are compiled, not run;
- every ``rnnlab ...`` command line of a ```bash block is parsed by the command line
  itself: the command exists and takes those options and arguments (the README's first
  two commands are also run by CI, as written).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer._click import exceptions  # typer's own copy of click, which its commands use

import rnnlab

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
PAGES = [p for p in PAGES if "results" not in p.relative_to(ROOT).parts]
BLOCK = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.S | re.M)


def blocks(page: Path, language: str) -> list[str]:
    """The page's code blocks in ``language``, dedented (a block may sit in a list)."""
    found = []
    for indent, lang, body in BLOCK.findall(page.read_text(encoding="utf-8")):
        if lang == language:
            found.append("".join(line[len(indent) :] for line in body.splitlines(True)))
    return found


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


PYTHON_PAGES = [p for p in PAGES if blocks(p, "python")]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_name)
def test_the_python_blocks_of_a_page_run_in_order(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/… of the examples go here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__doc_block__"}
    backend = rnnlab.get_backend()
    try:
        for number, source in enumerate(blocks(page, "python"), start=1):
            code = compile(source, f"{_name(page)}, python block {number}", "exec")
            exec(code, namespace)
    finally:
        rnnlab.set_backend(backend)  # a page may choose a backend for the rest of it


def test_the_fragments_compile():
    fragments = [(p, source) for p in PAGES for source in blocks(p, "py")]
    for page, source in fragments:
        compile(source, f"{_name(page)}, py fragment", "exec")


def command_lines(page: Path) -> list[str]:
    """Every ``rnnlab …`` command of the page's bash blocks (after ``&&`` too)."""
    lines = []
    for source in blocks(page, "bash"):
        for line in source.splitlines():
            code = line.split(" #")[0].strip()
            if code.startswith("#"):
                continue
            for part in code.split("&&"):
                words = shlex.split(part)
                if "rnnlab" in words:
                    lines.append(words[words.index("rnnlab") :])
    return lines


def _parse(words: list[str]) -> None:
    """Resolve ``rnnlab words…`` to its command and parse its arguments, without running
    it (the parser's own errors say what is wrong)."""
    from rnnlab import cli

    command = typer.main.get_command(cli.app)
    name, args, parent = "rnnlab", list(words[1:]), None
    while True:
        context = command.make_context(name, list(args), parent=parent)
        if not hasattr(command, "resolve_command"):  # a command, not a group
            return
        # a group keeps its subcommand's words (click's "protected" arguments) apart
        rest = [*getattr(context, "_protected_args", []), *context.args]
        if not rest:
            return
        name, command, args = command.resolve_command(context, rest)
        parent = context


COMMAND_PAGES = [p for p in PAGES if command_lines(p)]


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=_name)
def test_every_rnnlab_command_line_of_a_page_parses(page, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for words in command_lines(page):
        try:
            _parse(words)
        except exceptions.ClickException as error:
            pytest.fail(f"{_name(page)}: `{shlex.join(words)}`: {error.format_message()}")


def test_a_wrong_option_in_a_documented_command_is_caught():
    with pytest.raises(exceptions.NoSuchOption):
        _parse(["rnnlab", "train", "--hiden", "64"])
    with pytest.raises(exceptions.UsageError):
        _parse(["rnnlab", "nosuchcommand"])
    _parse(["rnnlab", "tag", "train", "--data", "ner.csv", "--lowercase"])


def test_every_page_with_code_is_covered():
    assert ROOT / "README.md" in PYTHON_PAGES and ROOT / "README.md" in COMMAND_PAGES
    assert len(PYTHON_PAGES) >= 4 and os.path.exists(ROOT / "docs" / "guide.md")
