"""A lookup table of vectors: ``Embedding(ids) = weight[ids]``.

Multiplying a one-hot vector by a matrix picks one of its columns; the embedding does
that pick directly, without building the one-hot vector.
"""

from __future__ import annotations

import numpy as np

from rnnlab.errors import DTypeError, ShapeError, check_positive_int
from rnnlab.nn.module import Module, make_rng, resolve_dtype


class Embedding(Module):
    """ids: (...) integers in [0, num_embeddings) → (..., embedding_dim).

    ``weight`` (num_embeddings, embedding_dim) initialised N(0, 1) as PyTorch's nn.Embedding.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        dtype: object = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.dtype = resolve_dtype(dtype)
        shape = (num_embeddings, embedding_dim)
        self.add_param("weight", make_rng(seed).standard_normal(shape).astype(self.dtype))
        self._ids: np.ndarray | None = None

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """ids: (...) → vectors: (..., embedding_dim)."""
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise DTypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            bad = ids.min() if ids.min() < 0 else ids.max()
            raise ShapeError(
                f"Embedding: id {int(bad)} is out of range, expected ids in "
                f"[0, {self.num_embeddings})"
            )
        self._ids = ids
        return self._params["weight"][ids]

    def backward(self, d_out: np.ndarray) -> None:
        """d_out: (..., embedding_dim); scatter-adds into ``grads['weight']`` (ids get none)."""
        ids = self._need_tape(self._ids)
        np.add.at(self._grads["weight"], ids.reshape(-1), d_out.reshape(-1, self.embedding_dim))

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
