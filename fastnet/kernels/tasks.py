"""A parallel loop's tasks: each thread runs its own run of them, in order, then helps
the others with theirs.

Numba's ``prange`` splits a loop's iterations among the threads up front, in equal
runs: when one core runs slower for a while (another process on it, a virtual machine's
stolen time, a CPU's efficient cores), the kernel waits for its thread's last task. Here
the loop has one iteration per thread ("worker"); worker w owns the tasks
[w n / T, (w + 1) n / T), as ``prange`` would give them, and takes them from the front;
when its run is done it takes the others' last ones, from the back:

    ranges = task_ranges(n_tasks)
    for worker in prange(len(ranges) // STRIDE):
        task = next_task(ranges, np.int64(worker))
        while task >= 0:
            ...                                # task number ``task``
            task = next_task(ranges, np.int64(worker))

So with threads of equal speed each thread runs what ``prange`` would have given it, and
a slower thread hands its last tasks over. A task's result depends on its number only,
never on the thread that runs it: the bits stay the same. The register-blocked kernels
loop this way. The row forms keep ``prange``: the forward and the weight gradient must
meet again in each thread the rows of W it updated in the last step, and their tasks are
short (on MNIST at batch 32, handed out this way, epochs took 1.07-1.18 × as long); the
hidden δ's gain did not show in epochs (0.96-1.02 ×), and the two helpers made the MNIST
run's compile worker end later.

A worker's run is one int64 word, its front in the high 32 bits and its back (plus
BACK_OFFSET) in the low 32: one atomic add takes a task from either end, and no task is
taken twice. The words lie a cache line apart (STRIDE).
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.ufunc.parallel import _launch_threads

from ..config import helper

STRIDE = 8  # int64s from one worker's word to the next: a cache line
FRONT = 1 << 32  # one task taken from the front
BACK_OFFSET = 1 << 31  # the back's bias: its word never borrows from the front
BACK = FRONT - 1  # the low 32 bits


@intrinsic
def _fetch_add(typingctx, words, index, value):
    """words[index] += value as one atomic operation; returns the value before (int64)."""
    if not (isinstance(words, types.Array) and words.dtype == types.int64):
        raise TypeError(f"_fetch_add needs an int64 array, got {words}")

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        value = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", builder.gep(data, [args[1]]), value, "monotonic")
    return types.int64(words, index, value), codegen


@intrinsic
def threads(typingctx):
    """Numba's thread count for this thread's parallel loops (``numba.get_num_threads``,
    whose own jitted form holds a pointer that keeps a kernel out of the cache): the
    threading layer's function that the parallel loops call themselves."""
    def codegen(context, builder, sig, args):
        _launch_threads()   # registers the function's symbol, as a parallel loop's lowering does
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(64), []), "get_num_threads")
        return builder.call(fn, [])
    return types.int64(), codegen


@helper
def task_ranges(n_tasks):
    """The runs of ``n_tasks`` tasks of one worker per thread (at most one per task):
    worker w's word holds the front and back of [w n / T, (w + 1) n / T)."""
    n = max(n_tasks, 0)
    workers = min(n, threads())
    ranges = np.empty(workers * STRIDE, np.int64)
    for w in range(workers):
        ranges[w * STRIDE] = w * n // workers * FRONT + (w + 1) * n // workers + BACK_OFFSET
    return ranges


@helper
def next_task(ranges, worker):
    """The next task of ``worker`` (the front of its run, else the back of another's,
    the next worker's first), or -1 when none is left."""
    old = _fetch_add(ranges, worker * STRIDE, FRONT)
    if old // FRONT < (old & BACK) - BACK_OFFSET:
        return old // FRONT
    workers = ranges.shape[0] // STRIDE
    for i in range(1, workers):
        victim = (worker + i) % workers
        old = _fetch_add(ranges, victim * STRIDE, -1)
        back = (old & BACK) - BACK_OFFSET
        if old // FRONT < back:
            return back - 1
    return -1
