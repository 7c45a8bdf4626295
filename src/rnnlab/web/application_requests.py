"""The requests of the applications panel: pydantic models with every field bounded.

As in ``rnnlab.web.schemas``: unknown fields are refused, numbers are strict and finite,
every size has a limit from ``rnnlab.web.limits``. The settings of a model (``*Settings``)
say what is trained; the other requests ask a trained model a question.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rnnlab.web import limits
from rnnlab.web.schemas import Cell, ModelId, Request, Seed

#: the series a forecaster can learn: generated, or shipped with rnnlab (no download)
SeriesName = Literal["sines", "mackey-glass", "sunspots"]
Hidden = Annotated[int, Field(ge=1, le=limits.MAX_APP_HIDDEN, strict=True)]


class ForecastSettings(Request):
    """A forecaster of ``series`` (``rnnlab forecast train``) with these sizes and steps."""

    series: SeriesName = "sines"
    cell: Cell = "lstm"
    hidden_size: Hidden = 32
    window: Annotated[
        int, Field(ge=limits.MIN_FORECAST_WINDOW, le=limits.MAX_FORECAST_WINDOW, strict=True)
    ] = 24
    steps: Annotated[int, Field(ge=1, le=limits.MAX_FORECAST_STEPS, strict=True)] = 500
    seed: Seed = 0


class ClassifySettings(Request):
    """A genre classifier of Shakespeare passages (``rnnlab classify train --data genre``)."""

    cell: Cell = "lstm"
    hidden_size: Hidden = 32
    epochs: Annotated[int, Field(ge=1, le=limits.MAX_CLASSIFY_EPOCHS, strict=True)] = 1
    seed: Seed = 0


class CompleteSettings(Request):
    """A word-level language model of the lab's text (``rnnlab complete train``)."""

    cell: Cell = "lstm"
    hidden_size: Hidden = 64
    steps: Annotated[int, Field(ge=1, le=limits.MAX_COMPLETE_STEPS, strict=True)] = 300
    seed: Seed = 0


class ForecastView(Request):
    """The closed-loop forecast of ``horizon`` values from the ``start``-th test origin."""

    model: ModelId
    horizon: Annotated[int, Field(ge=1, le=limits.MAX_FORECAST_HORIZON, strict=True)] = 24
    #: the origin, counted from the first value of the test part
    start: Annotated[int, Field(ge=0, le=10_000, strict=True)] = 0


class ClassifyText(Request):
    """The class probabilities of ``text`` under the classifier ``model``."""

    model: ModelId
    text: Annotated[str, Field(min_length=1, max_length=limits.MAX_CLASSIFY_CHARS)]


class NextWords(Request):
    """The ``k`` most likely words after ``text`` under the word model ``model``."""

    model: ModelId
    text: Annotated[str, Field(min_length=1, max_length=limits.MAX_COMPLETE_PROMPT)]
    k: Annotated[int, Field(ge=1, le=limits.MAX_NEXT_WORDS, strict=True)] = 10
