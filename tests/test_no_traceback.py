"""No traceback reaches a user: rnnlab's and the system's errors are one line, a bug is
one line and a log file, and ``--debug`` shows the traceback."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from rnnlab import cli
from rnnlab.errors import DataError


def broken_info(error: BaseException):
    """An ``info`` command that fails with ``error``."""

    def info_command(checkpoint: Path) -> None:
        raise error

    return info_command


@pytest.fixture
def failing(monkeypatch):
    """Make ``rnnlab info`` raise a given exception."""

    def fail_with(error: BaseException) -> None:
        command = next(c for c in cli.app.registered_commands if c.name == "info")
        monkeypatch.setattr(command, "callback", broken_info(error))

    return fail_with


def test_an_rnnlab_error_is_one_line_with_status_2(failing, capsys):
    failing(DataError("corpus.txt is empty; a corpus needs some text"))
    assert cli.run_command(["info", "x"]) == 2
    assert capsys.readouterr().err == "error: corpus.txt is empty; a corpus needs some text\n"


def test_a_system_error_names_the_path_and_the_cause(failing, capsys):
    failing(OSError(errno.ENOSPC, "No space left on device", "runs/char/last.safetensors"))
    assert cli.run_command(["info", "x"]) == 2
    assert capsys.readouterr().err == "error: runs/char/last.safetensors: No space left on device\n"


def test_a_bug_prints_one_line_and_where_its_traceback_went(failing, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    failing(ZeroDivisionError("division by zero"))
    assert cli.run_command(["info", "x"]) == 70
    stderr = capsys.readouterr().err
    assert stderr.startswith("internal error: ZeroDivisionError: division by zero\n")
    assert "Traceback" not in stderr and "--debug" in stderr
    (log,) = (tmp_path / "rnnlab-errors").glob("error-*.log")
    assert str(log) in stderr
    text = log.read_text()
    assert text.startswith("rnnlab info x") and "Traceback" in text and "ZeroDivisionError" in text


def test_debug_shows_the_traceback(failing):
    failing(ZeroDivisionError("division by zero"))
    with pytest.raises(ZeroDivisionError):
        cli.run_command(["info", "x"], debug=True)


def test_debug_is_an_option_of_every_command(failing, monkeypatch):
    failing(ZeroDivisionError("division by zero"))
    with pytest.raises(ZeroDivisionError):
        cli.main(["info", "x", "--debug"])
    monkeypatch.setenv("RNNLAB_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["info", "x"])


def test_a_usage_error_is_typers_and_has_status_2(capsys):
    assert cli.run_command(["train", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err
