"""Tasks: layers + loss + metrics."""

from rnnlab.models.language import (
    LanguageModel,
    LanguageModelConfig,
    canonical_cell,
    make_recurrent,
)
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig

__all__ = [
    "LanguageModel",
    "LanguageModelConfig",
    "SequenceModel",
    "SequenceModelConfig",
    "canonical_cell",
    "make_recurrent",
]
