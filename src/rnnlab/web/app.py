"""The web lab's HTTP face: a FastAPI app serving the page and a small JSON API.

    GET  /                         the page (static files under /static)
    GET  /api/health               {"ok": true}
    GET  /api/lab                  limits, cells, tasks and the models there are
    POST /api/models               ModelSpec → the model with those settings (made if new)
    GET  /api/models/{id}          its info
    POST /api/models/{id}/train    TrainRequest → start training in the background
    POST /api/models/{id}/stop     stop it after the current update
    POST /api/models/{id}/reset    make it fresh again (untrained, same seed); 409 while it trains
    GET  /api/models/{id}/training?since=N   progress and the losses from index N on
    GET  /api/runs                 the loss and validation curves of every run (the lab's
                                   models, and the metrics.jsonl of the runs it was given)
    GET  /api/examples, POST /api/run, /api/gradients, /api/connectivity, /api/match,
         /api/bptt, /api/attention, /api/next, /api/generate, /api/choose
                                   the panels' views of a model on a sequence, each from a
                                   snapshot (``view_routes`` says what each answers)
    …    /api/apps/...             the applications panel: a forecaster, a genre classifier
                                   and a word model trained here (``application_routes``)

Every request is validated (``rnnlab.web.schemas``) and bounded (``rnnlab.web.limits``,
bodies over ``MAX_BODY_BYTES`` included). Every refusal is a 4xx with ``{"error": ...}``:
422 for invalid fields, 400 for bad JSON and for what rnnlab itself refuses (unknown
characters, a sequence of the wrong kind), 403 for a state-changing request from
another site, 404 for an unknown model, 409 while another model trains, 413 for a body
too large. The expensive requests (``COMPUTED``) are computed ``COMPUTE_WORKERS`` at a
time, at most ``MAX_WAITING`` wait, and more are answered 503: so ``/api/health`` and
the page stay quick under load. HEAD is answered for every GET.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnnlab.cells import CELLS
from rnnlab.errors import RnnlabError
from rnnlab.models.seq2seq import ATTENTION
from rnnlab.web import limits
from rnnlab.web.application_routes import COMPUTED_PATHS, application_router
from rnnlab.web.applications import Applications
from rnnlab.web.lab import Lab
from rnnlab.web.pairs import PAIR_TASKS
from rnnlab.web.runs import runs_view
from rnnlab.web.schemas import ModelId, ModelSpec, TrainRequest
from rnnlab.web.sequences import TASKS
from rnnlab.web.view_routes import VIEW_PATHS, view_router

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
    ),
}


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, by header or while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            response = _error(413, f"the request body is over {self.max_bytes:,} bytes")
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # FastAPI passes HTTPException through as is
                raise HTTPException(413, f"the request body is over {self.max_bytes:,} bytes")
            return message

        await self.app(scope, limited, send)


#: the paths whose requests are computed under the queue (``ComputeQueue``)
COMPUTED = frozenset({"/api/runs", "/api/models"}) | VIEW_PATHS | COMPUTED_PATHS
#: methods that change nothing, and so need no same-origin check
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ComputeQueue:
    """Let ``workers`` requests to ``paths`` compute at once and ``max_waiting`` wait;
    answer any more with 503 and Retry-After. The others pass untouched."""

    def __init__(self, app: ASGIApp, paths: frozenset[str], workers: int, max_waiting: int) -> None:
        self.app, self.paths, self.max_waiting = app, paths, max_waiting
        self.slots = asyncio.Semaphore(workers)
        self.waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if self.slots.locked() and self.waiting >= self.max_waiting:
            response = _error(503, "the lab is busy with other requests; try again shortly")
            response.headers["Retry-After"] = "1"
            await response(scope, receive, send)
            return
        self.waiting += 1
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
        try:  # held until the answer is sent, streamed ones too
            await self.app(scope, receive, send)
        finally:
            self.slots.release()


class SameOrigin:
    """Answer 403 to a state-changing request (POST, …) that a page of another site made
    the browser send (a cross-site form or fetch): the browser says so in Sec-Fetch-Site,
    or its Origin names another host than the request's Host. Requests with neither
    header (curl, scripts) are not from a browser page and pass."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        origin = headers.get(b"origin", b"").decode("latin-1").lower()
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if site not in ("", "same-origin", "none") or (
            origin and origin.split("://", 1)[-1] != host
        ):
            response = _error(403, "a request from another site cannot change the lab")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HeadAsGet:
    """Answer HEAD as the GET of the same path would be answered, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class HostCheck:
    """Answer 400 unless the Host header names one of ``allowed`` (any port).

    A page on another site can make the browser send requests to 127.0.0.1 under its own
    host name (DNS rebinding); checking the name keeps those out. IPv6 hosts come in
    brackets ("[::1]:8000"), which is why this does not simply split at the first colon.
    """

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app, self.allowed = app, {host.strip("[]").lower() for host in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
        name = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
        if name not in self.allowed:
            response = _error(400, f"this lab answers only to {sorted(self.allowed)}")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)


def _validation_message(error: RequestValidationError) -> tuple[int, str]:
    """(status, one readable line) for pydantic's list of errors."""
    problems = []
    for item in error.errors():
        if item.get("type") == "json_invalid":
            return 400, f"the request body is not valid JSON ({item.get('msg', '')})"
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        if item.get("type") == "missing" and not where:
            return 422, "the request needs a JSON object body"
        problems.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return 422, "; ".join(problems) or "invalid request"


def create_app(lab: Lab | None = None, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The app over ``lab`` (a fresh ``Lab()`` by default). ``allowed_hosts``: the Host
    headers to accept (``rnnlab serve`` passes the loopback names when it binds
    loopback, which stops DNS-rebinding pages from reaching the API)."""
    lab = lab or Lab()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        lab.close()  # stop any training thread when the server shuts down
        apps.close()

    app = FastAPI(
        title="rnnlab web lab", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.lab = lab
    apps = app.state.apps = Applications(lab)
    app.add_middleware(
        ComputeQueue,
        paths=COMPUTED,
        workers=limits.COMPUTE_WORKERS,
        max_waiting=limits.MAX_WAITING,
    )
    app.add_middleware(HeadAsGet)
    app.add_middleware(SameOrigin)
    if allowed_hosts:
        app.add_middleware(HostCheck, allowed=allowed_hosts)
    app.add_middleware(BodyLimit, max_bytes=limits.MAX_BODY_BYTES)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(*_validation_message(error))

    @app.exception_handler(RnnlabError)
    async def refused(request: Request, error: RnnlabError) -> JSONResponse:
        return _error(getattr(error, "status", 400), str(error))

    @app.exception_handler(StarletteHTTPException)  # also FastAPI's, and the router's 404/405
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    # -- page ----------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(view_router(lab))  # the panels' views
    app.include_router(application_router(apps))  # the applications panel

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    # -- lab and models ------------------------------------------------------------
    @app.get("/api/health")
    async def health() -> dict[str, Any]:  # on the event loop: no worker thread to wait for
        return {"ok": True}

    @app.get("/api/lab")
    def lab_info() -> dict[str, Any]:
        return {
            "limits": limits.as_json(),
            "cells": list(CELLS),  # the registry's, in its order
            "cell_info": {
                cell.name: {"title": cell.title, "gates": cell.gates} for cell in CELLS.values()
            },
            "tasks": {"text": "Text"} | {name: info.title for name, info in TASKS.items()},
            "pair_tasks": {name: info.title for name, info in PAIR_TASKS.items()},
            "attention_kinds": list(ATTENTION),
            "checkpoint": lab.checkpoint_id,
            "models": lab.models(),
        }

    @app.post("/api/models")
    def make_model(spec: ModelSpec) -> dict[str, Any]:
        return lab.ensure(spec).info()

    @app.get("/api/models/{model_id}")
    def model_info(model_id: ModelId) -> dict[str, Any]:
        return lab.get(model_id).info()

    @app.post("/api/models/{model_id}/train")
    def train(model_id: ModelId, request: TrainRequest) -> dict[str, Any]:
        return lab.train(model_id, request.steps, request.lr)

    @app.post("/api/models/{model_id}/stop")
    def stop(model_id: ModelId) -> dict[str, Any]:
        return lab.stop(model_id)

    @app.post("/api/models/{model_id}/reset")
    def reset(model_id: ModelId) -> dict[str, Any]:
        return lab.reset(model_id).info()

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        return runs_view(lab)

    @app.get("/api/models/{model_id}/training")
    def training(
        model_id: ModelId, since: Annotated[int, Query(ge=0, le=10**7)] = 0
    ) -> dict[str, Any]:
        return lab.get(model_id).status(since)

    return app
