"""Tasks: layers + loss + metrics."""

from rnnlab.models.language import (
    LanguageModel,
    LanguageModelConfig,
    canonical_cell,
    make_recurrent,
)

__all__ = ["LanguageModel", "LanguageModelConfig", "canonical_cell", "make_recurrent"]
