"""The requests of the applications panel: pydantic models with every field bounded,
and what a model's settings mean to its application.

As in ``rnnlab.web.schemas``: unknown fields are refused, numbers are strict and finite,
every size has a limit from ``rnnlab.web.limits``. The settings of a model (``*Settings``)
say what is trained, as the options of ``rnnlab forecast / classify / complete train``
(``forecast_options`` …); the other requests ask a trained model a question.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rnnlab.applications.classification import ClassifyOptions
from rnnlab.applications.completion import CompleteOptions
from rnnlab.applications.forecasting import ForecastOptions
from rnnlab.cells import CELLS
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


# ----------------------------------------------------------------------------- meaning

Settings = ForecastSettings | ClassifySettings | CompleteSettings
APPS = {ForecastSettings: "forecast", ClassifySettings: "classify", CompleteSettings: "complete"}
#: values of each series: the first 80 % train, the rest test
SERIES_LENGTH = {"sines": 600, "mackey-glass": 600, "sunspots": 309}
GENRE_TOKENS = 40  #: words per passage of the genre classifier


def forecast_options(s: ForecastSettings) -> ForecastOptions:
    """The ``rnnlab forecast train`` options of these settings: batches of 32, the
    application's learning rate and clip, closed-loop metrics up to the longest horizon."""
    return ForecastOptions(
        series=s.series,
        length=SERIES_LENGTH[s.series],
        window=s.window,
        cell=s.cell,
        hidden=s.hidden_size,
        steps=s.steps,
        batch=32,
        horizon=limits.MAX_FORECAST_HORIZON,
        seed=s.seed,
    )


def classify_options(s: ClassifySettings) -> ClassifyOptions:
    """The ``rnnlab classify train --data genre`` options of these settings: passages of
    40 words, embeddings of 16, whole plays held out as the application does."""
    return ClassifyOptions(
        data="genre",
        cell=s.cell,
        hidden=s.hidden_size,
        embedding_dim=16,
        tokens=GENRE_TOKENS,
        epochs=s.epochs,
        seed=s.seed,
    )


def complete_options(s: CompleteSettings) -> CompleteOptions:
    """The ``rnnlab complete train`` options of these settings: 2,000 words, embeddings of
    32, 16 streams of 16 words, the last 2 % of the text held out (its ~25,000 words score
    the model in a second or two), validated at the end only, within the time budget."""
    return CompleteOptions(
        vocab_size=2000,
        val_fraction=0.02,
        cell=s.cell,
        hidden=s.hidden_size,
        embedding_dim=32,
        seq_len=16,
        batch=16,
        steps=s.steps,
        minutes=limits.MAX_APP_TRAIN_SECONDS / 60,
        eval_every=s.steps,
        eval_tokens=20_000,
        seed=s.seed,
    )


def model_id(settings: Settings) -> str:
    """The model's name, made of its settings."""
    s, cell = settings, settings.cell
    if isinstance(s, ForecastSettings):
        return f"forecast-{s.series}-{cell}-{s.hidden_size}-w{s.window}-{s.steps}-s{s.seed}"
    if isinstance(s, ClassifySettings):
        return f"classify-genre-{cell}-{s.hidden_size}-e{s.epochs}-s{s.seed}"
    return f"complete-words-{cell}-{s.hidden_size}-{s.steps}-s{s.seed}"


def title(settings: Settings) -> str:
    """The model for people: 'LSTM-32 forecaster of sines, 500 steps'."""
    s, name = settings, f"{CELLS[settings.cell].title}-{settings.hidden_size}"
    if isinstance(s, ForecastSettings):
        return f"{name} forecaster of {s.series}, windows of {s.window}, {s.steps} steps"
    if isinstance(s, ClassifySettings):
        return f"{name} genre classifier, {s.epochs} epoch{'s' * (s.epochs > 1)}"
    return f"{name} word model, {s.steps} steps"
