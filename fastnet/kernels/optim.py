"""Optimizer update rules, applied element-wise to parameters p, gradients g (n,)
and the optimizer's state vectors s1, s2 (n,), all updated in place.

With ∇ = g + λ p (weight decay λ, the L2 penalty ½ λ ‖p‖²) and learning rate η:

    SGD        p ← p - η ∇
    MOMENTUM   v ← μ v - η ∇,  p ← p + v                      (s1 = v)
    NESTEROV   v ← μ v - η ∇,  p ← p + μ v - η ∇               (Sutskever et al. 2013)
    ADAGRAD    h ← h + ∇²,  p ← p - η ∇ / (√h + ε)             (s1 = h)
    RMSPROP    h ← ρ h + (1 - ρ) ∇²,  p ← p - η ∇ / (√h + ε)   (s1 = h)
    ADAM       m ← β1 m + (1 - β1) ∇,  v ← β2 v + (1 - β2) ∇²  (s1 = m, s2 = v)
               p ← p - η m̂ / (√v̂ + ε),  m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)
    ADAMW      Adam with ∇ = g and the decay applied to the weights: p ← p - η λ p

``update_row`` is called by the weight-gradient kernel, whose tasks each update the
block of rows they have just computed the gradient of (still in the core's cache), and
by ``optimizer_update``, the parallel update of a whole flat vector; both give the same
bits (tests/test_properties.py). A rule that keeps no state is given any array of the
right length for s1 / s2 and never touches it.
"""
import numpy as np
from numba import prange

from ..config import helper, inline, parallel_kernel

NO_UPDATE, SGD, MOMENTUM, NESTEROV, ADAGRAD, RMSPROP, ADAM, ADAMW = range(-1, 7)
# Slots of the hyper-parameter vector h.
LR, DECAY, RATE1, RATE2, EPS, CORRECT1, CORRECT2 = range(7)
CHUNK = 4096  # elements per task of the parallel flat update


def hyper(lr, weight_decay=0.0, rate1=0.0, rate2=0.0, eps=0.0, t=1):
    """The float64 vector h of one step: η, λ, the rates (μ, ρ or β1, β2), ε and Adam's
    bias corrections 1 / (1 - β1^t), 1 / (1 - β2^t) at step t ≥ 1."""
    return np.array([lr, weight_decay, rate1, rate2, eps,
                     1 / (1 - rate1 ** t) if rate1 < 1 else 1.0,
                     1 / (1 - rate2 ** t) if rate2 < 1 else 1.0])


NO_HYPER = hyper(0.0)  # the hyper-parameters that go with NO_UPDATE (never read)


@helper
def update_row(p, s1, s2, g, h, kind):
    """One step of rule ``kind`` (module doc) on p, s1, s2 (n,), updated in place, given
    the gradient g (n,) and the hyper-parameters h (7,).

    Returns how many of the updated p are NaN or ±inf (the divergence check, done
    while the row is in cache). The branch is outside the loops, so each loop is a
    plain vectorisable sweep; rules that differ by a constant share a loop (fewer
    loops for LLVM to compile). Every rule computes in the parameters' dtype: the
    hyper-parameters are cast first (float64 scalars would make a float32 sweep float64
    arithmetic with conversions and half the lanes), 1 - ρ and 1 - β subtracted in
    float64 before the cast (1 - float32(0.999) is 1.3e-5 off, relatively). Adam's scalars are folded (η / (1 - β1^t), η λ) so
    that its loop leaves LLVM no product to re-associate one way in the fused copy and
    another in the flat one: the two give the same bits.
    """
    if kind == NO_UPDATE:
        return 0
    f = p.dtype.type
    n = p.shape[0]
    lr, wd, eps = f(h[LR]), f(h[DECAY]), f(h[EPS])
    r1, r2 = f(h[RATE1]), f(h[RATE2])
    q1, q2 = f(1 - h[RATE1]), f(1 - h[RATE2])  # 1 - ρ, 1 - β: subtracted before rounding
    if kind == SGD:
        for i in range(n):
            p[i] -= lr * (g[i] + wd * p[i])
    elif kind == MOMENTUM or kind == NESTEROV:
        nesterov = kind == NESTEROV
        for i in range(n):
            grad = g[i] + wd * p[i]
            s1[i] = r1 * s1[i] - lr * grad
            p[i] += r1 * s1[i] - lr * grad if nesterov else s1[i]
    elif kind == ADAGRAD or kind == RMSPROP:  # AdaGrad: h ← 1·h + 1·∇²
        keep, gain = (f(1), f(1)) if kind == ADAGRAD else (r1, q1)
        for i in range(n):
            grad = g[i] + wd * p[i]
            s1[i] = keep * s1[i] + gain * grad * grad
            p[i] -= lr * grad / (np.sqrt(s1[i]) + eps)
    elif kind == ADAM or kind == ADAMW:
        lr_c1, c2 = f(h[LR] * h[CORRECT1]), f(h[CORRECT2])  # η / (1 - β1^t) as one scalar
        decoupled = kind == ADAMW
        lr_wd = f(h[LR] * h[DECAY]) if decoupled else f(0)
        wd = f(0) if decoupled else wd  # AdamW decays the weights, not the gradient
        for i in range(n):
            grad = g[i] + wd * p[i]
            s1[i] = r1 * s1[i] + q1 * grad
            s2[i] = r2 * s2[i] + q2 * grad * grad
            p[i] -= lr_c1 * s1[i] / (np.sqrt(s2[i] * c2) + eps) + lr_wd * p[i]
    return count_nonfinite(p)


@inline
def count_nonfinite(p):
    """How many of p (n,) are NaN or ±inf. Σ p·0 is 0 when all are finite and NaN
    otherwise (∞·0 = NaN): one vectorised sweep; only a NaN sum pays for the count."""
    n = p.shape[0]
    probe = p.dtype.type(0)
    for i in range(n):
        probe += p[i] * 0
    bad = 0
    if probe != 0:
        for i in range(n):
            bad += not np.isfinite(p[i])
    return bad


@parallel_kernel
def optimizer_update(p, s1, s2, g, h, kind):
    """Rule ``kind`` (``update_row``) on whole flat vectors: p, s1, s2 (n,) updated in
    place, g (n,) the gradient, h (7,) the hyper-parameters; in chunks of CHUNK elements
    shared among the threads. Returns the number of non-finite p after it."""
    n = p.shape[0]
    bad = 0
    for chunk in prange((n + CHUNK - 1) // CHUNK):
        a = chunk * CHUNK
        b = min(a + CHUNK, n)
        bad += update_row(p[a:b], s1[a:b], s2[a:b], g[a:b], h, kind)
    return bad
