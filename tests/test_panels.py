"""The step loops' product rows · M from column panels equals numpy's, for every shape."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numba.core.errors import TypingError

from rnnlab.runtime.blas import blas_threads
from rnnlab.runtime.panels import LANES, packed_panels, panel_product

SHAPES = list(itertools.product([1, 2, 7, 8, 9, 17], [1, 5, 64], [1, 15, 16, 17, 33, 100]))
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows,K,N", SHAPES)
def test_panel_product_equals_the_matrix_product(rows, K, N, dtype):
    rng = np.random.default_rng(rows * 1000 + K * 10 + N)
    M = rng.normal(size=(K, N)).astype(dtype)
    left = rng.normal(size=(rows, K)).astype(dtype)
    # the output one number into a flat buffer (not vector-aligned), with guards around
    # it: nothing may be written outside the output's rows and columns
    buffer = np.full(1 + rows * N + LANES, np.nan, dtype)
    out = buffer[1 : 1 + rows * N].reshape(rows, N)
    panel_product(left, packed_panels(M), out, False)
    scale = max(1.0, np.abs(left @ M).max())
    assert np.abs(out - left @ M).max() / scale < TOLERANCE[dtype]
    assert np.isnan(buffer[0]) and np.isnan(buffer[1 + rows * N :]).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows,K,N", [(1, 64, 100), (9, 5, 33), (16, 64, 17)])
def test_panel_product_accumulates_into_the_output(rows, K, N, dtype):
    rng = np.random.default_rng(5)
    M = rng.normal(size=(K, N)).astype(dtype)
    left = rng.normal(size=(rows, K)).astype(dtype)
    before = rng.normal(size=(rows, N)).astype(dtype)
    out = before.copy()
    panel_product(left, packed_panels(M), out, True)
    expected = before + left @ M
    assert np.abs(out - expected).max() / np.abs(expected).max() < TOLERANCE[dtype]


@pytest.mark.parametrize("N", [1, 16, 40])
def test_packing_lays_columns_out_in_zero_padded_panels(N):
    M = np.arange(3 * N, dtype=np.float64).reshape(3, N)
    packed = packed_panels(M)
    assert packed.shape == (-(-N // LANES), 3, LANES)
    for column in range(packed.shape[0] * LANES):
        panel, lane = divmod(column, LANES)
        expected = M[:, column] if column < N else 0.0
        np.testing.assert_array_equal(packed[panel, :, lane], expected)
    np.testing.assert_array_equal(packed_panels(np.ascontiguousarray(M.T), transposed=True), packed)


def test_blas_threads_follows_the_thread_limit():
    from threadpoolctl import threadpool_limits

    before = blas_threads()
    with threadpool_limits(1, user_api="blas"):
        assert blas_threads() == 1
    assert blas_threads() == before >= 1


def test_panel_product_refuses_a_strided_operand():
    M = np.ones((4, 16))
    with pytest.raises(TypingError, match="C-contiguous"):
        panel_product(np.ones((3, 8))[:, ::2], packed_panels(M), np.empty((3, 16)), False)
