"""Plain-NumPy twins of the kernels: the specification the tests compare against."""
import numpy as np

from fastnet.kernels import activations as A


def sigmoid(u):
    """σ(u) = e^{-log(1 + e^{-u})}: accurate to the last bit at any |u| (no 1 - tanh loss)."""
    return np.exp(-np.logaddexp(0.0, -u))


def act_forward(u, kind, a):
    if kind == A.RELU:
        return np.where(u >= 0, u, 0)
    if kind in (A.LEAKY_RELU, A.PRELU, A.RRELU):
        return np.where(u >= 0, u, a * u)
    if kind == A.SIGMOID:
        return sigmoid(u)
    if kind == A.TANH:
        return np.tanh(u)
    if kind == A.SWISH:
        return u * sigmoid(u)
    if kind == A.SOFTMAX:
        e = np.exp(u - u.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return u


def act_deriv(u, kind, a):
    if kind == A.RELU:
        return (u >= 0).astype(u.dtype)
    if kind in (A.LEAKY_RELU, A.PRELU, A.RRELU):
        return np.where(u >= 0, 1, a)
    if kind == A.SIGMOID:
        s = sigmoid(u)
        return s * (1 - s)
    if kind == A.TANH:
        return 1 - np.tanh(u) ** 2
    if kind == A.SWISH:
        s = sigmoid(u)
        return s + u * s * (1 - s)
    return np.ones_like(u)


def dense_forward(x, w, b, kind, a):
    u = x @ w.T + b
    return u, act_forward(u, kind, a)


def dense_backward_params(delta, x):
    return delta.T @ x, delta.sum(axis=0)


def hidden_delta(delta, w, u_prev, kind_prev, a_prev):
    dz = delta @ w
    return dz * act_deriv(u_prev, kind_prev, a_prev), dz


def softmax_cross_entropy(u, d):
    m = u.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(u - m).sum(axis=1))
    losses = d.sum(axis=1) * lse - (d * u).sum(axis=1)
    return losses, (act_forward(u, A.SOFTMAX, 0) - d) / len(u)


def binary_cross_entropy(u, d):
    losses = (np.maximum(u, 0) - u * d + np.log1p(np.exp(-np.abs(u)))).sum(axis=1)
    return losses, (sigmoid(u) - d) / len(u)


def sum_of_squares(u, d, kind, a):
    y = act_forward(u, kind, a)
    losses = 0.5 * ((y - d) ** 2).sum(axis=1)
    return losses, (y - d) / len(u) * act_deriv(u, kind, a)
