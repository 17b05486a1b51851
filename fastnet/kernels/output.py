"""The output layer of a training step in one kernel: forward, loss, δ and the δ of
the layer below (llm.c fuses its classifier the same way).

For every block of 4 samples b0 ≤ b < b1 of a network with two layers or more:

    u = x Wᵀ + bias, z = f(u)                          as ``dense.dense_forward``
    ℓ_b, δ_b = ∂L/∂u_b, dz_b = ∂L/∂z_b                 ``losses.loss_row``
    correct_b                                          ``metrics.correct_row``
    dz_prev = δ W, δ_prev = f'_prev(u_prev) ⊙ dz_prev   as ``dense.hidden_delta``

Each line needs only the block's own rows, so the four are one parallel loop over
blocks of samples instead of two parallel kernels and two serial ones: at batch 32 the
output layer of MNIST's 784-256-10 network is ~20 µs of a ~190 µs step, and half of
that was starting and joining threads and calling kernels. The same helpers on the
same blocks give the same bits as the separate kernels (tests/test_properties.py).
"""
from numba import prange

from ..config import parallel_kernel
from .activations import add_bias_activate, times_derivative
from .dense import TILE, _ab_rows, _abt_block, _block
from .losses import loss_row
from .metrics import correct_row


@parallel_kernel
def output_layer(u, z, delta, dz, losses, correct, delta_prev, dz_prev,
                 x, w, bias, t, u_prev, slope, slope_prev, act, loss, act_prev):
    """Forward, loss and δ of the output layer and δ of the layer below, per sample block.

    u, z, delta, dz (B, K) outputs; losses (B,), correct (B,) int64 per-sample loss and
    correct predictions; delta_prev, dz_prev (B, C) δ and ∂L/∂z of the layer below;
    x (B, C) the layer's input (z of the layer below); w (K, C); bias (K,); t (B, K)
    targets; u_prev (B, C) pre-activation below; slope (S, K), slope_prev (S, C)
    negative slopes (S = 1 or B); act, loss, act_prev int codes. Returns (Σ_b ℓ_b in
    float64, Σ_b correct_b), summed after the parallel loop as ``batch_loss`` sums.
    """
    B, K = u.shape
    inv_b = 1 / B
    last, last_prev = slope.shape[0] - 1, slope_prev.shape[0] - 1
    for blk in prange((B + TILE - 1) // TILE):
        b0, b1 = _block(blk, B)
        _abt_block(u, x, w, b0, b1, 0, K)
        add_bias_activate(u, z, bias, slope, act, b0, b1, 0, K)
        for b in range(b0, b1):
            losses[b] = loss_row(loss, delta[b], dz[b], u[b], z[b], t[b], act,
                                 slope[min(b, last)], inv_b)
            correct[b] = correct_row(z[b], t[b], loss)
        _ab_rows(dz_prev, delta, w, b0, b1, 0)
        for b in range(b0, b1):
            times_derivative(delta_prev[b], dz_prev[b], u_prev[b], x[b],
                             slope_prev[min(b, last_prev)], act_prev)
    total = 0.0
    n = 0
    for b in range(B):
        total += losses[b]
        n += correct[b]
    return total, n
