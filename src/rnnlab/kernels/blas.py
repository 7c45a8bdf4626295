"""numpy's own OpenBLAS, callable from Numba-compiled code.

Numba's ``np.dot`` goes through scipy's separate OpenBLAS (a second thread pool), and
a ctypes call defeats ``cache=True``. Instead the CBLAS symbols of the OpenBLAS that
numpy itself loaded are registered with llvmlite by name and declared as external
functions: compiled code calls them directly and caches like any other code.

``gemm(trans_a, trans_b, alpha, A, B, beta, C)`` computes C ← α op(A) op(B) + β C on
C-contiguous 2-D arrays (row-major), float32 or float64.
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


def _thread_count_function(library: ctypes.CDLL) -> ctypes._CFuncPtr | None:
    """OpenBLAS's get_num_threads under the name this build exports, if any."""
    for candidate in (
        "scipy_openblas_get_num_threads64_",
        "openblas_get_num_threads64_",
        "openblas_get_num_threads",
    ):
        if hasattr(library, candidate):
            function = getattr(library, candidate)
            function.restype = ctypes.c_int
            return function
    return None


_THREAD_COUNT = _thread_count_function(_LIBRARY)


def blas_threads() -> int:
    """The threads numpy's OpenBLAS runs a large product on (as set by
    OPENBLAS_NUM_THREADS, threadpoolctl or the core count)."""
    if _THREAD_COUNT is None:
        return os.cpu_count() or 1
    return max(1, int(_THREAD_COUNT()))


_sgemm = types.ExternalFunction(_NAMES["sgemm"], _gemm_signature(types.float32))
_dgemm = types.ExternalFunction(_NAMES["dgemm"], _gemm_signature(types.float64))
_sgemv = types.ExternalFunction(_NAMES["sgemv"], _gemv_signature(types.float32))
_dgemv = types.ExternalFunction(_NAMES["dgemv"], _gemv_signature(types.float64))


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
            A.shape[1],
            B.ctypes,
            B.shape[1],
            real(beta),
            C.ctypes,
            n,
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
