"""Tasks: layers + loss + metrics."""

from rnnlab.models.classify import classify_texts, make_classifier, predict_proba
from rnnlab.models.forecast import closed_loop, forecast_next, make_forecaster, one_step
from rnnlab.models.language import (
    LanguageModel,
    LanguageModelConfig,
    canonical_cell,
    make_recurrent,
)
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig

__all__ = [
    "LanguageModel",
    "LanguageModelConfig",
    "Seq2Seq",
    "Seq2SeqConfig",
    "SequenceModel",
    "SequenceModelConfig",
    "canonical_cell",
    "classify_texts",
    "closed_loop",
    "forecast_next",
    "make_classifier",
    "make_forecaster",
    "make_recurrent",
    "one_step",
    "predict_proba",
]
