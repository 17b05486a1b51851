"""Counting kernels: accuracy."""
from ..config import kernel
from .losses import BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY


@kernel
def count_correct(y, d, loss):
    """Number of correct predictions in a batch: y (B, K) outputs, d (B, K) targets,
    loss the loss code.

    softmax: argmax_k y == argmax_k d per row; binary: (y_bk > ½) == (d_bk > ½) for
    every k of the row (one output: that output; several labels: all of them, the
    exact-match accuracy); regression: 0 (no accuracy). One correct count per sample,
    so accuracy = count / samples for every loss.
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
            right = True
            for k in range(K):
                if (y[b, k] > 0.5) != (d[b, k] > 0.5):
                    right = False
                    break
            n += right
    return n
