"""Gradient clipping kernels (Keras's ``clipnorm``, ``global_clipnorm``, ``clipvalue``),
applied to a gradient vector g (N,) in place before the optimizer's update.

    clip_norm    g ← g · min(1, c / ‖g‖₂)       (per parameter tensor, or over all of them)
    clip_value   g ← min(max(g, -c), c)          (element-wise)
"""
import numpy as np

from ..config import kernel


@kernel
def clip_norm(g, c):
    """g ← g · c / ‖g‖₂ when ‖g‖₂ > c; returns ‖g‖₂ before clipping (float64).

    g (N,) gradient, updated in place; c > 0 the largest norm."""
    N = g.shape[0]
    sq = 0.0
    for i in range(N):
        sq += np.float64(g[i]) * g[i]
    norm = np.sqrt(sq)
    if norm > c:
        s = c / norm
        for i in range(N):
            g[i] = g[i] * s
    return norm


@kernel
def clip_value(g, c):
    """g_i ← min(max(g_i, -c), c).  g (N,) gradient, updated in place; c > 0."""
    N = g.shape[0]
    for i in range(N):
        g[i] = min(max(g[i], -c), c)
