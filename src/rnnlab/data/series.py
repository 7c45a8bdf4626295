"""Univariate time series for forecasting: shipped, generated, or one column of a CSV file.

    sunspots()                      yearly sunspot numbers 1700–2008, 309 values (shipped)
    mackey_glass(n, seed)           the Mackey-Glass delay equation with τ = 17 (generated)
    noisy_sines(n, seed)            a sum of sines plus Gaussian noise (generated)
    read_csv_column(path, column)   one numeric column of any CSV file
    load_series(name_or_path, ...)  any of the above by name, as a ``Series``

The generated series come from ``rnnlab.data.synthetic``; the sunspot numbers are the
public-domain NOAA/NGDC yearly series as distributed with statsmodels, shipped in
``rnnlab/data/series/sunspots_yearly.csv`` (its header names the source). A CSV file
may start with ``#`` comment lines; its first other line names the columns.
Imports nothing of rnnlab but ``rnnlab.errors`` and ``rnnlab.data.synthetic``.
"""

from __future__ import annotations

import csv
import importlib.resources
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.data import synthetic
from rnnlab.errors import ConfigError, DataError, check_positive_int

__all__ = [
    "SERIES",
    "Series",
    "load_series",
    "mackey_glass",
    "noisy_sines",
    "read_csv_column",
    "read_csv_text",
    "sunspots",
]

#: the series that need no file: name → what it is
SERIES = {
    "mackey-glass": "Mackey-Glass delay equation, τ = 17, sampled every time unit",
    "sines": "sum of sines with Gaussian noise",
    "sunspots": "yearly sunspot numbers 1700–2008 (NOAA/NGDC, public domain)",
}
_ALIASES = {"mackey_glass": "mackey-glass", "mg": "mackey-glass", "noisy-sines": "sines"}


@dataclass(frozen=True)
class Series:
    """A univariate series: ``values`` (N,) float64 in original units, in time order.

    ``index`` (N,) labels the time points (years for sunspots, row numbers otherwise);
    ``name`` says what was loaded and ``source`` where it came from."""

    name: str
    values: np.ndarray
    index: np.ndarray
    source: str


# ----------------------------------------------------------------------------- csv


def _data_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _parse_number(cell: str, where: str) -> float:
    cell = cell.strip()
    try:
        value = float(cell)
    except ValueError:
        shown = repr(cell) if cell else "an empty value"
        raise DataError(
            f"{where}: {shown} is not a number; every value of the column must be numeric "
            "(remove or fill in missing values)"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {cell!r} is not a finite number")
    return value


def read_csv_text(text: str, column: str | None, name: str = "the CSV") -> tuple[np.ndarray, str]:
    """One numeric column of CSV ``text`` → (values (N,) float64, the column's name).

    ``column=None`` takes the only column (a CSV of several columns needs a name).
    DataError names the row and value that is not a number, and the columns that exist
    if ``column`` is not one of them."""
    rows = list(csv.reader(io.StringIO("\n".join(_data_lines(text)))))
    if not rows:
        raise DataError(f"{name} is empty; expected a header line naming the columns, then rows")
    header = [h.strip() for h in rows[0]]
    if column is None:
        if len(header) != 1:
            raise DataError(
                f"{name} has {len(header)} columns ({', '.join(header)}); name the one to "
                "forecast (--column NAME)"
            )
        column = header[0]
    if column not in header:
        raise DataError(
            f"{name} has no column {column!r}; its columns are: {', '.join(map(repr, header))}"
        )
    j = header.index(column)
    if len(rows) < 2:
        raise DataError(f"{name} has a header but no rows of data")
    values = []
    for number, row in enumerate(rows[1:], start=1):
        where = f"{name}, column {column!r}, data row {number}"
        if j >= len(row):
            raise DataError(f"{where}: the row has {len(row)} fields, expected {len(header)}")
        values.append(_parse_number(row[j], where))
    return np.array(values, dtype=np.float64), column


def read_csv_column(path: str | Path, column: str | None = None) -> np.ndarray:
    """The numeric column ``column`` of the CSV file at ``path``: (N,) float64."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such CSV file: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte offset {e.start})") from None
    return read_csv_text(text, column, name=str(path))[0]


# ----------------------------------------------------------------------------- series


def sunspots() -> Series:
    """Yearly mean sunspot numbers, 1700–2008 (309 values; public domain, NOAA/NGDC)."""
    resource = importlib.resources.files("rnnlab.data") / "series" / "sunspots_yearly.csv"
    text = resource.read_text(encoding="utf-8")
    values, _ = read_csv_text(text, "sunspots", name="sunspots_yearly.csv")
    years, _ = read_csv_text(text, "year", name="sunspots_yearly.csv")
    return Series("sunspots", values, years.astype(np.int64), SERIES["sunspots"])


def mackey_glass(n: int, seed: int = 0) -> Series:
    """``n`` points of the Mackey-Glass series with τ = 17, one per time unit."""
    n = check_positive_int("n", n)
    values = np.asarray(synthetic.mackey_glass(n, tau=17, seed=seed), dtype=np.float64)
    return Series("mackey-glass", values.reshape(-1), np.arange(n), SERIES["mackey-glass"])


def noisy_sines(n: int, seed: int = 0) -> Series:
    """``n`` points of a sum of sines with Gaussian noise."""
    n = check_positive_int("n", n)
    values = np.asarray(synthetic.noisy_sines(n, seed=seed), dtype=np.float64)
    return Series("sines", values.reshape(-1), np.arange(n), SERIES["sines"])


def load_series(
    name_or_path: str | Path,
    column: str | None = None,
    length: int = 5000,
    seed: int = 0,
) -> Series:
    """A series by name (``mackey-glass``, ``sines``, ``sunspots``) or a CSV path.

    ``length`` and ``seed`` apply to the generated series; ``column`` to a CSV file."""
    key = _ALIASES.get(str(name_or_path), str(name_or_path))
    if key in SERIES and column is not None:
        raise ConfigError(f"column applies to a CSV file, not to the built-in series {key!r}")
    if key == "mackey-glass":
        return mackey_glass(length, seed)
    if key == "sines":
        return noisy_sines(length, seed)
    if key == "sunspots":
        return sunspots()
    path = Path(name_or_path)
    if not path.exists():
        raise DataError(
            f"no such series or file: {name_or_path!r}; built-in series: {', '.join(SERIES)}, "
            "or give the path of a CSV file (with --column NAME)"
        )
    values = read_csv_column(path, column)
    label = f"{path.name}:{column}" if column else path.name
    return Series(label, values, np.arange(len(values)), str(path))
