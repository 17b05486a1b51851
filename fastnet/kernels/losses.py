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

Shapes: delta, dz, u, y, d (B, K); losses (B,); slope (S, K). Each kernel also
returns Σ_b ℓ_b, summed in float64. The work is B·K elements (a few thousand),
less than the cost of starting threads: serial kernels.
"""
import numpy as np

from ..config import kernel
from .activations import times_derivative

SUM_OF_SQUARES, BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY = range(3)
NAMES = {
    "sum_of_squares": SUM_OF_SQUARES, "mse": SUM_OF_SQUARES,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY, "bce": BINARY_CROSS_ENTROPY,
    "softmax_cross_entropy": SOFTMAX_CROSS_ENTROPY, "cross_entropy": SOFTMAX_CROSS_ENTROPY,
}


@kernel
def sum_of_squares(delta, dz, losses, u, y, d, act, slope):
    """ℓ_b = ½ Σ_k (y - d)^2;  dz = ∂L/∂y = (y - d) / B;  δ = dz · f'(u).

    Regression. With the matching identity output f'(u) = 1, so δ = (y - d) / B;
    any other output activation multiplies by its derivative (the general δ rule).
    """
    B, K = u.shape
    inv_b = 1 / B
    last_row = slope.shape[0] - 1
    total = 0.0
    for b in range(B):
        acc = 0.0
        for k in range(K):
            r = y[b, k] - d[b, k]
            acc += r * r
            dz[b, k] = r * inv_b
        losses[b] = 0.5 * acc
        total += losses[b]
        times_derivative(delta[b], dz[b], u[b], y[b], slope[min(b, last_row)], act)
    return total


@kernel
def binary_cross_entropy(delta, dz, losses, u, y, d, act, slope):
    """Sigmoid output, targets d ∈ {0, 1}: ℓ_b = Σ_k max(u,0) - u d + log(1 + e^-|u|).

    That is -[d log σ(u) + (1 - d) log(1 - σ(u))] computed from the logits u, so it
    never takes log(0). δ = (σ(u) - d) / B because ∂ℓ/∂y = (y - d) / (y (1 - y))
    and σ'(u) = y (1 - y) cancel: the sigmoid's saturation does not slow learning.
    """
    B, K = u.shape
    inv_b = 1 / B
    total = 0.0
    for b in range(B):
        acc = 0.0
        for k in range(K):
            x = u[b, k]
            acc += max(x, 0) - x * d[b, k] + np.log1p(np.exp(-abs(x)))
            delta[b, k] = (y[b, k] - d[b, k]) * inv_b
            dz[b, k] = delta[b, k]
        losses[b] = acc
        total += losses[b]
    return total


@kernel
def softmax_cross_entropy(delta, dz, losses, u, y, d, act, slope):
    """Softmax output: ℓ_b = logsumexp(u) - Σ_k d_k u_k; δ = (softmax(u) - d) / B.

    ℓ = -Σ_k d_k log y_k with y = softmax(u); ∂y_k/∂u_j = y_k (δ_kj - y_j) gives
    ∂ℓ/∂u_j = y_j Σ_k d_k - d_j = y_j - d_j for targets that sum to 1 (one-hot or
    integer labels, which the Network one-hot encodes).
    """
    B, K = u.shape
    inv_b = 1 / B
    total = 0.0
    for b in range(B):
        m = u[b, 0]
        for k in range(1, K):
            m = max(m, u[b, k])
        se = 0.0
        du = 0.0
        dsum = 0.0
        for k in range(K):
            se += np.exp(u[b, k] - m)
            du += d[b, k] * u[b, k]
            dsum += d[b, k]
            delta[b, k] = (y[b, k] - d[b, k]) * inv_b
            dz[b, k] = delta[b, k]
        losses[b] = dsum * (m + np.log(se)) - du
        total += losses[b]
    return total


KERNELS = (sum_of_squares, binary_cross_entropy, softmax_cross_entropy)
