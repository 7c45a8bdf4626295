"""The affine layer ``y = x Wᵀ + b`` (the output layer's ``V h + c``)."""

from __future__ import annotations

import numpy as np

from rnnlab.backend import product
from rnnlab.errors import check_positive_int
from rnnlab.nn.checks import check_float_input, check_last_dim
from rnnlab.nn.module import Module, make_rng, resolve_dtype


class Linear(Module):
    """y = x Wᵀ + b over any leading axes.

    x: (..., in_features) → y: (..., out_features). ``weight`` (out, in), ``bias`` (out,),
    initialised as PyTorch's nn.Linear: uniform(−1/√in, 1/√in).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: object = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        self.dtype = resolve_dtype(dtype)
        rng = make_rng(seed)
        bound = 1.0 / np.sqrt(in_features)
        shape = (out_features, in_features)
        self.add_param("weight", rng.uniform(-bound, bound, shape).astype(self.dtype))
        self.has_bias = bias
        if bias:
            self.add_param("bias", rng.uniform(-bound, bound, out_features).astype(self.dtype))
        self._x: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: (..., in_features) → (..., out_features); remembers x for backward."""
        check_float_input("x", x, self.dtype, "Linear")
        check_last_dim("x", x, self.in_features, "Linear", "in_features")
        self._x = x
        # one GEMM over all leading axes (a 3-D matmul would be one small GEMM per slice)
        y = _matmul(x.reshape(-1, self.in_features), self._params["weight"].T).reshape(
            *x.shape[:-1], self.out_features
        )
        return y + self._params["bias"] if self.has_bias else y

    def backward(self, d_y: np.ndarray) -> np.ndarray:
        """d_y: (..., out_features) → d_x: (..., in_features); accumulates into ``grads``."""
        x = self._need_tape(self._x)
        flat_dy = d_y.reshape(-1, self.out_features)
        self._grads["weight"] += _matmul(flat_dy.T, x.reshape(-1, self.in_features))
        if self.has_bias:
            self._grads["bias"] += flat_dy.sum(axis=0)
        d_x = _matmul(flat_dy, self._params["weight"])
        return d_x.reshape(*d_y.shape[:-1], self.in_features)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.has_bias}"


def _matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A B; with the compiled kernels, on rnnlab's threads rather than OpenBLAS's
    (``rnnlab.backend.product``)."""
    return product(A, B)
