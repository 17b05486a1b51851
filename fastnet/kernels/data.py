"""Minibatch gather kernels: copy the rows of a shuffled batch into a workspace, scaling
them on the way (so the data set itself, memory-mapped or not, is never copied)."""
from numba import prange

from ..config import helper, parallel_kernel

GROUP = 8  # rows whose memory loads are started together
LINE = 64  # bytes per cache line


@helper
def _gather_group(out, t, src, src_t, idx, scale, shift, factor, i0, i1):
    """out[i, c] = scale · src[idx[i], c] when shift is empty, else
    (src[idx[i], c] − shift[c]) · factor[c], and t[i] = src_t[idx[i]], for i0 ≤ i < i1
    (at most GROUP rows).

    The rows of a shuffled batch lie anywhere in the data set, so each starts with a
    wait for memory. One element of every cache line of the group's rows is read
    first, in independent loads the CPU overlaps, and then the group is converted
    from cache.
    """
    C = out.shape[1]
    step = max(LINE // src.itemsize, 1)
    touched = 0.0
    for c in range(0, C, step):
        for i in range(i0, i1):
            touched += src[idx[i], c]
    if touched < 0:  # keeps the loads; the row is overwritten below anyway
        out[i0, 0] = touched
    if shift.shape[0] == 0:
        for i in range(i0, i1):
            r = idx[i]
            for c in range(C):
                out[i, c] = src[r, c] * scale
    else:
        for i in range(i0, i1):
            r = idx[i]
            for c in range(C):
                out[i, c] = (src[r, c] - shift[c]) * factor[c]
    for i in range(i0, i1):  # the targets: a few numbers a row (a loop, not a slice
        ti, si = t[i], src_t[idx[i]]   # assignment, which would compile a shape check)
        for k in range(t.shape[1]):
            ti[k] = si[k]


@parallel_kernel
def gather_batch(x, t, src_x, src_t, idx, scale, shift, factor):
    """A batch: x[i, :] = scale · src_x[idx[i], :] (shift empty), or per feature
    x[i, c] = (src_x[idx[i], c] − shift[c]) · factor[c], converting dtype on the fly;
    and t[i] = src_t[idx[i]].

    x (B, C), t (B, K) outputs; src_x (N, C) the dataset, as given (uint8 images stay
    uint8 and are scaled by 1/255 here; a memory-mapped file is read row by row); src_t
    (N, K) float targets, K = 0 for inputs alone (evaluation, prediction: one kernel
    to compile, not two); idx (B,) int64 sample indices; scale a float; shift, factor
    (C,) float32 (a fitted ``Scaler``'s statistics) or both (0,). Parallel over groups
    of GROUP rows; the targets, a few numbers a row, in the same loop: less work than
    starting the threads for a loop of their own.
    """
    B = x.shape[0]
    for g in prange((B + GROUP - 1) // GROUP):
        i0 = g * GROUP
        _gather_group(x, t, src_x, src_t, idx, scale, shift, factor, i0, min(i0 + GROUP, B))
