"""The first layer of a network at one point of a loss-landscape grid.

Along two directions D₁, D₂ the first layer's pre-activation is linear in the offsets:

    u(α, β) = (W + α D₁ + β D₂) x + b = U₀ + α P₁ + β P₂ + b

with U₀ = W x, P₁ = D₁ x, P₂ = D₂ x computed once for the whole grid; each grid point
then costs one sweep over (B, OC) arrays instead of a product with the weights.
"""
from numba import prange

from ..config import parallel_kernel
from .activations import add_bias_activate


@parallel_kernel
def combine_activate(u, z, u0, p1, p2, bias, slope, alpha, beta, act):
    """u = U₀ + α P₁ + β P₂ + bias, z = f(u):  u[b, o] = u0[b, o] + α p1[b, o] + β p2[b, o] + bias[o].

    u, z (B, OC) outputs; u0, p1, p2 (B, OC); bias (OC,); slope (S, OC) negative slopes
    of the ReLU family (S = 1 or B); alpha, beta the offsets; act int code (not softmax:
    a hidden layer's, or identity). Parallel over samples; the activation is the forward's
    own (``activations.add_bias_activate``), so α = β = 0 gives the forward's u and z.
    """
    B, OC = u.shape
    for b in prange(B):
        ub, u0b, p1b, p2b = u[b], u0[b], p1[b], p2[b]
        for o in range(OC):
            ub[o] = u0b[o] + alpha * p1b[o] + beta * p2b[o]
        add_bias_activate(u, z, bias, slope, act, b, b + 1, 0, OC)
