"""numpy's own OpenBLAS, callable from Numba-compiled code.

Numba's ``np.dot`` goes through scipy's separate OpenBLAS (a second thread pool), and
a ctypes call defeats ``cache=True``. Instead the CBLAS symbols of the OpenBLAS that
numpy itself loaded are registered with llvmlite by name and declared as external
functions: compiled code calls them directly and caches like any other code.

``gemm(trans_a, trans_b, alpha, A, B, beta, C)`` computes C ← α op(A) op(B) + β C on
row-major 2-D arrays, float32 or float64: C-contiguous, or row and column blocks of
such arrays (their rows must be unit-stride; the row stride is the leading dimension).
"""

from __future__ import annotations

import ctypes
import glob
import os

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types
from numba.core.extending import overload

from rnnlab.errors import RnnlabError

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def _openblas_path() -> str:
    """The shared library of numpy's bundled OpenBLAS (numpy.libs/ or numpy/.dylibs)."""
    root = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*", "../numpy.libs/*blas*"):
        found = sorted(glob.glob(os.path.join(root, pattern)))
        if found:
            return found[0]
    raise RnnlabError("cannot find numpy's OpenBLAS library; the numba backend needs it")


def _symbol_names(library: ctypes.CDLL) -> dict[str, str]:
    """Map s/d gemm and gemv to the names this build exports (ILP64 scipy-openblas or plain)."""
    names = {}
    for routine in ("sgemm", "dgemm", "sgemv", "dgemv"):
        for candidate in (f"scipy_cblas_{routine}64_", f"cblas_{routine}64_", f"cblas_{routine}"):
            if hasattr(library, candidate):
                names[routine] = candidate
                break
        else:
            raise RnnlabError(f"numpy's OpenBLAS exports no cblas_{routine}")
    return names


_LIBRARY = ctypes.CDLL(_openblas_path())
_NAMES = _symbol_names(_LIBRARY)
#: BLAS integers: 64-bit in numpy's ILP64 OpenBLAS, 32-bit in a classic build
_INT = types.int64 if _NAMES["sgemm"].endswith("64_") else types.int32
for _name in _NAMES.values():
    llvm.add_symbol(_name, ctypes.cast(getattr(_LIBRARY, _name), ctypes.c_void_p).value)


def _gemm_signature(real: types.Type) -> types.Type:
    pointer = types.CPointer(real)
    return types.void(
        types.int32,
        types.int32,
        types.int32,
        _INT,
        _INT,
        _INT,
        real,
        pointer,
        _INT,
        pointer,
        _INT,
        real,
        pointer,
        _INT,
    )


def _gemv_signature(real: types.Type) -> types.Type:
    pointer = types.CPointer(real)
    return types.void(
        types.int32,
        types.int32,
        _INT,
        _INT,
        real,
        pointer,
        _INT,
        pointer,
        _INT,
        real,
        pointer,
        _INT,
    )


def _openblas_function(
    library: ctypes.CDLL, name: str, restype: type | None, argtypes: list[type]
) -> ctypes._CFuncPtr | None:
    """OpenBLAS's ``openblas_<name>`` under the name this build exports, if any."""
    for candidate in (f"scipy_openblas_{name}64_", f"openblas_{name}64_", f"openblas_{name}"):
        if hasattr(library, candidate):
            function = getattr(library, candidate)
            function.restype, function.argtypes = restype, argtypes
            return function
    return None


_THREAD_COUNT = _openblas_function(_LIBRARY, "get_num_threads", ctypes.c_int, [])
_SET_THREADS = _openblas_function(_LIBRARY, "set_num_threads", None, [ctypes.c_int])


def blas_threads() -> int:
    """The threads numpy's OpenBLAS runs a large product on (as set by
    OPENBLAS_NUM_THREADS, threadpoolctl or the core count)."""
    if _THREAD_COUNT is None:
        return os.cpu_count() or 1
    return max(1, int(_THREAD_COUNT()))


def set_blas_threads(count: int) -> None:
    """Let numpy's OpenBLAS run its products on ``count`` threads (process-wide)."""
    if _SET_THREADS is not None:
        _SET_THREADS(int(count))


_sgemm = types.ExternalFunction(_NAMES["sgemm"], _gemm_signature(types.float32))
_dgemm = types.ExternalFunction(_NAMES["dgemm"], _gemm_signature(types.float64))
_sgemv = types.ExternalFunction(_NAMES["sgemv"], _gemv_signature(types.float32))
_dgemv = types.ExternalFunction(_NAMES["dgemv"], _gemv_signature(types.float64))


@njit(cache=True, inline="always")
def leading_dimension(M):
    """The row stride of a row-major matrix in elements (at least its width: a matrix
    of one row may carry any stride, and BLAS wants lda ≥ the columns)."""
    return max(M.strides[0] // M.itemsize, M.shape[1], 1)


def gemm(trans_a, trans_b, alpha, A, B, beta, C):  # pragma: no cover - compiled only
    """C ← α op(A) op(B) + β C (callable inside njit code only)."""
    raise NotImplementedError


@overload(gemm, jit_options={"cache": True})
def _gemm_impl(trans_a, trans_b, alpha, A, B, beta, C):
    routine = _sgemm if C.dtype == types.float32 else _dgemm
    real = C.dtype

    def impl(trans_a, trans_b, alpha, A, B, beta, C):
        m, n = C.shape
        k = A.shape[0] if trans_a else A.shape[1]
        routine(
            ROW_MAJOR,
            TRANS if trans_a else NO_TRANS,
            TRANS if trans_b else NO_TRANS,
            m,
            n,
            k,
            real(alpha),
            A.ctypes,
            leading_dimension(A),
            B.ctypes,
            leading_dimension(B),
            real(beta),
            C.ctypes,
            leading_dimension(C),
        )

    return impl


def gemv(trans_a, alpha, A, x, beta, y):  # pragma: no cover - compiled only
    """y ← α op(A) x + β y (callable inside njit code only)."""
    raise NotImplementedError


@overload(gemv, jit_options={"cache": True})
def _gemv_impl(trans_a, alpha, A, x, beta, y):
    routine = _sgemv if y.dtype == types.float32 else _dgemv
    real = y.dtype

    def impl(trans_a, alpha, A, x, beta, y):
        routine(
            ROW_MAJOR,
            TRANS if trans_a else NO_TRANS,
            A.shape[0],
            A.shape[1],
            real(alpha),
            A.ctypes,
            A.shape[1],
            x.ctypes,
            1,
            real(beta),
            y.ctypes,
            1,
        )

    return impl


@njit(cache=True)
def matmul_into(A, B, C, trans_b=False, accumulate=False):
    """C ← A op(B) (+ C when ``accumulate``); a thin compiled wrapper for tests."""
    gemm(False, trans_b, 1.0, A, B, 1.0 if accumulate else 0.0, C)
