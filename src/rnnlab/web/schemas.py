"""The requests the web lab accepts: pydantic models with every field bounded.

Unknown fields are refused (a typo is an error, not a silent default); numbers are
strict (``"5"`` and ``true`` are not integers) and finite; every length has a limit from
``rnnlab.web.limits``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from rnnlab.cells import CELLS
from rnnlab.web import limits

Cell = Literal[tuple(CELLS)]  # the registered cells
Task = Literal["text", "sine", "parity", "adding", "reverse", "dates"]
#: the decoder's attention of an encoder–decoder (reverse, dates): none reads h_S only
AttentionKind = Literal["none", "dot", "general", "additive"]
ModelId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Seed = Annotated[int, Field(ge=0, le=limits.MAX_SEED, strict=True)]
Temperature = Annotated[
    float, Field(ge=0.0, le=limits.MAX_TEMPERATURE, allow_inf_nan=False, strict=True)
]
Layer = Annotated[int, Field(ge=0, lt=limits.MAX_LAYERS, strict=True)]
Unit = Annotated[int, Field(ge=0, lt=limits.MAX_HIDDEN, strict=True)]


class Request(BaseModel):
    """Common settings: no unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ModelSpec(Request):
    """A fresh model to build (or the existing one with the same settings)."""

    task: Task = "text"
    cell: Cell = "lstm"
    hidden_size: Annotated[int, Field(ge=1, le=limits.MAX_HIDDEN, strict=True)] = 64
    num_layers: Annotated[int, Field(ge=1, le=limits.MAX_LAYERS, strict=True)] = 1
    #: each layer's input added to its output from the second layer on (num_layers ≥ 2)
    residual: Annotated[bool, Field(strict=True)] = False
    #: the training text of a language model: the built-in corpus or ``text``
    corpus: Literal["shakespeare", "text"] = "shakespeare"
    text: Annotated[str, Field(max_length=limits.MAX_CORPUS_CHARS)] | None = None
    #: the decoder's attention, for the encoder–decoder tasks (reverse, dates) only
    attention: AttentionKind = "general"
    seed: Seed = 0


class TrainRequest(Request):
    """Train a model for ``steps`` more updates (in the background)."""

    steps: Annotated[int, Field(ge=1, le=limits.MAX_TRAIN_STEPS, strict=True)] = 200
    lr: Annotated[float, Field(gt=0, le=limits.MAX_LR, allow_inf_nan=False, strict=True)] = 3e-3


class SequenceSpec(Request):
    """The sequence to look at: a text (typed, or example ``example``), a numeric task, or
    the source of an encoder–decoder task (typed, or example ``example``)."""

    kind: Task = "text"
    text: Annotated[str, Field(min_length=2, max_length=limits.MAX_TEXT_STEPS)] | None = None
    example: Annotated[int, Field(ge=0, lt=16, strict=True)] = 0
    length: Annotated[
        int, Field(ge=limits.MIN_NUMERIC_STEPS, le=limits.MAX_NUMERIC_STEPS, strict=True)
    ] = 40
    seed: Seed = 0


class RunRequest(Request):
    """Run ``model`` over a sequence and record everything (panels 3, 4, 7, 8)."""

    model: ModelId
    sequence: SequenceSpec = SequenceSpec()
    layer: Layer = 0
    #: the unit whose equations are written out; None: the one that varies most
    unit: Unit | None = None


class GradientRequest(Request):
    """∂L/∂h_t for RNN, LSTM and GRU siblings of ``model`` (panel 6)."""

    model: ModelId
    sequence: SequenceSpec = SequenceSpec()
    scale: Annotated[
        float,
        Field(ge=limits.MIN_SCALE, le=limits.MAX_SCALE, allow_inf_nan=False, strict=True),
    ] = 1.0
    layer: Layer = 0
    #: True: compare three fresh (untrained, same seed) models instead of those trained here
    untrained: Annotated[bool, Field(strict=True)] = False


class BpttRequest(Request):
    """Backpropagation through time written out for the plain-RNN sibling of the text
    model ``model``, and one update with learning rate ``lr``, clipped at norm ``clip``."""

    model: ModelId
    sequence: SequenceSpec = SequenceSpec()
    lr: Annotated[float, Field(gt=0, le=limits.MAX_BPTT_LR, allow_inf_nan=False, strict=True)] = 0.5
    clip: (
        Annotated[float, Field(gt=0, le=limits.MAX_CLIP, allow_inf_nan=False, strict=True)] | None
    ) = None
    layer: Layer = 0
    #: True: a fresh (untrained, same seed) RNN instead of the one trained here
    untrained: Annotated[bool, Field(strict=True)] = False


class ConnectivityRequest(Request):
    """‖∂y_t/∂x_s‖ for every s ≤ t, for RNN, LSTM and GRU siblings of ``model`` (or the
    model's cell reading one way and both ways): the connectivity of the output at step
    ``t`` (0-based) to each input."""

    model: ModelId
    sequence: SequenceSpec = SequenceSpec()
    t: Annotated[int, Field(ge=0, lt=limits.MAX_TEXT_STEPS, strict=True)]
    #: True: compare three fresh (untrained, same seed) models instead of those trained here
    untrained: Annotated[bool, Field(strict=True)] = False
    #: "cells": RNN, LSTM and GRU; "directions": the model's cell reading one way and
    #: both ways (both fresh, same seed and size)
    compare: Literal["cells", "directions"] = "cells"


class MatchRequest(Request):
    """The units of ``layer`` on over the span ``start`` ≤ t < ``end`` of a text and off
    around it (h > ``threshold``, LSTMVis's rule, off for ``margin`` steps either side),
    and the places of the training text where they all switch on together."""

    model: ModelId
    sequence: SequenceSpec = SequenceSpec()
    start: Annotated[int, Field(ge=0, lt=limits.MAX_TEXT_STEPS, strict=True)]
    end: Annotated[int, Field(ge=1, le=limits.MAX_TEXT_STEPS, strict=True)]
    threshold: Annotated[float, Field(gt=-1.0, lt=1.0, allow_inf_nan=False, strict=True)] = 0.3
    layer: Layer = 0
    margin: Annotated[int, Field(ge=0, le=limits.MAX_MATCH_MARGIN, strict=True)] = 1


class AttentionRequest(Request):
    """Decode a source greedily with an encoder–decoder ``model``, keeping each step's
    attention (panel 9); ``sequence`` None: the task's first example."""

    model: ModelId
    sequence: SequenceSpec | None = None


TopK = Annotated[int, Field(ge=1, le=limits.MAX_TOP_K, strict=True)]
TopP = Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False, strict=True)]


class NextRequest(Request):
    """The ``k`` most likely next characters after ``text`` (panel 5), and which of them
    the sampler can draw with ``top_k`` / ``top_p``; ``include``: a character to report
    wherever it ranks (the one the sampler drew)."""

    model: ModelId
    text: Annotated[str, Field(min_length=1, max_length=limits.MAX_CONTEXT)]
    temperature: Temperature = 1.0
    k: TopK = 10
    top_k: TopK | None = None
    top_p: TopP | None = None
    include: Annotated[str, Field(min_length=1, max_length=1)] | None = None


class ChooseRequest(Request):
    """The five steps of choosing the character after ``text`` (panel 5's stepper): its
    input, the state update, the ``k`` highest logits, softmax at ``temperature`` (> 0)
    with ``top_k`` / ``top_p``, and the character drawn (``drawn``, or one drawn with
    ``seed``)."""

    model: ModelId
    text: Annotated[str, Field(min_length=1, max_length=limits.MAX_CONTEXT)]
    temperature: Annotated[
        float, Field(gt=0.0, le=limits.MAX_TEMPERATURE, allow_inf_nan=False, strict=True)
    ] = 1.0
    k: TopK = 5
    top_k: TopK | None = None
    top_p: TopP | None = None
    drawn: Annotated[str, Field(min_length=1, max_length=1)] | None = None
    seed: Seed = 0


class GenerateRequest(Request):
    """Sample ``n`` characters continuing ``prime``, streamed one at a time (panel 5)."""

    model: ModelId
    prime: Annotated[str, Field(max_length=limits.MAX_PRIME)] = ""
    n: Annotated[int, Field(ge=1, le=limits.MAX_GENERATE, strict=True)] = 200
    temperature: Temperature = 0.8
    top_k: TopK | None = None
    top_p: TopP | None = None
    seed: Seed | None = None
