"""The per-step product out ← rows · M, with M packed once per sequence into column panels,

    packed[p, k, c] = M[k, p·LANES + c]     (zeros past column N),

and a register-blocked tile kernel generated as LLVM IR with explicit vector types
(``panel_product``). Why and how: docs/fast-path.md, "The per-step product".
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.core.extending import intrinsic

#: columns in a panel: one 512-bit vector of float32 (two 256-bit ones on AVX2)
LANES = 16


def _fma(builder: ir.IRBuilder, vector: ir.VectorType, a, b, c):
    """a · b + c, lane by lane, as one fused multiply-add (llvm.fma)."""
    element = "f32" if vector.element == ir.FloatType() else "f64"
    signature = ir.FunctionType(vector, [vector] * 3)
    name = f"llvm.fma.v{vector.count}{element}"
    function = cgutils.get_or_insert_function(builder.module, signature, name)
    return builder.call(function, [a, b, c])


class _Emitter:
    """What the IR of one tile needs at hand: the builder, the vector type, constants."""

    def __init__(self, context, builder: ir.IRBuilder, real: ir.Type) -> None:
        self.builder, self.real = builder, real
        self.vector = ir.VectorType(real, LANES)
        self.intp = context.get_value_type(types.intp)
        self.int32 = ir.IntType(32)

    def const(self, value: int) -> ir.Constant:
        return ir.Constant(self.intp, value)


def _operand_pointers(e: _Emitter, rows_a, packed_a, row0, count, panel0, K, R: int, C: int):
    """Pointers to the tile's R rows (rows past ``count`` re-read the last valid one:
    their results are not stored) and to its C panels, as vectors."""
    b = e.builder
    last = b.sub(count, e.const(1))
    row_pointers = []
    for r in range(R):
        index = b.select(b.icmp_signed("<", e.const(r), count), e.const(r), last)
        row_pointers.append(b.gep(rows_a.data, [b.mul(b.add(row0, index), K)]))
    panel_pointers = []
    for c in range(C):
        start = b.mul(b.mul(b.add(panel0, e.const(c)), K), e.const(LANES))
        panel_pointers.append(b.bitcast(b.gep(packed_a.data, [start]), e.vector.as_pointer()))
    return row_pointers, panel_pointers


def _accumulate(e: _Emitter, row_pointers, panel_pointers, K):
    """The loop over k: sums[r][c] += rows[r, k] · panel_c[k], in R·C vector registers."""
    b = e.builder
    R, C = len(row_pointers), len(panel_pointers)
    zero = ir.Constant(e.vector, [ir.Constant(e.real, 0.0)] * LANES)
    undef = ir.Constant(e.vector, ir.Undefined)
    broadcast = ir.Constant(ir.VectorType(e.int32, LANES), [0] * LANES)
    entry = b.block
    head, body = b.append_basic_block("tile.head"), b.append_basic_block("tile.body")
    tail = b.append_basic_block("tile.tail")
    b.branch(head)
    b.position_at_end(head)
    k = b.phi(e.intp)
    k.add_incoming(e.const(0), entry)
    sums = [[b.phi(e.vector) for _ in range(C)] for _ in range(R)]
    for s in (s for row in sums for s in row):
        s.add_incoming(zero, entry)
    b.cbranch(b.icmp_signed("<", k, K), body, tail)
    b.position_at_end(body)
    panels = [b.load(b.gep(p, [k]), align=4) for p in panel_pointers]
    for r in range(R):
        value = b.load(b.gep(row_pointers[r], [k]), align=4)
        first = b.insert_element(undef, value, ir.Constant(e.int32, 0))
        spread = b.shuffle_vector(first, undef, broadcast)
        for c in range(C):
            sums[r][c].add_incoming(_fma(b, e.vector, spread, panels[c], sums[r][c]), b.block)
    k.add_incoming(b.add(k, e.const(1)), b.block)
    b.branch(head)
    b.position_at_end(tail)
    return sums


def _store(e: _Emitter, total, pointer, remaining, accumulate) -> None:
    """out[pointer : pointer + LANES] ← total (or += total); only the first ``remaining``
    lanes where the panel runs past out's last column."""
    b = e.builder
    with b.if_else(b.icmp_signed(">=", remaining, e.const(LANES))) as (whole, part):
        with whole:  # one vector store
            target = b.bitcast(pointer, e.vector.as_pointer())
            added = b.fadd(total, b.load(target, align=4))
            b.store(b.select(accumulate, added, total), target, align=4)
        with part:  # the last, partial panel: lane by lane
            for lane in range(LANES):
                with b.if_then(b.icmp_signed("<", e.const(lane), remaining)):
                    target = b.gep(pointer, [e.const(lane)])
                    value = b.extract_element(total, ir.Constant(e.int32, lane))
                    added = b.fadd(value, b.load(target))
                    b.store(b.select(accumulate, added, value), target)


def _tile_intrinsic(R: int, C: int):
    """An intrinsic computing an R-row, C-panel tile of out ← rows · M (or out += …).

    tile(rows, row0, count, packed, panel0, out, accumulate):
    rows (B, K), packed (P, K, LANES), out (B, N), all C-contiguous, one dtype. Rows
    row0 … row0 + count − 1 (count ≤ R) and panels panel0 … panel0 + C − 1 (< P);
    columns ≥ N of the last panel are not stored.
    """

    def codegen(context, builder, sig, args):
        rows_v, row0, count, packed_v, panel0, out_v, accumulate = args
        rows_t, _, _, packed_t, _, out_t, _ = sig.args
        e = _Emitter(context, builder, context.get_data_type(rows_t.dtype))
        rows_a = context.make_array(rows_t)(context, builder, rows_v)
        packed_a = context.make_array(packed_t)(context, builder, packed_v)
        out_a = context.make_array(out_t)(context, builder, out_v)
        K = cgutils.unpack_tuple(builder, rows_a.shape, 2)[1]
        N = cgutils.unpack_tuple(builder, out_a.shape, 2)[1]
        pointers = _operand_pointers(e, rows_a, packed_a, row0, count, panel0, K, R, C)
        sums = _accumulate(e, *pointers, K)
        for c in range(C):
            column = builder.mul(builder.add(panel0, e.const(c)), e.const(LANES))
            remaining = builder.sub(N, column)  # columns of this panel inside out
            for r in range(R):
                with builder.if_then(builder.icmp_signed("<", e.const(r), count)):
                    start = builder.add(builder.mul(builder.add(row0, e.const(r)), N), column)
                    pointer = builder.gep(out_a.data, [start])
                    _store(e, sums[r][c], pointer, remaining, accumulate)
        return context.get_dummy_value()

    @intrinsic
    def tile(typingctx, rows, row0, count, packed, panel0, out, accumulate):
        if any(array.layout != "C" for array in (rows, packed, out)):
            raise TypingError("the panel tile reads and writes C-contiguous arrays only")
        signature = types.void(rows, types.intp, types.intp, packed, types.intp, out, types.boolean)
        return signature, codegen

    return tile


#: tiles for one row (the B = 1 matrix-vector product: 4 panels share each broadcast)
#: and for batches (8 rows × 2 panels: 16 accumulators, each panel load used 8 times)
_tile_1x4 = _tile_intrinsic(1, 4)
_tile_1x1 = _tile_intrinsic(1, 1)
_tile_8x1 = _tile_intrinsic(8, 1)
_tile_8x2 = _tile_intrinsic(8, 2)


@njit(cache=True, nogil=True, error_model="numpy")
def pack_panels(M, transposed, packed, first=0, stop=-1):
    """packed (P, K, LANES) ← the column panels of M (K, N), given M or, with
    ``transposed``, Mᵀ (N, K). P = ⌈N / LANES⌉; columns past N are zeros. Only panels
    first … stop − 1 (all by default): a thread of a team packs the panels it reads."""
    P, K, _ = packed.shape
    N = M.shape[0] if transposed else M.shape[1]
    if stop < 0:
        stop = P
    for p in range(first, stop):
        width = min(LANES, N - p * LANES)
        if width < LANES:  # the last panel is partial
            packed[p] = 0
        for k in range(K):
            for c in range(width):
                packed[p, k, c] = M[p * LANES + c, k] if transposed else M[k, p * LANES + c]


def packed_panels(M: np.ndarray, transposed: bool = False) -> np.ndarray:
    """M (K, N) — or Mᵀ (N, K) with ``transposed`` — as column panels (⌈N/LANES⌉, K, LANES)."""
    M = np.ascontiguousarray(M)
    K, N = M.shape[::-1] if transposed else M.shape
    packed = np.empty((-(-N // LANES), K, LANES), dtype=M.dtype)
    pack_panels(M, transposed, packed)
    return packed


@njit(cache=True, nogil=True, error_model="numpy")
def panel_product(rows, packed, out, accumulate, first=0, stop=-1):
    """out ← rows · M (or out + rows · M) for rows (B, K), M packed (P, K, LANES), out (B, N);
    only the columns of panels first … stop − 1 (all panels by default)."""
    B = rows.shape[0]
    if stop < 0:
        stop = packed.shape[0]
    width = 4 if B == 1 else 2  # panels per tile
    p = first
    while p + width <= stop:
        if B == 1:
            _tile_1x4(rows, 0, 1, packed, p, out, accumulate)
        else:
            for row0 in range(0, B, 8):
                _tile_8x2(rows, row0, min(8, B - row0), packed, p, out, accumulate)
        p += width
    while p < stop:
        if B == 1:
            _tile_1x1(rows, 0, 1, packed, p, out, accumulate)
        else:
            for row0 in range(0, B, 8):
                _tile_8x1(rows, row0, min(8, B - row0), packed, p, out, accumulate)
        p += 1
