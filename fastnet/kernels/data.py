"""Minibatch gather kernels: copy the rows of a shuffled batch into a workspace."""
from numba import prange

from ..config import parallel_kernel

GROUP = 8  # rows whose memory loads are started together
LINE = 64  # bytes per cache line


@parallel_kernel
def gather_rows(out, src, idx, scale):
    """out[i, :] = scale · src[idx[i], :], converting dtype on the fly.

    out (B, C) float workspace; src (N, C) the dataset (uint8 images stay uint8
    in memory and are scaled by 1/255 here); idx (B,) int64 sample indices.

    The rows of a shuffled batch lie anywhere in the data set, so each starts
    with a wait for memory. Rows go in groups of GROUP: one element of every
    cache line of the group's rows is read first, in independent loads the CPU
    overlaps, and then the group is converted from cache.
    """
    B, C = out.shape
    step = max(LINE // src.itemsize, 1)
    for g in prange((B + GROUP - 1) // GROUP):
        i0 = g * GROUP
        i1 = min(i0 + GROUP, B)
        touched = 0.0
        for c in range(0, C, step):
            for i in range(i0, i1):
                touched += src[idx[i], c]
        if touched < 0:  # keeps the loads; the row is overwritten below anyway
            out[i0, 0] = touched
        for i in range(i0, i1):
            r = idx[i]
            for c in range(C):
                out[i, c] = src[r, c] * scale
