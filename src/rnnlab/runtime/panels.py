"""The per-step product out ← rows · M, with M packed once per sequence into column panels.

At every step the loops multiply a few rows (h_{t−1}, B × K) by the same recurrent
matrix M (K × N). OpenBLAS repacks M at each call, which at small B costs more than
the product itself (it reads 16 MB per step for an LSTM with H = 1024). Here M is
packed once per call of a layer, into panels of ``LANES`` columns,

    packed[p, k, c] = M[k, p·LANES + c]     (zeros past column N),

and a register-blocked kernel streams the panels: for a tile of R rows and C panels it
keeps R·C vector accumulators in registers, and for every k adds rows[r, k] · packed[p, k]
to them (one vector load of the panel, R broadcasts, R·C fused multiply-adds). The
kernel is generated as LLVM IR with explicit vector types, so it does not depend on
the auto-vectoriser; it is inlined into the step loops and cached like any other code.
The sum over k runs in order, as in a dot product, so float64 results agree with
numpy's to rounding.
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


def _tile_intrinsic(R: int, C: int):
    """An intrinsic computing an R-row, C-panel tile of out ← rows · M (or out += …).

    tile(rows, row0, count, packed, panel0, out, accumulate):
    rows (B, K), packed (P, K, LANES), out (B, N), all C-contiguous, one dtype. Rows
    row0 … row0 + count − 1 (count ≤ R) and panels panel0 … panel0 + C − 1 (< P);
    columns ≥ N of the last panel are not stored.
    """

    @intrinsic
    def tile(typingctx, rows, row0, count, packed, panel0, out, accumulate):
        if any(array.layout != "C" for array in (rows, packed, out)):
            raise TypingError("the panel tile reads and writes C-contiguous arrays only")
        signature = types.void(rows, types.intp, types.intp, packed, types.intp, out, types.boolean)

        def codegen(context, builder, sig, args):
            rows_v, row0_v, count_v, packed_v, panel0_v, out_v, accumulate_v = args
            rows_t, _, _, packed_t, _, out_t, _ = sig.args
            real = context.get_data_type(rows_t.dtype)
            vector = ir.VectorType(real, LANES)
            intp = context.get_value_type(types.intp)
            int32 = ir.IntType(32)

            def const(value):
                return ir.Constant(intp, value)

            rows_a = context.make_array(rows_t)(context, builder, rows_v)
            packed_a = context.make_array(packed_t)(context, builder, packed_v)
            out_a = context.make_array(out_t)(context, builder, out_v)
            K = cgutils.unpack_tuple(builder, rows_a.shape, 2)[1]
            N = cgutils.unpack_tuple(builder, out_a.shape, 2)[1]
            # rows past count re-read the last valid row (their results are not stored)
            last = builder.sub(count_v, const(1))
            row_pointers = []
            for r in range(R):
                index = builder.select(builder.icmp_signed("<", const(r), count_v), const(r), last)
                start = builder.mul(builder.add(row0_v, index), K)
                row_pointers.append(builder.gep(rows_a.data, [start]))
            panel_pointers = []
            for c in range(C):
                start = builder.mul(builder.mul(builder.add(panel0_v, const(c)), K), const(LANES))
                panel_pointers.append(
                    builder.bitcast(builder.gep(packed_a.data, [start]), vector.as_pointer())
                )
            zero = ir.Constant(vector, [ir.Constant(real, 0.0)] * LANES)
            undef = ir.Constant(vector, ir.Undefined)
            broadcast = ir.Constant(ir.VectorType(int32, LANES), [0] * LANES)

            entry = builder.block
            head = builder.append_basic_block("tile.head")
            body = builder.append_basic_block("tile.body")
            tail = builder.append_basic_block("tile.tail")
            builder.branch(head)
            builder.position_at_end(head)
            k = builder.phi(intp)
            k.add_incoming(const(0), entry)
            sums = [[builder.phi(vector) for _ in range(C)] for _ in range(R)]
            for row in sums:
                for s in row:
                    s.add_incoming(zero, entry)
            builder.cbranch(builder.icmp_signed("<", k, K), body, tail)

            builder.position_at_end(body)
            panels = [builder.load(builder.gep(p, [k]), align=4) for p in panel_pointers]
            updated = []
            for r in range(R):
                value = builder.load(builder.gep(row_pointers[r], [k]), align=4)
                spread = builder.shuffle_vector(
                    builder.insert_element(undef, value, ir.Constant(int32, 0)), undef, broadcast
                )
                updated.append(
                    [_fma(builder, vector, spread, panels[c], sums[r][c]) for c in range(C)]
                )
            k.add_incoming(builder.add(k, const(1)), builder.block)
            for r in range(R):
                for c in range(C):
                    sums[r][c].add_incoming(updated[r][c], builder.block)
            builder.branch(head)

            builder.position_at_end(tail)
            for c in range(C):
                column = builder.mul(builder.add(panel0_v, const(c)), const(LANES))
                remaining = builder.sub(N, column)  # columns of this panel inside out
                for r in range(R):
                    with builder.if_then(builder.icmp_signed("<", const(r), count_v)):
                        start = builder.add(builder.mul(builder.add(row0_v, const(r)), N), column)
                        pointer = builder.gep(out_a.data, [start])
                        total = sums[r][c]
                        full = builder.icmp_signed(">=", remaining, const(LANES))
                        with builder.if_else(full) as (whole, part):
                            with whole:  # one vector store
                                target = builder.bitcast(pointer, vector.as_pointer())
                                previous = builder.load(target, align=4)
                                added = builder.fadd(total, previous)
                                builder.store(
                                    builder.select(accumulate_v, added, total), target, align=4
                                )
                            with part:  # the last, partial panel: lane by lane
                                for lane in range(LANES):
                                    inside = builder.icmp_signed("<", const(lane), remaining)
                                    with builder.if_then(inside):
                                        target = builder.gep(pointer, [const(lane)])
                                        value = builder.extract_element(
                                            total, ir.Constant(int32, lane)
                                        )
                                        added = builder.fadd(value, builder.load(target))
                                        builder.store(
                                            builder.select(accumulate_v, added, value), target
                                        )
            return context.get_dummy_value()

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
