"""Dense layer kernels: forward and backward side by side.

A dense layer computes, for every sample b of the minibatch,

    u[b, o] = Σ_c W[o, c] x[b, c] + bias[o]        (u = W x + b)
    z[b, o] = f(u[b, o])                           (z = f(u))

and back-propagation uses the δ rule with δ = ∂L/∂u:

    ∂L/∂W[o, c] = Σ_b δ[b, o] x[b, c]
    ∂L/∂bias[o] = Σ_b δ[b, o]
    δ_prev[b, c] = f'_prev(u_prev[b, c]) Σ_o W[o, c] δ[b, o]

Shapes: x (B, C), W (OC, C), bias (OC,), u, z, δ (B, OC), slope (S, OC) with
S = 1 (one slope per unit) or S = B (RReLU: one slope per element).
"""
import numpy as np
from numba import prange

from ..config import parallel_kernel
from .activations import SOFTMAX, act_deriv, act_forward, softmax_row


@parallel_kernel
def dense_forward(u, z, x, w, bias, act, slope):
    """u = x W^T + bias, z = f(u), fused; parallel over samples.

    u, z (B, OC) outputs; x (B, C); w (OC, C); bias (OC,); act int code;
    slope (S, OC) negative slopes of the ReLU family (S = 1 or B).
    """
    B, C = x.shape
    OC = w.shape[0]
    last_row = slope.shape[0] - 1
    for b in prange(B):
        for o in range(OC):
            acc = bias[o]
            for c in range(C):
                acc += x[b, c] * w[o, c]
            u[b, o] = acc
        if act == SOFTMAX:
            softmax_row(z[b], u[b])
        else:
            s = min(np.int64(b), last_row)  # row b (RReLU) or row 0
            for o in range(OC):
                z[b, o] = act_forward(u[b, o], act, slope[s, o])


@parallel_kernel
def dense_backward_params(dw, dbias, delta, x):
    """dW = δ^T x and dbias = Σ_b δ, overwriting dw and dbias.

    dw (OC, C), dbias (OC,) outputs; delta (B, OC); x (B, C).
    Parallel over output units o: each thread owns whole rows of dW, so the
    reduction over the batch has no race and a fixed summation order.
    """
    B, C = x.shape
    OC = dw.shape[0]
    for o in prange(OC):
        for c in range(C):
            dw[o, c] = 0
        db = dbias.dtype.type(0)
        for b in range(B):
            d = delta[b, o]
            db += d
            for c in range(C):
                dw[o, c] += d * x[b, c]
        dbias[o] = db


@parallel_kernel
def hidden_delta(delta_prev, dz_prev, delta, w, u_prev, z_prev, act_prev, slope_prev):
    """δ_prev = f'(u_prev) ⊙ (δ W): the δ rule for a hidden layer.

    delta_prev (B, C) output δ of the layer below; dz_prev (B, C) output
    ∂L/∂z_prev = δ W (written because PReLU needs it for its slope gradient);
    delta (B, OC) δ of this layer; w (OC, C) its weights; u_prev, z_prev (B, C)
    the pre- and post-activation of the layer below; slope_prev (S, C).
    Parallel over samples: every thread writes only its own rows.
    """
    B, C = delta_prev.shape
    OC = w.shape[0]
    last_row = slope_prev.shape[0] - 1
    for b in prange(B):
        g = dz_prev[b]
        for c in range(C):
            g[c] = 0
        for o in range(OC):
            d = delta[b, o]
            for c in range(C):
                g[c] += d * w[o, c]
        s = min(np.int64(b), last_row)  # row b (RReLU) or row 0
        for c in range(C):
            delta_prev[b, c] = g[c] * act_deriv(u_prev[b, c], z_prev[b, c], act_prev, slope_prev[s, c])


@parallel_kernel
def prelu_slope_grad(da, dz, u):
    """∂L/∂a[c] = Σ_b ∂L/∂z[b, c] · min(u[b, c], 0) for PReLU slopes a (C,).

    da (1, C) output; dz, u (B, C). Parallel over units: race-free.
    """
    B, C = u.shape
    for c in prange(C):
        acc = da.dtype.type(0)
        for b in range(B):
            if u[b, c] < 0:
                acc += dz[b, c] * u[b, c]
        da[0, c] = acc
