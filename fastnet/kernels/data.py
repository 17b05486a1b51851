"""Minibatch gather kernels: copy the rows of a shuffled batch into a workspace."""
from numba import prange

from ..config import parallel_kernel


@parallel_kernel
def gather_rows(out, src, idx, scale):
    """out[i, :] = scale · src[idx[i], :], converting dtype on the fly.

    out (B, C) float workspace; src (N, C) the dataset (uint8 images stay uint8
    in memory and are scaled by 1/255 here); idx (B,) int64 sample indices.
    """
    B, C = out.shape
    for i in prange(B):
        r = idx[i]
        for c in range(C):
            out[i, c] = src[r, c] * scale
