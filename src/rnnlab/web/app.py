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
    GET  /api/examples?model=ID    the sequences to pick from for that model
    POST /api/run                  RunRequest → states, gates, outputs, equation terms
    POST /api/gradients            GradientRequest → ‖∂L/∂h_t‖ for RNN, LSTM and GRU
    POST /api/connectivity         ConnectivityRequest → ‖∂y_t/∂x_s‖ of one output step t to
                                   every earlier input, for RNN, LSTM and GRU
    POST /api/match                MatchRequest → the units on over a span of text and off
                                   around it, and where in the training text they switch on
    POST /api/bptt                 BpttRequest → BPTT written out for the plain RNN: per step
                                   L_t, ‖∂L/∂h_t‖, its term of ∂L/∂W, and one update
    POST /api/attention            AttentionRequest → an encoder–decoder's greedy decoding,
                                   step by step, with each step's attention weights
    POST /api/next                 NextRequest → the top-k next characters, which of them
                                   top-k / top-p let the sampler draw, and the drawn one
    POST /api/generate             GenerateRequest → characters, streamed as NDJSON lines
    POST /api/choose               ChooseRequest → how the next character is chosen, in five
                                   steps with the model's numbers: input, state, logits,
                                   softmax at the temperature, the draw
    GET  /api/runs                 the loss and validation curves of every run (the lab's
                                   models, and the metrics.jsonl of the runs it was given)
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
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnnlab.cells import CELLS
from rnnlab.errors import RnnlabError
from rnnlab.generate import iter_sample
from rnnlab.models.seq2seq import ATTENTION
from rnnlab.web import limits
from rnnlab.web.application_routes import COMPUTED_PATHS, application_router
from rnnlab.web.applications import Applications
from rnnlab.web.attention import attention_view
from rnnlab.web.bptt import bptt_view
from rnnlab.web.choose import choose_view
from rnnlab.web.connectivity import both_ways, connectivity_view
from rnnlab.web.distribution import next_view
from rnnlab.web.entry import LabError
from rnnlab.web.lab import Lab
from rnnlab.web.match import CorpusStates, layer_states, match_view, training_ids
from rnnlab.web.pairs import PAIR_TASKS
from rnnlab.web.runs import runs_view
from rnnlab.web.schemas import (
    AttentionRequest,
    BpttRequest,
    ChooseRequest,
    ConnectivityRequest,
    GenerateRequest,
    GradientRequest,
    MatchRequest,
    ModelId,
    ModelSpec,
    NextRequest,
    RunRequest,
    TrainRequest,
)
from rnnlab.web.sequences import TASKS
from rnnlab.web.views import check_known, examples, gradient_view, prepare, run_view

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
COMPUTED = frozenset(
    {
        "/api/run",
        "/api/gradients",
        "/api/connectivity",
        "/api/match",
        "/api/attention",
        "/api/bptt",
        "/api/next",
        "/api/generate",
        "/api/choose",
        "/api/runs",
        "/api/examples",
        "/api/models",
    }
)
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
        paths=COMPUTED | COMPUTED_PATHS,
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

    # -- views ---------------------------------------------------------------------
    @app.get("/api/examples")
    def sequence_examples(model: Annotated[ModelId, Query()]) -> dict[str, Any]:
        entry = lab.get(model)
        return examples(entry.task, entry.model, entry.own_text)

    @app.post("/api/run")
    def run(request: RunRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        model = entry.snapshot()
        prepared = prepare(model, entry.task, request.sequence, entry.own_text)
        return run_view(model, prepared, request.layer, request.unit) | {"model": entry.info()}

    @app.post("/api/gradients")
    def gradients(request: GradientRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        if entry.task in PAIR_TASKS:
            raise LabError(
                "the gradient panel compares single-sequence RNN, LSTM and GRU models; for "
                f"the {entry.task} encoder–decoder see the attention panel"
            )
        # a snapshot: an embedding layer keeps what it saw, and the model may be training
        prepared = prepare(entry.snapshot(), entry.task, request.sequence, entry.own_text)
        rnn = "rnn_relu" if entry.config.cell == "rnn_relu" else "rnn_tanh"
        models = {
            cell: lab.sibling(entry, cell, request.untrained) for cell in (rnn, "lstm", "gru")
        }
        return gradient_view(models, prepared, request.scale, request.layer)

    @app.post("/api/bptt")
    def bptt(request: BpttRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        if entry.task != "text":
            raise LabError(
                f"the BPTT panel writes out a character model; model {request.model!r} "
                f"reads {entry.task} sequences (choose Text in panel 2)"
            )
        prepared = prepare(entry.snapshot(), entry.task, request.sequence, entry.own_text)
        rnn = "rnn_relu" if entry.config.cell == "rnn_relu" else "rnn_tanh"
        model, steps = lab.sibling(entry, rnn, request.untrained)
        return bptt_view(model, steps, prepared, request.lr, request.clip, request.layer)

    def _single_sequence(entry: Any, panel: str) -> None:
        if entry.task in PAIR_TASKS:
            raise LabError(
                f"the {panel} panel reads single sequences; for the {entry.task} "
                "encoder–decoder see the attention panel"
            )

    @app.post("/api/connectivity")
    def connectivity(request: ConnectivityRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        _single_sequence(entry, "connectivity")
        prepared = prepare(entry.snapshot(), entry.task, request.sequence, entry.own_text)
        if request.compare == "directions":  # equal footing: both fresh, same seed
            one_way, _ = lab.sibling(entry, entry.config.cell, fresh=True)
            twin = both_ways(one_way, entry.seed)
            models = {"one way": (one_way, 0), "both ways": (twin, 0)}
            return connectivity_view(models, prepared, request.t)
        rnn = "rnn_relu" if entry.config.cell == "rnn_relu" else "rnn_tanh"
        models = {
            cell: lab.sibling(entry, cell, request.untrained) for cell in (rnn, "lstm", "gru")
        }
        return connectivity_view(models, prepared, request.t)

    corpus_states = CorpusStates()

    @app.post("/api/match")
    def match(request: MatchRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        if entry.task != "text":
            raise LabError(
                f"select and match reads text; model {request.model!r} reads {entry.task} "
                "sequences (choose Text in panel 2)"
            )
        # the weights and the name of these weights, read together: a reset, a rebuilt
        # model or an update under way gives another key, never old states under this one
        model, generation, steps = entry.versioned()
        prepared = prepare(model, entry.task, request.sequence, entry.own_text)

        def corpus(window: int) -> tuple[str, Any]:
            def read() -> tuple[str, Any]:
                ids = training_ids(entry, lab.corpus)[:window]
                return model.vocab.decode(ids), layer_states(model, ids, request.layer)

            key = (entry.id, generation, steps, request.layer, window)
            return corpus_states.get(key, read)

        span = (request.start, request.end)
        return match_view(
            model, prepared.ids, corpus, span, request.threshold, request.layer, request.margin
        ) | {"source": entry.source, "trained_steps": steps}

    @app.post("/api/attention")
    def attention(request: AttentionRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        if entry.task not in PAIR_TASKS:
            raise LabError(
                f"model {request.model!r} reads {entry.task} sequences; the attention panel "
                f"needs an encoder–decoder (POST /api/models with task in {sorted(PAIR_TASKS)})"
            )
        view = attention_view(entry.snapshot(), entry.task, request.sequence, entry.test_data)
        return view | {"model": entry.info()}

    def _text_model(model_id: str) -> Any:
        entry = lab.get(model_id)
        if entry.task != "text":
            raise LabError(f"model {model_id!r} reads {entry.task} sequences, not text")
        return entry.snapshot()

    @app.post("/api/next")
    def next_characters(request: NextRequest) -> dict[str, Any]:
        model = _text_model(request.model)
        check_known(model, request.text)
        if request.include is not None:
            check_known(model, request.include, "include")
        return next_view(
            model,
            request.text,
            request.k,
            request.temperature,
            request.top_k,
            request.top_p,
            request.include,
        )

    @app.post("/api/choose")
    def choose(request: ChooseRequest) -> dict[str, Any]:
        model = _text_model(request.model)
        check_known(model, request.text)
        if request.drawn is not None:
            check_known(model, request.drawn, "drawn")
        return choose_view(
            model,
            request.text,
            request.temperature,
            request.k,
            request.top_k,
            request.top_p,
            request.drawn,
            request.seed,
        )

    @app.post("/api/generate")
    def generate(request: GenerateRequest) -> StreamingResponse:
        model = _text_model(request.model)
        check_known(model, request.prime, "the prime")
        # iter_sample checks everything and encodes the prime before the first piece,
        # so a bad request is refused here with a 4xx, not in the middle of the stream
        pieces = iter_sample(
            model,
            request.n,
            request.prime,
            request.temperature,
            request.top_k,
            request.top_p,
            seed=request.seed,
        )
        return StreamingResponse(_lines(pieces), media_type="application/x-ndjson")

    return app


def _lines(pieces: Iterator[str]) -> Iterator[str]:
    """One JSON object per line: {"piece": ...} for each character, then {"done": true}."""
    try:
        for piece in pieces:
            yield json.dumps({"piece": piece}) + "\n"
    except RnnlabError as error:  # too late for a status code: say so in the stream
        yield json.dumps({"error": str(error)}) + "\n"
        return
    yield json.dumps({"done": True}) + "\n"
