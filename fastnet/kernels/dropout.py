"""Inverted dropout kernels: a layer's output z (B, OC) is multiplied in training by a
mask m (B, OC), m = [r ≥ p] / (1 - p) for r ~ U[0, 1) drawn per element, and the
backward pass multiplies ∂L/∂z (and so δ = f'(u) ⊙ ∂L/∂z) by the same mask.

    dropout_mask   m ← [r ≥ p] / (1 - p)      (r given in m, overwritten)
    apply_mask     out ← x ⊙ m                (out may be x)
"""
from numba import prange

from ..config import parallel_kernel


@parallel_kernel
def dropout_mask(m, p):
    """m[b, k] ← 1 / (1 - p) if m[b, k] ≥ p else 0.  m (B, OC): uniform draws in [0, 1)
    in, the mask out; 0 ≤ p < 1 the drop probability."""
    B, OC = m.shape
    keep = 1.0 / (1.0 - p)
    for b in prange(B):
        for k in range(OC):
            m[b, k] = keep if m[b, k] >= p else 0.0


@parallel_kernel
def apply_mask(out, x, m):
    """out[b, k] = x[b, k] · m[b, k].  out (B, OC) output (may be x); x, m (B, OC)."""
    B, OC = x.shape
    for b in prange(B):
        for k in range(OC):
            out[b, k] = x[b, k] * m[b, k]
