"""Counting kernels: accuracy."""
from ..config import inline, kernel
from .losses import BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY


@inline
def correct_row(y, d, loss):
    """Correct predictions in one sample's output y and target d (K,).

    softmax: 1 if argmax_k y == argmax_k d (the first maximum wins ties) else 0;
    binary: the number of k with (y > ½) == (d > ½); regression: 0 (no accuracy).
    """
    K = y.shape[0]
    n = 0
    if loss == SOFTMAX_CROSS_ENTROPY:
        ky, kd = 0, 0
        for k in range(1, K):
            if y[k] > y[ky]:
                ky = k
            if d[k] > d[kd]:
                kd = k
        n = int(ky == kd)
    elif loss == BINARY_CROSS_ENTROPY:
        for k in range(K):
            n += (y[k] > 0.5) == (d[k] > 0.5)
    return n


@kernel
def count_correct(y, d, loss):
    """Number of correct predictions in a batch (``correct_row``). y, d (B, K)."""
    n = 0
    for b in range(y.shape[0]):
        n += correct_row(y[b], d[b], loss)
    return n
