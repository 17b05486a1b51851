"""Loss kernels: per-sample loss ℓ_b and the output δ = ∂L/∂u, with L = (1/B) Σ_b ℓ_b.

Why δ = (y - d) / B for the matching pairs (y = network output, d = target):

* softmax + cross-entropy, ℓ = -Σ_k d_k log y_k with y = softmax(u) and Σ_k d_k = 1:
  ∂ℓ/∂u_j = -Σ_k d_k (δ_kj - y_j) = y_j - d_j.
* sigmoid + binary cross-entropy, ℓ = -Σ_k [d_k log y_k + (1 - d_k) log(1 - y_k)]:
  ∂ℓ/∂y = (y - d) / (y (1 - y)) and σ'(u) = y (1 - y), so ∂ℓ/∂u = y - d.
* identity + sum of squares, ℓ = ½ Σ_k (y_k - d_k)^2: ∂ℓ/∂u = (y - d) · 1.

For any other output activation with the sum of squares, δ = (y - d) f'(u).
The cross-entropies are computed from the logits u, never from log(y):
    softmax CE: ℓ = logsumexp(u) - Σ_k d_k u_k
    BCE:        ℓ = Σ_k max(u_k, 0) - u_k d_k + log(1 + e^{-|u_k|})

``loss_row`` computes one sample's ℓ_b and dz row; ``batch_loss`` runs it over a batch
and makes δ of the rows (a serial kernel: the work is B·K elements, a few thousand, less
than the cost of starting threads). Shapes: delta, dz, u, y, d (B, K) (one row (K,) in
``loss_row``); losses (B,); slope (S, K).
"""
import numpy as np

from ..config import ZERO, inline, kernel
from .activations import times_derivative

SUM_OF_SQUARES, BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY = range(3)
NAMES = {
    "sum_of_squares": SUM_OF_SQUARES, "mse": SUM_OF_SQUARES,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY, "bce": BINARY_CROSS_ENTROPY,
    "softmax_cross_entropy": SOFTMAX_CROSS_ENTROPY, "cross_entropy": SOFTMAX_CROSS_ENTROPY,
}


@inline
def loss_row(dz, u, y, d, kind, inv_b):
    """ℓ of one sample for loss ``kind``; writes its dz = ∂L/∂y row (``batch_loss``
    turns the rows into δ = ∂L/∂u).

    dz (K,) output; u, y, d (K,): y = f(u) the network's output, d the target;
    inv_b = 1 / B (float64). Inlined: a call per sample with its row views cost more in
    reference counts than the sums.

        SOFTMAX_CROSS_ENTROPY  ℓ = logsumexp(u) - Σ_k d_k u_k        δ = dz = (y - d) / B
        BINARY_CROSS_ENTROPY   ℓ = Σ_k max(u,0) - u d + log(1+e^-|u|)  δ = dz = (y - d) / B
        SUM_OF_SQUARES         ℓ = ½ Σ_k (y - d)^2   dz = (y - d) / B,  δ = dz · f'(u)
    """
    K = u.shape[0]
    if kind == SOFTMAX_CROSS_ENTROPY:
        m = u[0]
        for k in range(1, K):
            m = max(m, u[k])
        se = 0.0
        du = 0.0
        dsum = 0.0
        for k in range(K):  # sums only: no store in a summing loop (activations.py)
            se += np.exp(u[k] - m)
            du += d[k] * u[k]
            dsum += d[k]
        ell = dsum * (m + np.log(se)) - du
    else:
        ell = 0.0
        if kind == BINARY_CROSS_ENTROPY:
            for k in range(K):
                x = u[k]
                ell += max(x, 0) - x * d[k] + np.log1p(np.exp(-abs(x)))
        else:  # SUM_OF_SQUARES
            for k in range(K):
                r = y[k] - d[k]
                ell += r * r
            ell *= 0.5
    for k in range(K):
        dz[k] = (y[k] - d[k]) * inv_b
    return ell


@kernel
def batch_loss(losses, delta, dz, u, y, d, slope, kind, act):
    """losses[b] = ℓ_b and the dz rows of every sample (``loss_row``), then δ = dz ·
    f'(u) for the sum of squares (``times_derivative``), else δ = dz; returns Σ_b ℓ_b,
    summed in float64 (in a loop of its own: see activations.py).

    losses (B,), delta, dz (B, K) outputs; u, y, d (B, K); slope (S, K); kind the
    loss code, act the output's activation code."""
    B, K = u.shape
    inv_b = 1 / B
    for b in range(B):
        losses[b] = loss_row(dz[b], u[b], y[b], d[b], kind, inv_b)
    if kind == SUM_OF_SQUARES:
        times_derivative(delta, dz, u, y, slope, act, ZERO, B)
    else:
        for b in range(B):
            db, gb = delta[b], dz[b]
            for k in range(K):
                db[k] = gb[k]
    total = 0.0
    for b in range(B):
        total += losses[b]
    return total
