"""The applications panel's models: a forecaster, a genre classifier and a word model,
each trained from scratch in the background by the application's own run function.

    forecast   ``run_forecast``  (``rnnlab forecast train``)   a series of a few hundred values
    classify   ``run_classify``  (``rnnlab classify train``)   Shakespeare passages by genre
    complete   ``run_complete``  (``rnnlab complete train``)   a word model of the lab's text

A model is named by its settings (``forecast-sines-lstm-32-w24-500-s0``): asking for the
same settings again gives the same model, trained or not; at most ``MAX_APP_MODELS`` are
kept. Training shares the lab's one training slot (``Lab.claim``): while a lab model
trains, an application waits its turn (409), and the other way round. Progress comes from
the trainer's reports; a stop, or ``MAX_APP_TRAIN_SECONDS``, ends a forecaster's or a
classifier's run without a model (the word model has a time budget of its own and keeps
what it learned). Questions are answered from the finished model only, one at a time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnnlab.applications.classification import (
    ClassifyOptions,
    Split,
    load_split,
    run_classify,
    split_plays,
)
from rnnlab.applications.completion import run_complete
from rnnlab.applications.forecasting import run_forecast
from rnnlab.data.labelled import genre_plays, passages, speech_text
from rnnlab.errors import RnnlabError
from rnnlab.web import limits
from rnnlab.web.application_requests import (
    APPS,
    Settings,
    classify_options,
    complete_options,
    forecast_options,
    model_id,
    title,
)
from rnnlab.web.application_views import (
    classify_summary,
    complete_summary,
    forecast_summary,
    readable,
    season_of,
)
from rnnlab.web.entry import BusyError, LabError, UnknownModelError
from rnnlab.web.lab import Lab

EXAMPLES_PER_GENRE = 2  #: held-out passages of each genre offered to pick


class StoppedError(RnnlabError):
    """Raised from the trainer's report to end a run (asked to stop, or out of time)."""


@dataclass
class AppModel:
    """One application's model: its settings, its training, then what it learned."""

    id: str
    app: str  #: forecast, classify or complete
    settings: Settings
    outcome: Any = None  #: the application's outcome, once trained
    summary: dict[str, Any] | None = None  #: its numbers for the page
    season: int = 1  #: a forecaster's seasonal-naive lag
    running: bool = False
    phase: str = ""
    step: int = 0
    target: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)  #: one question at a time
    last_used: float = field(default_factory=time.monotonic)

    def status(self, since: int = 0) -> dict[str, Any]:
        """Settings, progress (the losses from index ``since`` on) and, once trained, the
        numbers."""
        losses = self.losses[since:]
        return {
            "id": self.id,
            "app": self.app,
            "title": title(self.settings),
            "settings": self.settings.model_dump(),
            "running": self.running,
            "phase": self.phase,
            "step": self.step,
            "target": self.target,
            "message": self.message,
            "seconds": round(self.seconds, 2),
            "since": since,
            "total": since + len(losses),
            "losses": [[step, round(loss, 5)] for step, loss in losses],
            "trained": self.outcome is not None,
            "summary": self.summary,
        }


class Applications:
    """The application models of a lab session, trained in the lab's training slot."""

    def __init__(self, lab: Lab, max_models: int = limits.MAX_APP_MODELS) -> None:
        self.lab = lab
        self.max_models = max_models
        self._models: OrderedDict[str, AppModel] = OrderedDict()
        self._lock = threading.Lock()
        self._genre_lock = threading.Lock()
        self._genre: tuple[Split, list[dict[str, Any]]] | None = None

    def ensure(self, settings: Settings) -> AppModel:
        """The model with these settings (made, untrained, if it is not there)."""
        name = model_id(settings)
        with self._lock:
            if name not in self._models:
                idle = [m for m in self._models.values() if not m.running]
                while len(self._models) >= self.max_models and idle:
                    oldest = min(idle, key=lambda m: m.last_used)
                    idle.remove(oldest)
                    del self._models[oldest.id]
                self._models[name] = AppModel(name, APPS[type(settings)], settings)
            return self._touch(name)

    def _touch(self, name: str) -> AppModel:
        model = self._models[name]
        model.last_used = time.monotonic()
        self._models.move_to_end(name)
        return model

    def get(self, name: str) -> AppModel:
        """The model ``name``, or UnknownModelError (404)."""
        with self._lock:
            if name not in self._models:
                raise UnknownModelError(
                    f"unknown application model {name!r}; make it first with "
                    "POST /api/apps/forecast, /api/apps/classify or /api/apps/complete"
                )
            return self._touch(name)

    def trained(self, name: str, app: str) -> AppModel:
        """The model ``name`` of application ``app``, trained; LabError otherwise."""
        model = self.get(name)
        if model.app != app:
            raise LabError(f"model {name!r} is a {model.app} model, not a {app} model")
        if model.outcome is None:
            raise LabError(f"model {name!r} is not trained yet; train it first")
        return model

    # -- training ----------------------------------------------------------------
    def train(self, name: str) -> dict[str, Any]:
        """Start training ``name`` from scratch in the background; its status. 409 while
        anything trains (a lab model, or another application model)."""
        model = self.get(name)
        if model.running:
            raise BusyError(f"model {name!r} is training already")
        self.lab.claim(name)
        model.running, model.phase, model.message = True, "preparing the data", ""
        model.step, model.losses, model.seconds = 0, [], 0.0
        model.target = getattr(model.settings, "steps", 0)
        model.stop.clear()
        model.thread = threading.Thread(target=self._run, args=(model,), daemon=True)
        model.thread.start()
        return model.status()

    def stop(self, name: str) -> dict[str, Any]:
        """Ask ``name``'s training to stop at its next report; its status."""
        model = self.get(name)
        model.stop.set()
        return model.status(len(model.losses))

    def wait(self, name: str, timeout: float | None = None) -> None:
        """Block until ``name``'s training has finished (for scripts and tests)."""
        thread = self.get(name).thread
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        """Stop every training (the server is shutting down)."""
        for model in list(self._models.values()):
            model.stop.set()
        for model in list(self._models.values()):
            if model.thread is not None:
                model.thread.join(5)

    def _run(self, model: AppModel) -> None:
        """The training thread: the application's run function, with progress."""
        started = time.monotonic()
        own_budget = model.app == "complete"  # run_complete stops itself at the time budget
        deadline = started + limits.MAX_APP_TRAIN_SECONDS

        def report(event: dict[str, Any]) -> None:
            if event.get("event") == "train":
                model.phase, model.step = "training", int(event["step"])
                model.losses.append((model.step, float(event["loss"])))
            model.seconds = time.monotonic() - started
            if model.stop.is_set():
                raise StoppedError(f"stopped at step {model.step}")
            if not own_budget and time.monotonic() > deadline:
                raise StoppedError(
                    f"stopped after {limits.MAX_APP_TRAIN_SECONDS:.0f} s, the time one "
                    "training may take; use fewer steps or a smaller model"
                )

        try:
            trainers = {"forecast": self._forecast, "classify": self._classify}
            trainers["complete"] = self._complete
            trainers[model.app](model, report)
        except StoppedError as stopped:
            model.message = f"{stopped}; nothing was kept (train again to start over)"
        except RnnlabError as error:
            model.message = str(error)
        except Exception as error:  # the page shows it; a thread must not die silently
            model.message = f"training stopped: {error}"
        finally:
            model.seconds = time.monotonic() - started
            model.phase, model.running = "", False
            self.lab.release(model.id)

    def _forecast(self, model: AppModel, report: Callable[[dict[str, Any]], None]) -> None:
        outcome = run_forecast(forecast_options(model.settings), report=report)
        train = outcome.series.values[: outcome.train_points]
        season = season_of(train, max_lag=min(len(train) // 4, 100))
        outcome.model.eval()
        model.step = outcome.train_result.step
        model.outcome, model.season = outcome, season
        model.summary = forecast_summary(outcome, season)

    def _classify(self, model: AppModel, report: Callable[[dict[str, Any]], None]) -> None:
        options = classify_options(model.settings)
        split, examples = self._genre_split(options)
        model.target = options.epochs * (
            len(split.y_train) // min(options.batch, len(split.y_train))
        )
        model.phase = "training"
        outcome = run_classify(options, report=report, split=split)
        outcome.model.eval()
        model.step = outcome.train_result.step
        model.outcome = outcome
        model.summary = classify_summary(outcome, examples)

    def _complete(self, model: AppModel, report: Callable[[dict[str, Any]], None]) -> None:
        outcome = run_complete(
            complete_options(model.settings), report=report, text=self.lab.corpus_text()
        )
        outcome.model.eval()
        model.step = outcome.train_result.step
        model.outcome = outcome
        model.summary = complete_summary(outcome)
        if outcome.train_result is not None and outcome.train_result.stopped == "time":
            model.message = (
                f"stopped after {limits.MAX_APP_TRAIN_SECONDS:.0f} s at step "
                f"{outcome.train_result.step}, the time one training may take"
            )

    def _genre_split(self, options: ClassifyOptions) -> tuple[Split, list[dict[str, Any]]]:
        """The genre split (the same for every classifier here: loaded once) and
        ``EXAMPLES_PER_GENRE`` passages of each genre's held-out plays, with their index
        among the held-out passages."""
        with self._genre_lock:
            if self._genre is None:
                split = load_split(options)
                held = split_plays(
                    genre_plays(options.others), options.test_fraction, options.split_seed
                )[1]
                examples, offset = [], 0
                for play, genre in held:
                    cut = passages(speech_text(play), options.tokens)
                    mine = sum(e["genre"] == genre for e in examples)
                    if mine < EXAMPLES_PER_GENRE and cut:
                        k = len(cut) // 3  # from the body of the play, past its opening
                        text = readable(cut[k])
                        examples.append(
                            {"index": offset + k, "play": play.title, "genre": genre, "text": text}
                        )
                    offset += len(cut)
                self._genre = (split, examples)
            return self._genre
