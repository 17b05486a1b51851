"""Counting kernels: accuracy."""
from ..config import kernel
from .losses import BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY


@kernel
def count_correct(y, d, loss):
    """Number of correct predictions in a batch: y (B, K) outputs, d (B, K) targets,
    loss the loss code.

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
