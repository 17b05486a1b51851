"""Activation functions f(u) and their derivatives f'(u), as scalar inline kernels.

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
"""
import numpy as np

from ..config import inline

IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, PRELU, RRELU, SWISH, SOFTMAX = range(9)
NAMES = {
    "identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU,
    "leaky_relu": LEAKY_RELU, "prelu": PRELU, "rrelu": RRELU, "swish": SWISH,
    "softmax": SOFTMAX,
}


@inline
def sigmoid(u):
    """σ(u) = 1 / (1 + e^-u), evaluated without overflow for large |u|."""
    if u >= 0:
        return 1 / (1 + np.exp(-u))
    e = np.exp(u)
    return e / (1 + e)


@inline
def act_forward(u, kind, a):
    """z = f(u) for one element; ``a`` is the negative slope of the ReLU family."""
    if kind == RELU:
        return u if u >= 0 else u * 0
    if kind == LEAKY_RELU or kind == PRELU or kind == RRELU:
        return u if u >= 0 else a * u
    if kind == SIGMOID:
        return sigmoid(u)
    if kind == TANH:
        return np.tanh(u)
    if kind == SWISH:
        return u * sigmoid(u)
    return u  # IDENTITY (SOFTMAX is applied row-wise by the caller)


@inline
def act_deriv(u, z, kind, a):
    """f'(u) for one element, given u and z = f(u)."""
    if kind == RELU:
        return 1 if u >= 0 else 0
    if kind == LEAKY_RELU or kind == PRELU or kind == RRELU:
        return 1 if u >= 0 else a
    if kind == SIGMOID:
        return z * (1 - z)
    if kind == TANH:
        return 1 - z * z
    if kind == SWISH:
        s = sigmoid(u)
        return s + z * (1 - s)
    return 1  # IDENTITY


@inline
def softmax_row(z, u):
    """z = softmax(u) for one row, shifted by max(u) so exp never overflows."""
    n = u.shape[0]
    m = u[0]
    for k in range(1, n):
        if u[k] > m:
            m = u[k]
    s = z.dtype.type(0)
    for k in range(n):
        e = np.exp(u[k] - m)
        z[k] = e
        s += e
    inv = 1 / s
    for k in range(n):
        z[k] *= inv
