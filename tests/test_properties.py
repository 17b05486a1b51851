"""Property-based tests (hypothesis) of every kernel against its NumPy twin.

Random batch sizes and widths (1 ... 300, primes included), values from tiny to
large magnitudes (logits up to ±1e4 for the stable softmax / BCE paths). Every
example runs the kernel at 1 and at 2 Numba threads: the results must agree with
the float64 reference within a rounding-error bound that scales with the sizes
and magnitudes involved, and be bit-identical across the thread counts (each
kernel gives every output element to one thread and reduces in a fixed order).
Finally, two seeded fits are bit-identical, at a fixed thread count and across 1
and 2 threads.
"""
from contextlib import contextmanager

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnet import Adam, Dense, Network
from fastnet.kernels import activations as A
from fastnet.kernels import reference as ref
from fastnet.kernels import losses as L
from fastnet.kernels import optim as O
from fastnet.kernels.data import gather_batch
from fastnet.kernels.dense import (dense_backward_params, dense_forward, dense_forward_in_major,
                                   dense_gradient,
                                   hidden_delta, partial_shape, prelu_slope_grad)
from fastnet.kernels.metrics import count_correct

F32 = np.float32
U = 2.0 ** -24                               # float32 unit round-off
THREADS = [t for t in (1, 2) if t <= numba.config.NUMBA_NUM_THREADS]
PRIMES = [2, 3, 5, 7, 11, 13, 31, 61, 97, 127, 251, 257, 293]
HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu", "swish"]
PROPS = settings(max_examples=25, deadline=None, derandomize=True, database=None)

sizes = st.one_of(st.integers(1, 300), st.sampled_from(PRIMES), st.just(1))
small = st.one_of(st.integers(1, 40), st.sampled_from([1, 2, 3, 7, 13, 31]))
seeds = st.integers(0, 2 ** 32 - 1)
magnitudes = st.sampled_from([1e-3, 1.0, 30.0])
huge = st.sampled_from([1.0, 30.0, 1e3, 1e4])


# ------------------------------------------------------------------ kernel calls (one place)
# Every kernel is called through these wrappers only: they allocate the outputs and
# return them, so a change of a kernel's signature is adapted here and nowhere else.
def k_dense_forward(x, w, b, act, slope, in_major=False):
    """w (OC, C) is handed over as stored: Wᵀ when ``in_major`` (the first layer)."""
    u, z = np.empty((x.shape[0], w.shape[0]), F32), np.empty((x.shape[0], w.shape[0]), F32)
    partial = np.full(partial_shape(x.shape[0], w.shape[0]), np.nan, F32)
    if in_major:
        dense_forward_in_major(u, z, partial, x, np.ascontiguousarray(w.T), b, slope, act)
    else:
        dense_forward(u, z, x, w, b, slope, act)
    return u, z


def k_dense_gradient(delta, x, in_major=False):
    """dW (OC, C), computed as stored: dWᵀ when ``in_major``."""
    shape = (x.shape[1], delta.shape[1]) if in_major else (delta.shape[1], x.shape[1])
    dw, db = np.full(shape, np.nan, F32), np.full(delta.shape[1], np.nan, F32)
    dense_gradient(dw, db, delta, x, in_major)
    return (np.ascontiguousarray(dw.T) if in_major else dw), db


def k_hidden_delta(delta, w, u_prev, z_prev, act_prev, slope_prev):
    out, dz = np.full_like(u_prev, np.nan), np.full_like(u_prev, np.nan)
    hidden_delta(out, dz, delta, w, u_prev, z_prev, slope_prev, act_prev)
    return out, dz


def k_prelu_slope_grad(dz, u):
    da = np.full((1, u.shape[1]), np.nan, F32)
    prelu_slope_grad(da, dz, u)
    return (da,)


def k_loss(kind, u, y, d, act, slope):
    delta, dz = np.full_like(u, np.nan), np.full_like(u, np.nan)
    losses = np.full(u.shape[0], np.nan, F32)
    L.batch_loss(losses, delta, dz, u, y, d, slope, kind, act)
    return delta, dz, losses


def optim_kind_and_hyper(name, h):
    """The kernel's rule code and hyper-parameter vector for a ``hyper`` draw."""
    if name == "sgd":
        return O.SGD, O.hyper(h["lr"], h["wd"])
    if name == "momentum":
        return (O.NESTEROV if h["nesterov"] else O.MOMENTUM), O.hyper(h["lr"], h["wd"], h["mu"])
    if name == "adagrad":
        return O.ADAGRAD, O.hyper(h["lr"], h["wd"], eps=h["eps"])
    if name == "rmsprop":
        return O.RMSPROP, O.hyper(h["lr"], h["wd"], h["rho"], eps=h["eps"])
    return (O.ADAMW if h["decoupled"] else O.ADAM), O.hyper(h["lr"], h["wd"], h["beta1"],
                                                            h["beta2"], h["eps"], h["t"])


def k_optim(name, p, state, g, hyper):
    """Run one optimizer update on copies; returns (p, *state) after the step."""
    p, state = p.copy(), [s.copy() for s in state]
    s1, s2 = (state + [g, g])[:2]          # a rule without state never touches its slots
    kind, h = optim_kind_and_hyper(name, hyper)
    O.optimizer_update(p, s1, s2, g, h, kind)
    return (p, *state)


def k_gather(src, idx, scale, targets):
    """gather_batch of src alone (targets of no columns), and of src and targets."""
    out, x = (np.full((len(idx), src.shape[1]), np.nan, F32) for _ in range(2))
    t = np.full((len(idx), targets.shape[1]), np.nan, F32)
    none = np.empty(0, F32)
    gather_batch(out, out[:, :0], src, np.empty((len(src), 0), F32), idx, scale, none, none)
    gather_batch(x, t, src, targets, idx, scale, none, none)
    return out, x, t


def k_count_correct(y, d, kind):
    return count_correct(y, d, kind)


# ------------------------------------------------------------------ helpers
@contextmanager
def num_threads(n):
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def at_all_thread_counts(call, *args):
    """Run ``call(*args)`` at 1 and 2 threads; the outputs must be bit-identical."""
    results = []
    for t in THREADS:
        with num_threads(t):
            results.append(call(*args))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b, equal_nan=True), \
                f"{getattr(call, '__name__', call)}: results differ between 1 and 2 threads"
    return results[0]


def within(actual, expected, bound, what):
    """|actual - expected| <= bound element-wise (bound from the rounding-error analysis)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.isfinite(actual).all(), f"{what}: non-finite values"
    excess = np.abs(actual - expected) - bound
    if excess.size and excess.max() > 0:
        i = np.unravel_index(np.argmax(excess), excess.shape)
        raise AssertionError(f"{what}: |diff| {abs(actual[i] - expected[i]):.3g} > bound "
                             f"{np.broadcast_to(bound, excess.shape)[i]:.3g} at {i} "
                             f"(actual {actual[i]:.7g}, expected {expected[i]:.7g})")


def rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(F32)


def slopes(rng, kind, rows, n):
    """(B, n) per-element slopes for RReLU, (1, n) per-unit slopes otherwise."""
    return rng.uniform(0.05, 0.4, (rows if kind == A.RRELU else 1, n)).astype(F32)


def with_zeros(rng, x, sparse):
    """x with, when ``sparse``, 80 % of its entries and its first half of rows × columns
    zero: the zero 4 × 4 blocks the kernels skip (blank pixels)."""
    if sparse:
        x = x.copy()
        x[rng.random(x.shape) < 0.8] = 0
        x[:(x.shape[0] + 1) // 2, :(x.shape[1] + 1) // 2] = 0
    return x


def f64(*arrays):
    return [a.astype(np.float64) for a in arrays]


# Largest |f'(u)| of each activation: how much an error in u can grow in z = f(u).
LIPSCHITZ = {A.IDENTITY: 1.0, A.SIGMOID: 0.25, A.TANH: 1.0, A.RELU: 1.0, A.LEAKY_RELU: 1.0,
             A.PRELU: 1.0, A.RRELU: 1.0, A.SWISH: 1.1}


# ------------------------------------------------------------------ dense layer
@PROPS
@given(sizes, sizes, sizes, st.sampled_from(HIDDEN + ["softmax"]), magnitudes, st.booleans(),
       st.booleans(), seeds)
def test_dense_forward(B, C, OC, act, scale, in_major, sparse, seed):
    rng = np.random.default_rng(seed)
    kind = A.NAMES[act]
    x, w, b = rand(rng, (B, C), scale), rand(rng, (OC, C), C ** -0.5), rand(rng, OC)
    x = with_zeros(rng, x, sparse)
    a = slopes(rng, kind, B, OC)
    u, z = at_all_thread_counts(k_dense_forward, x, w, b, kind, a, in_major)
    x64, w64, b64 = f64(x, w, b)
    u_ref, z_ref = ref.dense_forward_ref(x64, w64, b64, kind, a.astype(np.float64))
    u_bound = (C + 2) * U * (np.abs(x64) @ np.abs(w64).T + np.abs(b64)) + 1e-30
    within(u, u_ref, u_bound, "u")
    if kind == A.SOFTMAX:
        # exp(u - max u) is off by the rounding of u - max u: relative |u - max u| · u
        shift = np.abs(u_ref - u_ref.max(axis=1, keepdims=True)) * 2 * U
        spread = 2 * u_bound.max(axis=1, keepdims=True) + shift + (OC + 4) * U
        within(z, z_ref, z_ref * spread + 1e-7, "softmax z")
        within(z.sum(axis=1, dtype=np.float64), np.ones(B), (OC + 4) * U * 2, "softmax row sums")
    else:
        within(z, z_ref, LIPSCHITZ[kind] * u_bound + 8 * U * np.abs(z_ref) + 1e-30, "z")


@PROPS
@given(sizes, sizes, st.sampled_from(HIDDEN + ["softmax"]), huge, seeds)
def test_activations_are_stable_for_huge_inputs(B, K, act, scale, seed):
    """u = x (identity weights, zero bias) with |x| up to ~4e4: z finite and right to a few
    ulp (relative), for the softmax and every hidden activation."""
    rng = np.random.default_rng(seed)
    kind = A.NAMES[act]
    x = rand(rng, (B, K), scale)
    a = slopes(rng, kind, B, K)
    u, z = at_all_thread_counts(k_dense_forward, x, np.eye(K, dtype=F32), np.zeros(K, F32),
                                kind, a)
    assert np.array_equal(u, x)
    z_ref = ref.activate_ref(x.astype(np.float64), kind, a.astype(np.float64))
    if kind == A.SOFTMAX:   # exp(u - max u) is off by the rounding of u - max u
        rel = (K + 4) * U * 4 + np.abs(x - x.max(axis=1, keepdims=True)) * 2 * U
    else:                   # e^{-|u|} in σ: relative error grows like |u| · U
        rel = 8 * U + (np.abs(x) * 2 * U if kind in (A.SIGMOID, A.SWISH) else 0)
    within(z, z_ref, np.abs(z_ref) * rel + 1e-37, f"{act} z")


@PROPS
@given(sizes, sizes, sizes, magnitudes, st.booleans(), st.booleans(), seeds)
def test_dense_gradient(B, C, OC, scale, in_major, sparse, seed):
    rng = np.random.default_rng(seed)
    delta, x = rand(rng, (B, OC), scale), with_zeros(rng, rand(rng, (B, C)), sparse)
    dw, db = at_all_thread_counts(k_dense_gradient, delta, x, in_major)
    d64, x64 = f64(delta, x)
    dw_ref, db_ref = ref.dense_gradient_ref(d64, x64)
    within(dw, dw_ref, (B + 1) * U * (np.abs(d64).T @ np.abs(x64)) + 1e-30, "dW")
    within(db, db_ref, (B + 1) * U * np.abs(d64).sum(axis=0) + 1e-30, "db")


@PROPS
@given(sizes, sizes, sizes, st.sampled_from(HIDDEN), magnitudes, seeds)
def test_hidden_delta(B, C, OC, act, scale, seed):
    rng = np.random.default_rng(seed)
    kind = A.NAMES[act]
    delta, w = rand(rng, (B, OC), scale), rand(rng, (OC, C), OC ** -0.5)
    u_prev = rand(rng, (B, C), 3.0)
    a = slopes(rng, kind, B, C)
    z_prev = ref.activate_ref(u_prev.astype(np.float64), kind, a).astype(F32)
    out, dz = at_all_thread_counts(k_hidden_delta, delta, w, u_prev, z_prev, kind, a)
    d64, w64, u64 = f64(delta, w, u_prev)
    out_ref, dz_ref = ref.hidden_delta_ref(d64, w64, u64, kind, a.astype(np.float64))
    dz_bound = (OC + 1) * U * (np.abs(d64) @ np.abs(w64)) + 1e-30
    within(dz, dz_ref, dz_bound, "dz_prev")
    deriv = np.abs(ref.derivative_ref(u64, kind, a.astype(np.float64)))
    # f' from the float32 z_prev: z(1 - z) and 1 - z² lose up to a few ulp absolute
    within(out, out_ref, deriv * dz_bound + np.abs(dz_ref) * 8 * U + 1e-30, "delta_prev")


@PROPS
@given(sizes, sizes, magnitudes, seeds)
def test_prelu_slope_grad(B, C, scale, seed):
    rng = np.random.default_rng(seed)
    dz, u = rand(rng, (B, C), scale), rand(rng, (B, C))
    (da,) = at_all_thread_counts(k_prelu_slope_grad, dz, u)
    bound = (B + 1) * U * np.abs(dz.astype(np.float64) * np.minimum(u, 0)).sum(axis=0) + 1e-30
    within(da, ref.prelu_slope_grad_ref(*f64(dz, u)), bound, "da")


# ------------------------------------------------------------------ losses
LOSS_CASES = [(L.SOFTMAX_CROSS_ENTROPY, A.SOFTMAX), (L.BINARY_CROSS_ENTROPY, A.SIGMOID)] + [
    (L.SUM_OF_SQUARES, A.NAMES[h]) for h in HIDDEN]


def loss_inputs(rng, B, K, kind, act, scale, soft):
    u = rand(rng, (B, K), scale)
    if kind == L.SOFTMAX_CROSS_ENTROPY:
        d = (rng.dirichlet(np.ones(K), B) if soft else np.eye(K)[rng.integers(0, K, B)])
    elif kind == L.BINARY_CROSS_ENTROPY:
        d = rng.integers(0, 2, (B, K))
    else:
        d = rng.standard_normal((B, K)) * scale
    a = slopes(rng, act, B, K)
    y = ref.activate_ref(u.astype(np.float64), act, a.astype(np.float64)).astype(F32)
    return u, y, d.astype(F32), a


@PROPS
@given(sizes, sizes, st.sampled_from(LOSS_CASES), huge, st.booleans(), seeds)
def test_losses(B, K, case, scale, soft, seed):
    kind, act = case
    if kind == L.SUM_OF_SQUARES and scale > 30:
        scale = 30.0                       # squares of 1e4 are fine but say nothing new
    rng = np.random.default_rng(seed)
    u, y, d, a = loss_inputs(rng, B, K, kind, act, scale, soft)
    delta, dz, losses = at_all_thread_counts(k_loss, kind, u, y, d, act, a)
    u64, y64, d64, a64 = f64(u, y, d, a)
    if kind == L.SOFTMAX_CROSS_ENTROPY:
        l_ref, delta_ref = ref.softmax_cross_entropy_ref(u64, d64)
        mag = np.abs(u64).max(axis=1) * d64.sum(axis=1) + (np.abs(d64) * np.abs(u64)).sum(axis=1)
        l_bound = (K + 4) * U * (mag + np.abs(l_ref) + 1)
    elif kind == L.BINARY_CROSS_ENTROPY:
        l_ref, delta_ref = ref.binary_cross_entropy_ref(u64, d64)
        l_bound = (K + 4) * U * (2 * np.abs(u64).sum(axis=1) + K)
    else:
        l_ref, delta_ref = ref.sum_of_squares_ref(u64, d64, act, a64)
        l_bound = (K + 4) * U * ((np.abs(y64) + np.abs(d64)) ** 2).sum(axis=1) + 1e-30
    within(losses, l_ref, l_bound, "losses")
    # δ = (y - d) / B · f'(u) from the float32 y: a few ulp of |y| + |d|, plus f'(u)'s own
    deriv = 1.0 if kind != L.SUM_OF_SQUARES else np.abs(ref.derivative_ref(u64, act, a64))
    d_bound = (np.abs(y64) + np.abs(d64)) / B * (8 * U) * (deriv + 1) + 1e-30
    within(delta, delta_ref, d_bound + np.abs(y64 - d64) / B * 8 * U, "delta")
    if kind != L.SUM_OF_SQUARES:
        assert np.array_equal(dz, delta)
        assert (losses >= -(K + 4) * U * l_bound).all()          # cross-entropies are >= 0


@PROPS
@given(sizes, sizes, st.sampled_from([1e4, -1e4, 3e4]), st.booleans(), seeds)
def test_cross_entropies_stay_finite_at_extreme_logits(B, K, big, soft, seed):
    """Logits at ±1e4: the loss equals the exact large value, δ is finite and in [-1/B, 1/B]."""
    rng = np.random.default_rng(seed)
    u = np.where(rng.random((B, K)) < 0.5, big, -big).astype(F32)
    for kind, act in LOSS_CASES[:2]:
        _, y, d, a = loss_inputs(rng, B, K, kind, act, 1.0, soft)
        y = ref.activate_ref(u.astype(np.float64), act, 0).astype(F32)
        delta, _, losses = at_all_thread_counts(k_loss, kind, u, y, d, act, a)
        assert np.isfinite(losses).all() and np.isfinite(delta).all()
        assert (np.abs(delta) <= 1 / B * (1 + 8 * U)).all()
        l_ref = (ref.softmax_cross_entropy_ref if kind == L.SOFTMAX_CROSS_ENTROPY
                 else ref.binary_cross_entropy_ref)(u.astype(np.float64), d.astype(np.float64))[0]
        within(losses, l_ref, (K + 4) * U * (abs(big) * (K + 1) + np.abs(l_ref)), "losses")


# ------------------------------------------------------------------ optimizers
N_STATE = {"sgd": 0, "momentum": 1, "adagrad": 1, "rmsprop": 1, "adam": 2}
hyper = st.fixed_dictionaries({
    "lr": st.sampled_from([1e-4, 1e-3, 0.1, 1.0]), "wd": st.sampled_from([0.0, 1e-4, 0.1]),
    "mu": st.sampled_from([0.0, 0.5, 0.9, 0.99]), "nesterov": st.booleans(),
    "eps": st.sampled_from([1e-8, 1e-6, 1e-3]), "rho": st.sampled_from([0.0, 0.9, 0.99]),
    "beta1": st.sampled_from([0.0, 0.9]), "beta2": st.sampled_from([0.9, 0.999]),
    "decoupled": st.booleans(), "t": st.integers(1, 10_000)})


@settings(PROPS, max_examples=60)
@given(st.sampled_from(sorted(N_STATE)),
       st.one_of(st.integers(1, 5000), st.sampled_from(PRIMES + [4093])), hyper, magnitudes,
       seeds)
def test_optimizer_updates(name, n, h, scale, seed):
    rng = np.random.default_rng(seed)
    p, g = rand(rng, n), rand(rng, n, scale)
    state = [rand(rng, n, scale) for _ in range(N_STATE[name])]
    if name in ("adagrad", "rmsprop"):
        state = [np.abs(s) ** 2 for s in state]            # squared-gradient sums are >= 0
    if name == "adam":
        state[1] = state[1] ** 2
    out = at_all_thread_counts(k_optim, name, p, state, g, h)
    kind, hv = optim_kind_and_hyper(name, h)
    p64, g64, *s64 = f64(p, g, *state)
    expected = ref.optimizer_update_ref(kind, p64, g64, *(s64 + [g64, g64])[:2], hv)
    for i, (o, e) in enumerate(zip(out, expected)):
        old = p if i == 0 else state[i - 1]
        within(o, e, 16 * U * (np.abs(e) + np.abs(old) + np.abs(e - old)) + 1e-30,
               f"{name} output {i}")


def k_dense_backward_params(name, h, delta, x, w, bias, state_w, state_b, in_major=False):
    """dense_backward_params with the optimizer step fused in, on copies; W-shaped
    arrays (OC, C) are handed over as stored (transposed when ``in_major``) and
    returned (OC, C)."""
    # np.array copies even when a.T is already C-contiguous (C or OC = 1), so the
    # caller's arrays are never updated in place
    stored = (lambda a: np.array(a.T, order="C")) if in_major else np.copy
    w, bias = stored(w), bias.copy()
    state_w, state_b = [stored(s) for s in state_w], [s.copy() for s in state_b]
    dw = np.full_like(w, np.nan)
    db = np.full(bias.shape, np.nan, F32)
    kind, hv = optim_kind_and_hyper(name, h)
    sw, sb = (state_w + [dw, dw])[:2], (state_b + [db, db])[:2]
    dense_backward_params(dw, db, (w, *sw), (bias, *sb), delta, x, hv, in_major, kind)
    dw, w, *state_w = (stored(a) for a in (dw, w, *state_w))
    return (dw, db, w, bias, *state_w, *state_b)


@settings(PROPS, max_examples=30)
@given(small, small, small, st.sampled_from(sorted(N_STATE)), hyper, st.booleans(),
       st.booleans(), seeds)
def test_dense_backward_params_equals_gradient_then_update(B, C, OC, name, h, has_bias, in_major,
                                                           seed):
    """dense_backward_params, the weight gradient with the optimizer step fused in, is bit
    for bit dense_gradient followed by the flat update; a layer without bias passes
    0-length bias slots."""
    rng = np.random.default_rng(seed)
    delta, x, w = rand(rng, (B, OC)), rand(rng, (B, C)), rand(rng, (OC, C))
    nb = OC if has_bias else 0
    bias = rand(rng, nb)
    n_state = N_STATE[name]
    state_w = [np.abs(rand(rng, (OC, C))) for _ in range(n_state)]  # >= 0: fits every rule
    state_b = [np.abs(rand(rng, nb)) for _ in range(n_state)]
    x = with_zeros(rng, x, in_major)
    out = at_all_thread_counts(k_dense_backward_params, name, h, delta, x, w, bias, state_w,
                               state_b, in_major)
    dw, db = k_dense_gradient(delta, x, in_major)
    p = np.concatenate([w.ravel(), bias])
    g = np.concatenate([dw.ravel(), db[:nb]])
    states = [np.concatenate([a.ravel(), b]) for a, b in zip(state_w, state_b)]
    p, *states = k_optim(name, p, states, g, h)
    fused = np.concatenate([out[2].ravel(), out[3]])
    assert np.array_equal(out[0], dw), "dW"
    assert np.array_equal(fused, p), f"{name}: parameters after the fused step"
    for i, s in enumerate(states):
        fused_s = np.concatenate([out[4 + i].ravel(), out[4 + n_state + i]])
        assert np.array_equal(fused_s, s), f"{name}: state {i} after the fused step"


# ------------------------------------------------------------------ data and metrics
@PROPS
@given(sizes, sizes, st.sampled_from(["uint8", "float32"]), seeds)
def test_gather_is_exact(n, C, dtype, seed):
    rng = np.random.default_rng(seed)
    src = (rng.integers(0, 256, (n, C)) if dtype == "uint8"
           else rng.standard_normal((n, C)) * 1e3).astype(dtype)
    scale = 1 / 255 if dtype == "uint8" else 1.0
    targets = rng.standard_normal((n, rng.integers(0, 12))).astype(F32)
    idx = rng.integers(0, n, rng.integers(1, 301))
    out, x, t = at_all_thread_counts(k_gather, src, idx, scale, targets)
    want = (src[idx].astype(np.float64) * scale).astype(F32)
    assert np.array_equal(out, want)
    assert np.array_equal(x, want), "gather_batch: inputs"
    assert np.array_equal(t, targets[idx]), "gather_batch: targets"


@PROPS
@given(small, sizes, seeds)
def test_count_correct(B, K, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, (B, K)).astype(F32)          # ties: the first maximum wins
    labels = rng.integers(0, K, B)
    d = np.eye(K, dtype=F32)[labels]
    assert k_count_correct(y, d, L.SOFTMAX_CROSS_ENTROPY) == (y.argmax(1) == labels).sum()
    yb, db = rng.random((B, K)).astype(F32), rng.integers(0, 2, (B, K)).astype(F32)
    rows_right = ((yb > 0.5) == (db > 0.5)).all(axis=1).sum()
    assert k_count_correct(yb, db, L.BINARY_CROSS_ENTROPY) == rows_right
    assert k_count_correct(yb, db, L.SUM_OF_SQUARES) == 0


# ------------------------------------------------------------------ reproducibility of fits
def seeded_fit(threads, seed=3):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (301, 23)).astype(np.uint8)
    y = (X[:, :3].argmax(axis=1) + (X[:, 5] > 128)) % 3
    net = Network([Dense(23, 31, "rrelu"), Dense(31, 13, "prelu"), Dense(13, 3)], seed=seed)
    with num_threads(threads):
        hist = net.fit(X, y, epochs=3, batch_size=37, optimizer=Adam(3e-3),
                       validation_split=0.2, seed=seed, verbose=False)
    return net.params.copy(), [hist[k] for k in ("loss", "accuracy", "val_loss")]


@pytest.mark.parametrize("threads", THREADS)
def test_fit_is_bit_identical_for_fixed_threads_and_seed(threads):
    (p1, h1), (p2, h2) = seeded_fit(threads), seeded_fit(threads)
    assert np.array_equal(p1, p2) and h1 == h2
    p3, _ = seeded_fit(threads, seed=4)
    assert not np.array_equal(p1, p3)                       # the seed matters


@pytest.mark.skipif(len(THREADS) < 2, reason="needs 2 Numba threads")
def test_fit_is_bit_identical_across_thread_counts():
    """Every kernel owns its outputs per thread and reduces in a fixed order, so the
    thread count does not change a single bit of the trained weights."""
    (p1, h1), (p2, h2) = seeded_fit(1), seeded_fit(2)
    assert np.array_equal(p1, p2) and h1 == h2
