"""The panels' views in the JSON API (mounted by ``rnnlab.web.app``): what a model
computes on a sequence, each answered from a snapshot of its weights.

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

Refusals are those of the rest of the API: 422 for invalid fields, 400 for a model or a
sequence the view cannot read, 404 for an unknown model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from rnnlab.errors import RnnlabError
from rnnlab.generate import iter_sample
from rnnlab.nn.module import Module
from rnnlab.web.attention import attention_view
from rnnlab.web.bptt import bptt_view
from rnnlab.web.choose import choose_view
from rnnlab.web.connectivity import both_ways, connectivity_view
from rnnlab.web.distribution import next_view
from rnnlab.web.entry import Entry, LabError
from rnnlab.web.lab import Lab
from rnnlab.web.match import CorpusStates, layer_states, match_view, training_ids
from rnnlab.web.pairs import PAIR_TASKS
from rnnlab.web.schemas import (
    AttentionRequest,
    BpttRequest,
    ChooseRequest,
    ConnectivityRequest,
    GenerateRequest,
    GradientRequest,
    MatchRequest,
    ModelId,
    NextRequest,
    RunRequest,
)
from rnnlab.web.views import check_known, examples, gradient_view, prepare, run_view

#: the paths that compute (queued with the lab's other expensive requests)
VIEW_PATHS = frozenset(
    {
        "/api/examples",
        "/api/run",
        "/api/gradients",
        "/api/connectivity",
        "/api/match",
        "/api/bptt",
        "/api/attention",
        "/api/next",
        "/api/generate",
        "/api/choose",
    }
)


def rnn_cell(entry: Entry) -> str:
    """The plain RNN set beside ``entry``'s model: the ReLU one if it is one, else tanh."""
    return "rnn_relu" if entry.config.cell == "rnn_relu" else "rnn_tanh"


def siblings(lab: Lab, entry: Entry, untrained: bool) -> dict[str, tuple[Module, int]]:
    """cell → (snapshot, steps trained) of the RNN, LSTM and GRU like ``entry``
    (``Lab.sibling``; ``untrained``: all three fresh from the same seed)."""
    return {cell: lab.sibling(entry, cell, untrained) for cell in (rnn_cell(entry), "lstm", "gru")}


def single_sequence(entry: Entry, panel: str) -> None:
    """LabError for an encoder–decoder: ``panel`` ("the … panel reads …") does not."""
    if entry.task in PAIR_TASKS:
        raise LabError(f"the {panel}; for the {entry.task} encoder–decoder see the attention panel")


def text_entry(lab: Lab, model_id: str, panel: str | None = None) -> Entry:
    """The model ``model_id`` if it reads text; else LabError, which says what ``panel``
    does ("select and match reads text") and where to choose text, if it is given."""
    entry = lab.get(model_id)
    if entry.task == "text":
        return entry
    if panel is None:
        raise LabError(f"model {model_id!r} reads {entry.task} sequences, not text")
    raise LabError(
        f"{panel}; model {model_id!r} reads {entry.task} sequences (choose Text in panel 2)"
    )


def view_router(lab: Lab) -> APIRouter:
    """The routes above, over ``lab``."""
    router = APIRouter(prefix="/api")
    corpus_states = CorpusStates()

    @router.get("/examples")
    def sequence_examples(model: Annotated[ModelId, Query()]) -> dict[str, Any]:
        entry = lab.get(model)
        return examples(entry.task, entry.model, entry.own_text)

    @router.post("/run")
    def run(request: RunRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        model = entry.snapshot()
        prepared = prepare(model, entry.task, request.sequence, entry.own_text)
        return run_view(model, prepared, request.layer, request.unit) | {"model": entry.info()}

    @router.post("/gradients")
    def gradients(request: GradientRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        single_sequence(entry, "gradient panel compares single-sequence RNN, LSTM and GRU models")
        # a snapshot: an embedding layer keeps what it saw, and the model may be training
        prepared = prepare(entry.snapshot(), entry.task, request.sequence, entry.own_text)
        models = siblings(lab, entry, request.untrained)
        return gradient_view(models, prepared, request.scale, request.layer)

    @router.post("/bptt")
    def bptt(request: BpttRequest) -> dict[str, Any]:
        entry = text_entry(lab, request.model, "the BPTT panel writes out a character model")
        prepared = prepare(entry.snapshot(), entry.task, request.sequence, entry.own_text)
        model, steps = lab.sibling(entry, rnn_cell(entry), request.untrained)
        return bptt_view(model, steps, prepared, request.lr, request.clip, request.layer)

    @router.post("/connectivity")
    def connectivity(request: ConnectivityRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        single_sequence(entry, "connectivity panel reads single sequences")
        prepared = prepare(entry.snapshot(), entry.task, request.sequence, entry.own_text)
        if request.compare == "directions":  # equal footing: both fresh, same seed
            one_way, _ = lab.sibling(entry, entry.config.cell, fresh=True)
            twin = both_ways(one_way, entry.seed)
            models = {"one way": (one_way, 0), "both ways": (twin, 0)}
            return connectivity_view(models, prepared, request.t)
        return connectivity_view(siblings(lab, entry, request.untrained), prepared, request.t)

    @router.post("/match")
    def match(request: MatchRequest) -> dict[str, Any]:
        entry = text_entry(lab, request.model, "select and match reads text")
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

    @router.post("/attention")
    def attention(request: AttentionRequest) -> dict[str, Any]:
        entry = lab.get(request.model)
        if entry.task not in PAIR_TASKS:
            raise LabError(
                f"model {request.model!r} reads {entry.task} sequences; the attention panel "
                f"needs an encoder–decoder (POST /api/models with task in {sorted(PAIR_TASKS)})"
            )
        view = attention_view(entry.snapshot(), entry.task, request.sequence, entry.test_data)
        return view | {"model": entry.info()}

    @router.post("/next")
    def next_characters(request: NextRequest) -> dict[str, Any]:
        model = text_entry(lab, request.model).snapshot()
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

    @router.post("/choose")
    def choose(request: ChooseRequest) -> dict[str, Any]:
        model = text_entry(lab, request.model).snapshot()
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

    @router.post("/generate")
    def generate(request: GenerateRequest) -> StreamingResponse:
        model = text_entry(lab, request.model).snapshot()
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

    return router


def _lines(pieces: Iterator[str]) -> Iterator[str]:
    """One JSON object per line: {"piece": ...} for each character, then {"done": true}."""
    try:
        for piece in pieces:
            yield json.dumps({"piece": piece}) + "\n"
    except RnnlabError as error:  # too late for a status code: say so in the stream
        yield json.dumps({"error": str(error)}) + "\n"
        return
    yield json.dumps({"done": True}) + "\n"
