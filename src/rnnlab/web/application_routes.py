"""The applications panel's part of the JSON API (mounted by ``rnnlab.web.app``).

    POST /api/apps/forecast            ForecastSettings → that forecaster (made if new)
    POST /api/apps/classify            ClassifySettings → that genre classifier
    POST /api/apps/complete            CompleteSettings → that word model
    GET  /api/apps/models/{id}?since=N its settings, progress and, once trained, numbers
    POST /api/apps/models/{id}/train   train it from scratch in the background (409 while
                                       anything trains)
    POST /api/apps/models/{id}/stop    stop its training
    POST /api/apps/forecast/view       ForecastView → forecast, naive forecasts, errors
    POST /api/apps/classify/text       ClassifyText → each genre's probability
    POST /api/apps/complete/next       NextWords → the likeliest next words

Refusals are those of the rest of the API: 422 for invalid fields, 400 for what the
model refuses, 404 for an unknown model, 409 while something else trains.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from rnnlab.web.application_requests import (
    ClassifySettings,
    ClassifyText,
    CompleteSettings,
    ForecastSettings,
    ForecastView,
    NextWords,
)
from rnnlab.web.application_views import classify_view, forecast_view, next_words_view
from rnnlab.web.applications import Applications
from rnnlab.web.schemas import ModelId

#: the paths that compute (queued with the lab's other expensive requests)
COMPUTED_PATHS = frozenset(
    {"/api/apps/forecast/view", "/api/apps/classify/text", "/api/apps/complete/next"}
)


def application_router(apps: Applications) -> APIRouter:
    """The routes above, over ``apps``."""
    router = APIRouter(prefix="/api/apps")

    @router.post("/forecast")
    def forecaster(settings: ForecastSettings) -> dict[str, Any]:
        return apps.ensure(settings).status()

    @router.post("/classify")
    def classifier(settings: ClassifySettings) -> dict[str, Any]:
        return apps.ensure(settings).status()

    @router.post("/complete")
    def word_model(settings: CompleteSettings) -> dict[str, Any]:
        return apps.ensure(settings).status()

    @router.get("/models/{model_id}")
    def status(
        model_id: ModelId, since: Annotated[int, Query(ge=0, le=10**7)] = 0
    ) -> dict[str, Any]:
        return apps.get(model_id).status(since)

    @router.post("/models/{model_id}/train")
    def train(model_id: ModelId) -> dict[str, Any]:
        return apps.train(model_id)

    @router.post("/models/{model_id}/stop")
    def stop(model_id: ModelId) -> dict[str, Any]:
        return apps.stop(model_id)

    @router.post("/forecast/view")
    def forecast(request: ForecastView) -> dict[str, Any]:
        model = apps.trained(request.model, "forecast")
        with model.lock:
            view = forecast_view(model.outcome, model.season, request.horizon, request.start)
        return view | {"summary": model.summary}

    @router.post("/classify/text")
    def classify(request: ClassifyText) -> dict[str, Any]:
        model = apps.trained(request.model, "classify")
        with model.lock:
            return classify_view(model.outcome.model, request.text)

    @router.post("/complete/next")
    def next_words(request: NextWords) -> dict[str, Any]:
        model = apps.trained(request.model, "complete")
        with model.lock:
            return next_words_view(model.outcome.model, request.text, request.k)

    return router
