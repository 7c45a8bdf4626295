"""The compiled kernels compute what the reference cells compute, for every option.

Tolerances: 1e-12 in float64; in float32 1e-6 on outputs and states and 1e-5 relative
on gradients (float32 tanh is a rational fit within a few ulp).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from cell_cases import has_cell_state, random_params, random_state

import rnnlab
from rnnlab.backend import cell_functions, get_backend, set_backend, use_backend
from rnnlab.cells import CELLS
from rnnlab.errors import ConfigError, StateError
from rnnlab.nn.module import inference
from rnnlab.runtime import products, team
from rnnlab.runtime.products import recurrent_operand, transpose_into
from rnnlab.runtime.workspace import Workspace

OUTPUT_TOL = {np.float64: 1e-12, np.float32: 1e-6}
GRAD_TOL = {np.float64: 1e-12, np.float32: 1e-5}


def parts(value):
    return list(value) if isinstance(value, tuple) else [value]


def relative(a, b):
    assert a.shape == b.shape
    if b.size == 0:  # IndRNN's W_hh (0, H): nothing to differ
        return 0.0
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


CASES = list(
    itertools.product(
        sorted(CELLS), [np.float64, np.float32], [1, 4, 11], [False, True], [False, True]
    )
)


@pytest.fixture(
    params=[(1, True), (2, True), (2, False)],
    ids=["one thread", "two on numba's threads", "two on the team's own threads"],
)
def threads(request, monkeypatch):
    """Every kernel call runs on this many threads, whatever the team's size: its parts
    on numba's threads (where they can, as by default) or on the team's own."""
    parts, on_numba_threads = request.param
    if not on_numba_threads:
        monkeypatch.setattr(team, "numba_threads", lambda parts: False)
    team.force_parts(parts)
    yield parts
    team.force_parts(None)


@pytest.mark.parametrize(
    "mode,dtype,batch,with_lengths,with_state", CASES, ids=[str(c) for c in CASES]
)
def test_kernel_matches_reference_cell(mode, dtype, batch, with_lengths, with_state, threads):
    rng = np.random.default_rng(7)
    T, I, H = 6, 5, 7
    params = random_params(mode, I, H, rng, scale=0.5, dtype=dtype)
    x = rng.normal(size=(T, batch, I)).astype(dtype)
    draw = lambda: rng.normal(size=(batch, H)).astype(dtype)  # noqa: E731
    zeros = np.zeros((batch, H), dtype)
    if has_cell_state(mode):
        state0 = (draw(), draw()) if with_state else (zeros, zeros)
    else:
        state0 = draw() if with_state else zeros
    lengths = np.array([6, 2, 5, 1, 3, 6, 4, 2, 6, 1, 5][:batch]) if with_lengths else None
    if batch == 1 and with_lengths:
        lengths = np.array([4])

    reference = CELLS[mode]
    with use_backend("numba"):
        kernel = cell_functions(mode)
    out_r, state_r, tape_r = reference.forward(params, x, state0, lengths)
    out_k, state_k, tape_k = kernel.forward(params, x, state0, lengths, workspace=Workspace())
    tol = OUTPUT_TOL[dtype]
    np.testing.assert_allclose(out_k, out_r, rtol=0, atol=tol)
    for a, b in zip(parts(state_k), parts(state_r), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=tol)

    d_out = rng.normal(size=out_r.shape).astype(dtype)
    d_state = random_state(mode, batch, H, draw)
    dx_r, grads_r, d0_r = reference.backward(params, tape_r, d_out, d_state)
    dx_k, grads_k, d0_k = kernel.backward(params, tape_k, d_out, d_state, workspace=Workspace())
    tol = GRAD_TOL[dtype]
    assert relative(dx_k, dx_r) < tol
    for name in params:
        assert relative(grads_k[name], grads_r[name]) < tol, name
    for a, b in zip(parts(d0_k), parts(d0_r), strict=True):
        assert relative(a, b) < tol
    assert relative(tape_k["d_hidden"], tape_r["d_hidden"]) < tol


@pytest.mark.parametrize("mode", sorted(CELLS))
def test_no_initial_state_is_a_zero_state_on_both_backends(mode):
    rng = np.random.default_rng(5)
    params, x = random_params(mode, 3, 4, rng), rng.normal(size=(5, 2, 3))
    zeros = random_state(mode, 2, 4, lambda: np.zeros((2, 4)))
    expected, _, _ = CELLS[mode].forward(params, x, zeros)
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            out, _, _ = cell_functions(mode).forward(params, x, zeros)
            np.testing.assert_allclose(out, expected, atol=1e-12)
    with use_backend("numba"):
        out, _, _ = cell_functions(mode).forward(params, x, None)
    np.testing.assert_allclose(out, expected, atol=1e-12)


@pytest.mark.parametrize("mode", sorted(CELLS))
@pytest.mark.parametrize("batch", [1, 4, 11])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_backward_adds_the_weight_gradients_into_the_arrays_it_is_given(
    mode, batch, backend, threads
):
    """A layer passes its gradient arrays (``into``): the backward pass adds to them in
    place (the kernels' GEMMs, split, pipelined or on one thread) and returns them."""
    rng = np.random.default_rng(11)
    T, I, H = 6, 5, 7
    params = random_params(mode, I, H, rng, scale=0.5)
    shapes = {name: value.shape for name, value in params.items()}
    x = rng.normal(size=(T, batch, I))
    zeros = np.zeros((batch, H))
    state0 = random_state(mode, batch, H, lambda: zeros)
    out, _, tape_r = CELLS[mode].forward(params, x, state0)
    d_out = rng.normal(size=out.shape)
    _, expected, _ = CELLS[mode].backward(params, tape_r, d_out)
    start = {name: rng.normal(size=shape) for name, shape in shapes.items()}
    into = {name: value.copy() for name, value in start.items()}
    with use_backend(backend):
        cell = cell_functions(mode)
        _, _, tape = cell.forward(params, x, state0, workspace=Workspace())
        _, grads, _ = cell.backward(params, tape, d_out, workspace=Workspace(), into=into)
    for name in shapes:
        assert grads[name] is into[name], name
        np.testing.assert_allclose(into[name], start[name] + expected[name], atol=1e-12)


@pytest.mark.parametrize(
    "wrong,message",
    [
        ({"W_ih": np.zeros((2, 2))}, r"into\['W_ih'\]: expected float64 \(12, 5\)"),
        ({"W_hh": np.zeros((12, 3), np.float32)}, r"into\['W_hh'\]: expected float64"),
        ({"W_hh": np.zeros((3, 12)).T}, r"into\['W_hh'\] must be C-contiguous"),
    ],
)
def test_gradient_arrays_of_the_wrong_shape_or_layout_are_refused(wrong, message):
    rng = np.random.default_rng(0)
    T, B, I, H = 4, 2, 5, 3
    params = {
        "W_ih": rng.normal(size=(4 * H, I)),
        "W_hh": rng.normal(size=(4 * H, H)),
        "b_ih": np.zeros(4 * H),
        "b_hh": np.zeros(4 * H),
    }
    into = {"W_ih": np.zeros((4 * H, I)), "W_hh": np.zeros((4 * H, H))} | wrong
    with use_backend("numba"):
        cell = cell_functions("lstm")
        zeros = np.zeros((B, H))
        out, _, tape = cell.forward(params, rng.normal(size=(T, B, I)), (zeros, zeros))
        with pytest.raises(ValueError, match=message):
            cell.backward(params, tape, np.ones_like(out), into=into)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_layer_adds_the_gradients_of_each_backward_pass_until_zero_grad(backend):
    rng = np.random.default_rng(5)
    layer = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0, dtype=np.float64)
    x = rng.normal(size=(5, 2, 3))
    with use_backend(backend):
        layer.zero_grad()
        output, _ = layer(x)
        layer.backward(np.ones_like(output))
        once = {name: grad.copy() for name, grad in layer.grads.items()}
        output, _ = layer(x)
        layer.backward(np.ones_like(output))
        for name, grad in layer.grads.items():
            np.testing.assert_allclose(grad, 2 * once[name], atol=1e-12)
        layer.zero_grad()
        assert all(not grad.any() for grad in layer.grads.values())


def assert_backends_agree(layer, x, lengths=None):
    """One training step of ``layer`` on each backend: outputs, ∂L/∂x and the weight
    gradients agree to 1e-12 (float64)."""
    results = {}
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            layer.zero_grad()
            output, _ = layer(x, lengths=lengths)
            d_x, _ = layer.backward(np.ones_like(output))
            results[backend] = (output, d_x, {k: v.copy() for k, v in layer.grads.items()})
    (out_n, dx_n, g_n), (out_k, dx_k, g_k) = results["numpy"], results["numba"]
    np.testing.assert_allclose(out_k, out_n, atol=1e-12)
    np.testing.assert_allclose(dx_k, dx_n, atol=1e-12)
    for name in g_n:
        np.testing.assert_allclose(g_k[name], g_n[name], atol=1e-12)


LAYER_OPTIONS = list(itertools.product(["rnn_tanh", "lstm", "gru"], [1, 2], [False, True]))


@pytest.mark.parametrize("mode,num_layers,bidirectional", LAYER_OPTIONS)
def test_layers_give_the_same_numbers_on_both_backends(mode, num_layers, bidirectional, threads):
    rng = np.random.default_rng(3)
    make = {"rnn_tanh": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}[mode]
    layer = make(
        4,
        5,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=True,
        dtype=np.float64,
        seed=0,
    )
    x = rng.normal(size=(3, 6, 4))
    lengths = np.array([6, 3, 5])
    assert_backends_agree(layer, x, lengths)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (33, 64), (96, 31), (130, 40)])
def test_tiled_transpose_equals_numpy_transpose(shape):
    matrix = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    out = np.full(shape[::-1], np.nan, np.float32)
    transpose_into(matrix, out)
    np.testing.assert_array_equal(out, matrix.T)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("parts", [1, 2])
def test_recurrent_operand_panels_are_packed_by_the_threads_that_read_them(transposed, parts):
    W_hh = np.random.default_rng(1).normal(size=(40, 3))
    packed, plain = recurrent_operand(W_hh, transposed=transposed, batch=4, parts=parts)
    M = W_hh.T if transposed else W_hh  # the product is rows · M
    K, N = M.shape
    assert packed.shape == (-(-N // 16), K, 16) and plain.size == 0 and plain.ndim == 2
    for part in range(parts):  # each thread packs its share of the panels
        products.pack_own_panels(W_hh, transposed, packed, part, parts)
    unpacked = packed.transpose(1, 0, 2).reshape(K, -1)
    np.testing.assert_array_equal(unpacked[:, :N], M)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("batch", [1, 64])
def test_recurrent_operand_leaves_large_products_to_threaded_blas(monkeypatch, transposed, batch):
    W_hh = np.random.default_rng(1).normal(size=(1024, 256))
    monkeypatch.setattr(products, "blas_threads", lambda: 2)
    packed, plain = recurrent_operand(W_hh, transposed=transposed, batch=batch)
    M = W_hh.T if transposed else W_hh  # the product is rows · M
    assert packed.size == 0 and plain.flags.c_contiguous
    # OpenBLAS's GEMM takes M, its matrix-vector product (B = 1) Mᵀ
    np.testing.assert_array_equal(plain, M if batch > 1 else M.T)
    monkeypatch.setattr(products, "blas_threads", lambda: 1)  # one thread: the panels win
    packed, plain = recurrent_operand(W_hh, transposed=transposed, batch=batch)
    assert packed.size > 0 and plain.size == 0
    packed, plain = recurrent_operand(W_hh, transposed=transposed, batch=16)
    assert packed.size > 0 and plain.size == 0


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("batch", [1, 3])
def test_kernels_agree_with_the_reference_on_the_threaded_blas_path(monkeypatch, mode, batch):
    monkeypatch.setattr(products, "_THREADED_BATCH", 0)
    monkeypatch.setattr(products, "_THREADED_WEIGHTS", 0)
    monkeypatch.setattr(products, "blas_threads", lambda: 2)
    make = {"rnn_tanh": rnnlab.RNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}[mode]
    layer = make(5, 6, dtype=np.float64, seed=0)
    assert_backends_agree(layer, np.random.default_rng(3).normal(size=(7, batch, 5)))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_output_is_read_only_because_the_tape_shares_it(backend):
    layer = rnnlab.RNN(3, 4, seed=0)
    with use_backend(backend):
        output, _ = layer(np.ones((5, 2, 3), np.float32))
        with pytest.raises(ValueError, match="read-only"):
            output *= 2
        output, _ = layer(np.ones((5, 2, 3), np.float32), lengths=np.array([5, 3]))
        output *= 2  # with lengths the padded output is a new array


@pytest.mark.parametrize("mode", sorted(CELLS))
def test_per_step_gradients_are_kept_only_when_asked(mode):
    rng = np.random.default_rng(3)
    T, B, H = 5, 3, 4
    params = random_params(mode, 2, H, rng, scale=1.0)
    x, d_out = rng.normal(size=(T, B, 2)), rng.normal(size=(T, B, H))
    state0 = random_state(mode, B, H, lambda: np.zeros((B, H)))
    with use_backend("numba"):
        cell = cell_functions(mode)
        results = []
        for keep in (True, False):
            _, _, tape = cell.forward(params, x, state0, workspace=Workspace())
            dx, grads, _ = cell.backward(params, tape, d_out, keep_gradients=keep)
            results.append((dx, grads, tape))
    (dx_kept, grads_kept, tape_kept), (dx, grads, tape) = results
    assert tape_kept["d_hidden"].shape == (T, B, H) and "d_hidden" not in tape
    np.testing.assert_array_equal(dx, dx_kept)
    for name in grads:
        np.testing.assert_array_equal(grads[name], grads_kept[name])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_backward_without_input_grad_gives_the_same_weight_grads(backend, bidirectional):
    layer = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=bidirectional, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    grads = []
    with use_backend(backend):
        for input_grad in (True, False):
            layer.zero_grad()
            output, _ = layer(x)
            d_x, d_state = layer.backward(np.ones_like(output), input_grad=input_grad)
            assert (d_x is None) == (not input_grad) and d_state[0].shape == (
                4 if bidirectional else 2,
                2,
                4,
            )
            grads.append({k: v.copy() for k, v in layer.grads.items()})
    for name in grads[0]:
        np.testing.assert_array_equal(grads[1][name], grads[0][name])


def test_switching_between_training_and_inference_reallocates_nothing():
    layer = rnnlab.GRU(3, 4, seed=0)
    x = np.ones((5, 2, 3), np.float32)

    def train():
        output, _ = layer(x)
        layer.backward(np.ones_like(output))

    train()
    with inference(layer):
        layer(x)
    held = {name: id(a) for ws in layer._workspaces.values() for name, a in ws._arrays.items()}
    train()
    with inference(layer):
        layer(x)
    again = {name: id(a) for ws in layer._workspaces.values() for name, a in ws._arrays.items()}
    assert again == held


def test_outputs_are_fresh_arrays_not_workspace_views():
    layer = rnnlab.GRU(3, 4, seed=0)
    x = np.ones((5, 2, 3), np.float32)
    first, _ = layer(x)
    kept = first.copy()
    layer(2 * x)
    np.testing.assert_array_equal(first, kept)


def test_inference_mode_keeps_no_tape_and_gives_the_same_output():
    layer = rnnlab.LSTM(3, 4, num_layers=2, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    expected, _ = layer(x)
    with inference(layer):
        output, _ = layer(x)
        with pytest.raises(StateError):
            layer.backward(np.ones_like(output))
    np.testing.assert_array_equal(output, expected)
    assert layer.keep_tape


def test_backend_switch():
    previous = get_backend()
    with use_backend("numpy"):
        assert get_backend() == "numpy"
    assert get_backend() == previous
    with pytest.raises(ConfigError, match="backend must be one of"):
        set_backend("cuda")
    assert previous == "numba"  # auto picks the kernels when they load


def test_workspace_arrays_start_on_a_cache_line():
    """The team's threads write blocks of their rows: no cache line holds two threads'."""
    from rnnlab.runtime.workspace import ALIGNMENT, Workspace, aligned_empty

    workspace = Workspace()
    for shape in [(3,), (5, 7), (2, 3, 9)]:
        array = workspace.array(f"a{len(shape)}", shape, np.float32)
        assert array.ctypes.data % ALIGNMENT == 0 and array.shape == shape
        assert array.flags.c_contiguous and array.flags.writeable
    assert aligned_empty((4, 4), np.float64).ctypes.data % ALIGNMENT == 0


def test_directions_run_at_once_unless_one_core_would_stream_w_hh_from_memory():
    small, large = np.zeros((4 * 256, 256), np.float32), np.zeros((3 * 512, 512), np.float32)
    assert products.direction_work(100, 1, small) == 100 * small.size  # 1 MiB: in one cache
    assert products.direction_work(100, 1, large) == 0  # 3 MiB at B = 1: split it
    assert products.direction_work(100, 16, large) == 100 * 16 * large.size
