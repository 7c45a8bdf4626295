"""A spin barrier for the threads of one compiled loop (see ``rnnlab.runtime.team``).

The threads of a team meet once or twice per time step, a few microseconds apart, so
the barrier must cost well under a microsecond: a sleeping lock costs tens. Each thread
adds one to a shared counter and spins until the counter reaches the barrier's
generation times the number of threads; the counter only grows, so it needs no reset.
Numba has no atomics for CPU code, so the two operations are LLVM's, as intrinsics.
A thread that has spun for a while (its partner was descheduled: more busy threads
than cores) yields its core at every further round instead of burning it.
"""

from __future__ import annotations

import ctypes
import platform

import llvmlite.binding as llvm
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.core.extending import intrinsic

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
#: spins (each a ``pause``, tens of nanoseconds) before a waiting thread starts yielding
_PATIENCE = 1 << 14

llvm.add_symbol("sched_yield", ctypes.cast(ctypes.CDLL(None).sched_yield, ctypes.c_void_p).value)
_sched_yield = types.ExternalFunction("sched_yield", types.int32())


def _check_counter(counter: types.Type) -> None:
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        raise TypingError(f"the counter must be an int64 array, got {counter}")


@intrinsic
def atomic_increment(typingctx, counter):
    """counter[0] += 1 as one atomic read-modify-write; returns the old value."""
    _check_counter(counter)

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        one = ir.Constant(ir.IntType(64), 1)
        return builder.atomic_rmw("add", array.data, one, "seq_cst")

    return types.int64(counter), codegen


@intrinsic
def atomic_read(typingctx, counter):
    """counter[0], read atomically (acquire: later reads see what was written before)."""
    _check_counter(counter)

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.load_atomic(array.data, "acquire", 8)

    return types.int64(counter), codegen


@intrinsic
def atomic_store(typingctx, counter, value):
    """counter[0] = value, atomically (release: what was written before is seen first)."""
    _check_counter(counter)

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        builder.store_atomic(args[1], array.data, "release", 8)
        return context.get_dummy_value()

    return types.void(counter, types.int64), codegen


@intrinsic
def spin_pause(typingctx):
    """A hint to the CPU that this is a spin-wait loop (x86 ``pause``; nothing elsewhere)."""

    def codegen(context, builder, sig, args):
        if _X86:
            signature = ir.FunctionType(ir.VoidType(), [])
            pause = cgutils.get_or_insert_function(builder.module, signature, "llvm.x86.sse2.pause")
            builder.call(pause, [])
        return context.get_dummy_value()

    return types.void(), codegen


@njit(cache=True, nogil=True, inline="always")
def wait_until(counter, value):
    """Wait until counter[0] ≥ value (another thread's progress, see ``atomic_store``)."""
    spins = 0
    while atomic_read(counter) < value:
        if spins < _PATIENCE:
            spins += 1
            spin_pause()
        else:
            _sched_yield()


@njit(cache=True, nogil=True, inline="always")
def barrier(counter, parts, passed):
    """Wait until all ``parts`` threads have arrived at the next barrier, and return its
    number: ``passed`` is the number of the last one this thread passed (0 at first)."""
    generation = passed + 1
    atomic_increment(counter)
    wait_until(counter, generation * parts)
    return generation
