"""Optimizer update kernels on flat parameter vectors p, gradients g (N,).

Weight decay λ adds λ p to the gradient (L2 penalty ½ λ ‖p‖²), except AdamW
which decays the weights directly. All updates are element-wise, parallel over N.
"""
import numpy as np
from numba import prange

from ..config import parallel_kernel


@parallel_kernel
def sgd_update(p, g, lr, weight_decay):
    """p ← p - η (g + λ p)."""
    for i in prange(p.shape[0]):
        p[i] -= lr * (g[i] + weight_decay * p[i])


@parallel_kernel
def momentum_update(p, v, g, lr, mu, weight_decay, nesterov):
    """Momentum (textbook form): v ← μ v - η ∇,  p ← p + v.

    Nesterov: p ← p + μ v - η ∇ (the look-ahead step, Sutskever et al. 2013),
    with ∇ = g + λ p.
    """
    for i in prange(p.shape[0]):
        grad = g[i] + weight_decay * p[i]
        v[i] = mu * v[i] - lr * grad
        if nesterov:
            p[i] += mu * v[i] - lr * grad
        else:
            p[i] += v[i]


@parallel_kernel
def adagrad_update(p, h, g, lr, eps, weight_decay):
    """AdaGrad: h ← h + ∇²,  p ← p - η ∇ / (√h + ε)."""
    for i in prange(p.shape[0]):
        grad = g[i] + weight_decay * p[i]
        h[i] += grad * grad
        p[i] -= lr * grad / (np.sqrt(h[i]) + eps)


@parallel_kernel
def rmsprop_update(p, h, g, lr, rho, eps, weight_decay):
    """RMSProp: h ← ρ h + (1 - ρ) ∇²,  p ← p - η ∇ / (√h + ε)."""
    for i in prange(p.shape[0]):
        grad = g[i] + weight_decay * p[i]
        h[i] = rho * h[i] + (1 - rho) * grad * grad
        p[i] -= lr * grad / (np.sqrt(h[i]) + eps)


@parallel_kernel
def adam_update(p, m, v, g, lr, beta1, beta2, eps, weight_decay, decoupled, t):
    """Adam (Kingma & Ba) at step t ≥ 1:

        m ← β1 m + (1 - β1) ∇,   v ← β2 v + (1 - β2) ∇²
        m̂ = m / (1 - β1^t),      v̂ = v / (1 - β2^t)
        p ← p - η m̂ / (√v̂ + ε)

    With ``decoupled`` (AdamW) the decay is p ← p - η λ p instead of ∇ = g + λ p.
    """
    c1 = 1 / (1 - beta1 ** t)
    c2 = 1 / (1 - beta2 ** t)
    for i in prange(p.shape[0]):
        grad = g[i] if decoupled else g[i] + weight_decay * p[i]
        m[i] = beta1 * m[i] + (1 - beta1) * grad
        v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
        step = lr * (m[i] * c1) / (np.sqrt(v[i] * c2) + eps)
        if decoupled:
            p[i] -= step + lr * weight_decay * p[i]
        else:
            p[i] -= step
