"""Activation functions f(u) and their derivatives f'(u), as helpers over a
block of a layer's output (the forward) or a row (the δ rule).

Every activation is named by an integer code so that one compiled kernel serves
all of them (few Numba specialisations, short cold start). ``a`` is the negative
slope of the ReLU family (leaky ReLU: a constant; PReLU: learned per unit;
RReLU: drawn per element in training, the mean slope at inference).

    identity   f(u) = u                         f'(u) = 1
    sigmoid    f(u) = 1 / (1 + e^-u)            f'(u) = f(u) (1 - f(u))
    tanh       f(u) = tanh u                    f'(u) = 1 - f(u)^2
    relu       f(u) = max(u, 0)                 f'(u) = 1 if u >= 0 else 0
    leaky/p/rrelu  f(u) = u if u >= 0 else a u  f'(u) = 1 if u >= 0 else a
    swish      f(u) = u σ(u)                    f'(u) = σ(u) + f(u) (1 - σ(u))
    softmax    z_k = e^{u_k} / Σ_j e^{u_j}      (output layer only, row-wise)

A loop that sums (Σ with fast-math re-association, so LLVM vectorises it and adds in
its own order) never also stores to an array: LLVM would then guard the vector loop
with a run-time check that the arrays do not overlap, and run a scalar loop, which
adds in another order, when they lie within a few hundred bytes of each other. The
result would depend on where the allocator put the arrays (it did: a softmax row
differed by an ulp when z followed u closely in memory).
"""
import numpy as np

from ..config import helper, inline

IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, PRELU, RRELU, SWISH, SOFTMAX = range(9)
NAMES = {
    "identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU,
    "leaky_relu": LEAKY_RELU, "prelu": PRELU, "rrelu": RRELU, "swish": SWISH,
    "softmax": SOFTMAX,
}
# A float32 softmax probability below TINY (2^-100) is stored as 0: a saturated output
# would otherwise carry subnormal numbers (below 2^-126) into δ = (y - d) / B and the
# gradients, which the CPU multiplies 10-100x slower (a diverging run's epochs took 2-3x
# longer). The loss, computed from the logits, is unchanged; float64 is left exact.
TINY = 2.0 ** -100


@inline
def sigmoid(u):
    """σ(u) = 1 / (1 + e^-u), evaluated without overflow for large |u|."""
    if u >= 0:
        return 1 / (1 + np.exp(-u))
    e = np.exp(u)
    return e / (1 + e)


@helper
def add_bias_activate(u, z, bias, a, kind, b0, b1, o0, o1):
    """u += bias, then z = f(u), on the block b0 ≤ b < b1, o0 ≤ o < o1.

    u, z (B, OC); bias (OC,); a (S, OC) negative slopes of the ReLU family, S = 1
    (per unit) or B (RReLU: per element). A softmax takes whole rows (o0 = 0,
    o1 = OC). The branch on ``kind`` is taken once per row, outside the element
    loop, so each loop is a plain sweep LLVM can vectorise; the rows are sliced to
    o0..o1 so that the loop index counts from 0 (with ``range(o0, o1)`` Numba must
    allow for a negative index, and the loop stayed scalar). ReLU's ``u * 0`` (not 0) keeps a NaN a NaN.
    """
    last = a.shape[0] - 1
    n = o1 - o0
    bias_o = bias[o0:o1]
    for b in range(b0, b1):
        ub = u[b, o0:o1]
        for o in range(n):
            ub[o] += bias_o[o]
    if kind == SOFTMAX:
        for b in range(b0, b1):
            softmax_row(z[b], u[b])
        return
    for b in range(b0, b1):
        ub, zb, ab = u[b, o0:o1], z[b, o0:o1], a[min(b, last), o0:o1]  # a: row b (RReLU) or 0
        if kind == RELU:
            for o in range(n):
                zb[o] = ub[o] if ub[o] >= 0 else ub[o] * 0
        elif kind == LEAKY_RELU or kind == PRELU or kind == RRELU:
            for o in range(n):
                zb[o] = ub[o] if ub[o] >= 0 else ab[o] * ub[o]
        elif kind == SIGMOID:
            for o in range(n):
                zb[o] = sigmoid(ub[o])
        elif kind == TANH:
            for o in range(n):
                zb[o] = np.tanh(ub[o])
        elif kind == SWISH:
            for o in range(n):
                zb[o] = ub[o] * sigmoid(ub[o])
        else:  # IDENTITY
            for o in range(n):
                zb[o] = ub[o]


@helper
def times_derivative(delta, dz, u, z, a, kind, b0, b1):
    """δ = dz · f'(u) on rows b0 ≤ b < b1: delta (B, n) output; dz, u, z = f(u) (B, n);
    a (S, n) negative slopes (S = 1, or B: RReLU's row b). A block of rows per call,
    not a call per row (a call with five row views cost about 0.1 µs in reference
    counts). As in ``add_bias_activate`` the branch is outside the element loops; ReLU
    multiplies by 0 rather than writing 0, so NaN and inf in dz still show.
    """
    n = u.shape[1]
    last = a.shape[0] - 1
    one, zero = dz.dtype.type(1), dz.dtype.type(0)
    for b in range(b0, b1):
        db, gb, ub, zb, ab = delta[b], dz[b], u[b], z[b], a[min(b, last)]
        if kind == RELU:
            for i in range(n):
                db[i] = gb[i] * (one if ub[i] >= 0 else zero)
        elif kind == LEAKY_RELU or kind == PRELU or kind == RRELU:
            for i in range(n):
                db[i] = gb[i] * (one if ub[i] >= 0 else ab[i])
        elif kind == SIGMOID:
            for i in range(n):
                db[i] = gb[i] * (zb[i] * (1 - zb[i]))
        elif kind == TANH:
            for i in range(n):
                db[i] = gb[i] * (1 - zb[i] * zb[i])
        elif kind == SWISH:
            for i in range(n):
                sg = sigmoid(ub[i])
                db[i] = gb[i] * (sg + zb[i] * (1 - sg))
        else:  # IDENTITY
            for i in range(n):
                db[i] = gb[i]


@helper
def softmax_row(z, u):
    """z = softmax(u) for one row, shifted by max(u) so exp never overflows."""
    n = u.shape[0]
    m = u[0]
    for k in range(1, n):
        if u[k] > m:
            m = u[k]
    for k in range(n):
        z[k] = np.exp(u[k] - m)
    s = z.dtype.type(0)
    for k in range(n):  # a sum in a loop of its own (see the module doc)
        s += z[k]
    inv = 1 / s
    tiny = z.dtype.type(TINY if z.itemsize == 4 else 0)
    for k in range(n):  # float32 below TINY: 0
        p = z[k] * inv
        z[k] = p if p >= tiny else 0
