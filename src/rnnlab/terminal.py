"""Consoles that read well on a terminal and when piped (to a file, ``less``, ``grep``).

On a terminal rich fits the output to its width. Piped, rich would assume 80 columns
and cut table cells to fit ("0.00…"), so a piped console is ``PIPED_WIDTH`` wide
(unless ``COLUMNS`` says otherwise) and does not hard-wrap long lines: every number
arrives whole.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

#: the width of a piped console: wider than any table rnnlab prints
PIPED_WIDTH = 200


def make_console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr), sized for a terminal or a pipe."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty())
    width = PIPED_WIDTH if piped and "COLUMNS" not in os.environ else None
    return Console(stderr=stderr, width=width, soft_wrap=piped)
