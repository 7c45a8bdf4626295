"""Text, corpora and batches: everything between a file on disk and a ``(T, B)`` chunk.

Imports nothing of rnnlab but ``rnnlab.errors``.
"""

from rnnlab.data.batching import StreamBatcher, eval_chunks, split_train_val
from rnnlab.data.corpora import (
    CORPORA,
    Play,
    load_corpus,
    plays,
    python_source,
    read_text_file,
    shakespeare,
)
from rnnlab.data.text import UNK, CharVocab, Vocab, WordVocab, vocab_from_json

__all__ = [
    "CORPORA",
    "UNK",
    "CharVocab",
    "Play",
    "StreamBatcher",
    "Vocab",
    "WordVocab",
    "eval_chunks",
    "load_corpus",
    "plays",
    "python_source",
    "read_text_file",
    "shakespeare",
    "split_train_val",
    "vocab_from_json",
]
