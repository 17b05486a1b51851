"""Counting kernels: accuracy, and the divergence check."""
import numpy as np

from ..config import kernel
from .losses import BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY


@kernel
def count_correct(y, d, loss):
    """Number of correct predictions in a batch. y, d (B, K).

    softmax: argmax_k y == argmax_k d per row; binary: (y > ½) == (d > ½) per
    element; regression: 0 (no accuracy).
    """
    B, K = y.shape
    n = 0
    if loss == SOFTMAX_CROSS_ENTROPY:
        for b in range(B):
            ky, kd = 0, 0
            for k in range(1, K):
                if y[b, k] > y[b, ky]:
                    ky = k
                if d[b, k] > d[b, kd]:
                    kd = k
            n += ky == kd
    elif loss == BINARY_CROSS_ENTROPY:
        for b in range(B):
            for k in range(K):
                n += (y[b, k] > 0.5) == (d[b, k] > 0.5)
    return n


@kernel
def all_finite(p):
    """True when no element of p (N,) is NaN or ±inf: the divergence check after
    every update, without the temporary array of np.isfinite(p).all(). Counting
    (rather than stopping at the first) keeps the loop a vectorisable reduction.
    """
    bad = 0
    for i in range(p.shape[0]):
        bad += not np.isfinite(p[i])
    return bad == 0
