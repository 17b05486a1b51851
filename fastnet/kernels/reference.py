"""Plain NumPy references of the kernels: the equations, written to be read, in float64.

Each ``*_ref`` function computes what the kernel of the same name computes, from the same
inputs, and returns its outputs as new arrays (the kernels write into given ones). The
tests compare every kernel against its reference. Products are written as the sums they
are (``matmul_naive``), not handed to BLAS: slow, and plainly the equation.

    kernel                               reference
    activations.add_bias_activate        activate_ref (f(u); the bias is in dense_forward_ref)
    activations.times_derivative         derivative_ref
    activations.softmax_row              softmax_ref
    dense.dense_forward                  dense_forward_ref (and its _packed form)
    dense.dense_forward_in_major         dense_forward_ref (given Wᵀ)
    dense.dense_gradient                 dense_gradient_ref
    dense.dense_backward_params          dense_backward_params_ref (and its _packed form)
    dense.hidden_delta                   hidden_delta_ref (and hidden_delta_packed)
    dense.prelu_slope_grad               prelu_slope_grad_ref
    losses.batch_loss                    batch_loss_ref (softmax_cross_entropy_ref, ...)
    optim.optimizer_update               optimizer_update_ref (sgd_ref, momentum_ref, ...)
    data.gather_batch                    gather_batch_ref (gather_rows_ref: the inputs)
    metrics.count_correct                count_correct_ref
    landscape.landscape_losses           landscape_losses_ref

Shapes as in the kernels: x (B, C), W (OC, C), bias (OC,), u, z, δ (B, OC), slope a (S, OC)
with S = 1 or B (RReLU), targets d (B, K), flat parameters p, g and optimizer state (N,).
"""
import numpy as np

from . import activations as A
from . import losses as L
from . import optim as O


def matmul_naive(a, b):
    """out[i, j] = Σ_k a[i, k] b[k, j], one row of out at a time. a (I, K), b (K, J)."""
    return np.array([(a[i][:, None] * b).sum(axis=0) for i in range(a.shape[0])]
                    ).reshape(a.shape[0], b.shape[1])


# ------------------------------------------------------------------ activations
def sigmoid_ref(u):
    """σ(u) = 1 / (1 + e^{-u}), as e^{-log(1 + e^{-u})}: no overflow at any u."""
    return np.exp(-np.logaddexp(0.0, -u))


def softmax_ref(u):
    """z[b, k] = e^{u[b, k]} / Σ_j e^{u[b, j]} (shifted by the row's maximum)."""
    e = np.exp(u - u.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def activate_ref(u, kind, a):
    """z = f(u) for activation code ``kind``; a the negative slopes of the ReLU family."""
    if kind == A.RELU:
        return np.where(u >= 0, u, 0)
    if kind in (A.LEAKY_RELU, A.PRELU, A.RRELU):
        return np.where(u >= 0, u, a * u)
    if kind == A.SIGMOID:
        return sigmoid_ref(u)
    if kind == A.TANH:
        return np.tanh(u)
    if kind == A.SWISH:
        return u * sigmoid_ref(u)
    if kind == A.SOFTMAX:
        return softmax_ref(u)
    return u


def derivative_ref(u, kind, a):
    """f'(u) (f'(0) = 1 for the ReLU family; 1 for identity and softmax, whose δ the loss
    gives)."""
    if kind == A.RELU:
        return (u >= 0).astype(u.dtype)
    if kind in (A.LEAKY_RELU, A.PRELU, A.RRELU):
        return np.where(u >= 0, 1, a)
    if kind == A.SIGMOID:
        s = sigmoid_ref(u)
        return s * (1 - s)
    if kind == A.TANH:
        return 1 - np.tanh(u) ** 2
    if kind == A.SWISH:
        s = sigmoid_ref(u)
        return s + u * s * (1 - s)
    return np.ones_like(u)


# ------------------------------------------------------------------ dense layer
def dense_forward_ref(x, w, bias, kind, a):
    """u = x Wᵀ + bias, z = f(u). Returns (u, z), both (B, OC)."""
    u = matmul_naive(x, w.T) + bias
    return u, activate_ref(u, kind, a)


def dense_gradient_ref(delta, x):
    """dW = δᵀ x (OC, C), dbias = Σ_b δ[b] (OC,)."""
    return matmul_naive(delta.T, x), delta.sum(axis=0)


def dense_backward_params_ref(delta, x, kind, h, w_slots, bias_slots):
    """The gradient, then one optimizer step on the slots (W, s1, s2) and (bias, s1, s2)
    (as many state arrays as the rule keeps). Returns (dW, dbias, w_slots, bias_slots) after
    the step."""
    dw, db = dense_gradient_ref(delta, x)
    return dw, db, _step_slots(kind, dw, w_slots, h), _step_slots(kind, db, bias_slots, h)


def _step_slots(kind, g, slots, h):
    p, *state = slots
    s1, s2 = (list(state) + [g, g])[:2]
    return optimizer_update_ref(kind, p, g, s1, s2, h)[:len(slots)]


def hidden_delta_ref(delta, w, u_prev, kind_prev, a_prev):
    """dz_prev = δ W (B, C), δ_prev = f'_prev(u_prev) · dz_prev. Returns (δ_prev, dz_prev)."""
    dz = matmul_naive(delta, w)
    return dz * derivative_ref(u_prev, kind_prev, a_prev), dz


def prelu_slope_grad_ref(dz, u):
    """∂L/∂a[c] = Σ_b dz[b, c] min(u[b, c], 0), as (1, C)."""
    return (dz * np.minimum(u, 0)).sum(axis=0)[None, :]


# ------------------------------------------------------------------ losses
def softmax_cross_entropy_ref(u, d):
    """ℓ_b = logsumexp(u_b) Σ_k d_bk - Σ_k d_bk u_bk, δ = (softmax(u) - d) / B."""
    m = u.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(u - m).sum(axis=1))
    losses = d.sum(axis=1) * lse - (d * u).sum(axis=1)
    return losses, (softmax_ref(u) - d) / len(u)


def binary_cross_entropy_ref(u, d):
    """ℓ_b = Σ_k max(u, 0) - u d + log(1 + e^{-|u|}), δ = (σ(u) - d) / B."""
    losses = (np.maximum(u, 0) - u * d + np.log1p(np.exp(-np.abs(u)))).sum(axis=1)
    return losses, (sigmoid_ref(u) - d) / len(u)


def sum_of_squares_ref(u, d, kind, a):
    """ℓ_b = ½ Σ_k (y - d)², y = f(u); δ = (y - d) / B · f'(u)."""
    y = activate_ref(u, kind, a)
    losses = 0.5 * ((y - d) ** 2).sum(axis=1)
    return losses, (y - d) / len(u) * derivative_ref(u, kind, a)


def batch_loss_ref(kind, u, d, act, a):
    """Per-sample losses (B,) and the output δ (B, K) of loss code ``kind``."""
    if kind == L.SOFTMAX_CROSS_ENTROPY:
        return softmax_cross_entropy_ref(u, d)
    if kind == L.BINARY_CROSS_ENTROPY:
        return binary_cross_entropy_ref(u, d)
    return sum_of_squares_ref(u, d, act, a)


# ------------------------------------------------------------------ optimizers
# One step each, with ∇ = g + λ p (weight decay λ); the state starts at zeros.
def sgd_ref(p, g, lr, wd=0.0):
    """p ← p - η ∇."""
    return p - lr * (g + wd * p)


def momentum_ref(p, g, v, lr, mu, wd=0.0, nesterov=False):
    """v ← μ v - η ∇; p ← p + v (classical), p ← p + μ v - η ∇ (Nesterov, in the form with
    the gradient at the current point, as PyTorch's nesterov=True). Returns (p, v)."""
    grad = g + wd * p
    v = mu * v - lr * grad
    return (p + mu * v - lr * grad if nesterov else p + v), v


def adagrad_ref(p, g, h, lr, eps, wd=0.0):
    """h ← h + ∇², p ← p - η ∇ / (√h + ε). Returns (p, h)."""
    grad = g + wd * p
    h = h + grad ** 2
    return p - lr * grad / (np.sqrt(h) + eps), h


def rmsprop_ref(p, g, h, lr, rho, eps, wd=0.0):
    """h ← ρ h + (1 - ρ) ∇², p ← p - η ∇ / (√h + ε). Returns (p, h)."""
    grad = g + wd * p
    h = rho * h + (1 - rho) * grad ** 2
    return p - lr * grad / (np.sqrt(h) + eps), h


def adam_ref(p, g, m, v, t, lr, beta1, beta2, eps, wd=0.0, decoupled=False):
    """Kingma & Ba, Algorithm 1, at step t = 1, 2, ...:
        m ← β1 m + (1 - β1) ∇,  v ← β2 v + (1 - β2) ∇²,  m̂ = m / (1 - β1^t),
        v̂ = v / (1 - β2^t),  p ← p - η m̂ / (√v̂ + ε).
    AdamW (``decoupled``, Loshchilov & Hutter): ∇ = g, and p ← p - η λ p besides.
    Returns (p, m, v)."""
    grad = g if decoupled else g + wd * p
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    decay = lr * wd * p if decoupled else 0
    return p - lr * m_hat / (np.sqrt(v_hat) + eps) - decay, m, v


def optimizer_update_ref(kind, p, g, s1, s2, h):
    """One step of rule code ``kind`` with the kernel's hyper-parameter vector h (the bias
    corrections of Adam read from h). Returns (p, s1, s2) after the step."""
    lr, wd, r1, r2, eps = (h[i] for i in (O.LR, O.DECAY, O.RATE1, O.RATE2, O.EPS))
    if kind == O.NO_UPDATE:
        return p, s1, s2
    if kind == O.SGD:
        return sgd_ref(p, g, lr, wd), s1, s2
    if kind in (O.MOMENTUM, O.NESTEROV):
        return (*momentum_ref(p, g, s1, lr, r1, wd, kind == O.NESTEROV), s2)
    if kind == O.ADAGRAD:
        return (*adagrad_ref(p, g, s1, lr, eps, wd), s2)
    if kind == O.RMSPROP:
        return (*rmsprop_ref(p, g, s1, lr, r1, eps, wd), s2)
    decoupled = kind == O.ADAMW
    grad = g if decoupled else g + wd * p
    m = r1 * s1 + (1 - r1) * grad
    v = r2 * s2 + (1 - r2) * grad ** 2
    decay = lr * wd * p if decoupled else 0
    return p - lr * m * h[O.CORRECT1] / (np.sqrt(v * h[O.CORRECT2]) + eps) - decay, m, v


# ------------------------------------------------------------------ data and metrics
def gather_rows_ref(src, idx, scale, shift=None, factor=None):
    """out[i] = scale · src[idx[i]]; with a per-feature shift and factor (C,),
    out[i] = (src[idx[i]] − shift) · factor instead."""
    if shift is not None and len(shift):
        return (src[idx] - shift) * factor
    return src[idx] * scale


def gather_batch_ref(src_x, scale, src_t, idx, shift=None, factor=None):
    """(x, t): x[i] = the scaled src_x[idx[i]] (as ``gather_rows_ref``), t[i] = src_t[idx[i]]."""
    return gather_rows_ref(src_x, idx, scale, shift, factor), src_t[idx]


def count_correct_ref(y, d, loss):
    """Correct predictions: rows whose argmax agree (softmax), rows whose elements are all
    on the same side of ½ (binary); 0 for regression. Ties: the first maximum."""
    if loss == L.SOFTMAX_CROSS_ENTROPY:
        return int((y.argmax(axis=1) == d.argmax(axis=1)).sum())
    if loss == L.BINARY_CROSS_ENTROPY:
        return int(((y > 0.5) == (d > 0.5)).all(axis=1).sum())
    return 0


# ------------------------------------------------------------------ gradient clipping
def clip_norm_ref(g, c):
    """(g · min(1, c / ‖g‖₂), ‖g‖₂)."""
    norm = float(np.sqrt(np.sum(np.asarray(g, np.float64) ** 2)))
    return (g * (c / norm) if norm > c else g.copy()), norm


def clip_value_ref(g, c):
    """min(max(g, -c), c) element-wise."""
    return np.clip(g, -c, c)


# ------------------------------------------------------------------ dropout and sample weights
def dropout_mask_ref(r, p):
    """[r ≥ p] / (1 - p)."""
    return (r >= p) / (1 - p)


def apply_mask_ref(x, m):
    """x ⊙ m."""
    return x * m


def weigh_rows_ref(losses, delta, dz, w):
    """(s ℓ, s δ, s dz, Σ s ℓ) with s_b = w_b B / Σ w (0 when Σ w = 0)."""
    B = len(w)
    s = w * B / w.sum() if w.sum() > 0 else np.zeros_like(w)
    return losses * s, delta * s[:, None], dz * s[:, None], float(np.sum(losses * s))


# ------------------------------------------------------------------ landscape
def landscape_losses_ref(u0, p1, p2, bias1, slope1, tw0, tw1, tw2, tbias, tslope, targets,
                         alphas, betas, acts, widths, loss_kind):
    """Σ_b ℓ_b at each grid point (NA, NB): the first layer f₁(U₀ + α P₁ + β P₂ + b₁), then
    layers 2..L with weights tw0 + α tw1 + β tw2 (flat, each (OC, IC) in turn), the loss."""
    out = np.zeros((len(alphas), len(betas)))
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            u = u0 + a * p1 + b * p2 + bias1
            z, slope = activate_ref(u, acts[0], slope1), slope1
            w, off_w, off = tw0 + a * tw1 + b * tw2, 0, 0
            for n_in, n_out, act in zip(widths[:-1], widths[1:], acts[1:]):
                slope = tslope[:, off:off + n_out]
                W = w[off_w:off_w + n_out * n_in].reshape(n_out, n_in)
                u, z = dense_forward_ref(z, W, tbias[off:off + n_out], act, slope)
                off_w, off = off_w + n_out * n_in, off + n_out
            out[i, j] = batch_loss_ref(loss_kind, u, targets, acts[-1], slope)[0].sum()
    return out
