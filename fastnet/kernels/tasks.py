"""Tasks handed out as threads ask for them, for the parallel loops whose tasks are long.

Numba's ``prange`` splits a loop's iterations among the threads up front, in equal
runs: when one core runs slower for a while (another process on it, a virtual machine's
stolen time, a CPU's efficient cores), the kernel waits for its thread's last task. Here
the loop has one iteration per thread, and each thread takes the next task number from a
shared counter (an atomic add) until none is left, so a slower thread does fewer tasks:

    claimed = np.zeros(1, np.int64)
    for _ in prange(workers(n_tasks)):
        task = next_task(claimed)
        while task < n_tasks:
            ...                                # task number ``task``
            task = next_task(claimed)

A task's result depends on its number only, never on the thread that runs it, so the
bits stay the same whatever the thread count. Loops whose threads must keep the same
rows from one kernel to the next (the first layer's slices of Wᵀ) keep ``prange``'s
fixed split.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..config import inline


@intrinsic
def next_task(typingctx, claimed):
    """claimed[0] += 1 as one atomic operation; returns the value before (int64 claimed,
    shared by the threads of one loop)."""
    if not (isinstance(claimed, types.Array) and claimed.dtype == types.int64):
        raise TypeError(f"next_task needs an int64 array, got {claimed}")

    def codegen(context, builder, sig, args):
        counter = context.make_array(sig.args[0])(context, builder, args[0]).data
        one = context.get_constant(types.int64, 1)
        return builder.atomic_rmw("add", counter, one, "monotonic")
    return types.int64(claimed), codegen


@intrinsic
def _threads(typingctx):
    """Numba's thread count for this thread's parallel loops (``numba.get_num_threads``,
    whose own jitted form holds a pointer that keeps a kernel out of the cache): the
    threading layer's function that the parallel loops call themselves."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(64), []), "get_num_threads")
        return builder.call(fn, [])
    return types.int64(), codegen


@inline
def workers(n_tasks):
    """The iterations of a loop handing out ``n_tasks``: one per thread, at most one per
    task."""
    return min(n_tasks, _threads())
