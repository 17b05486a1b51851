"""Every kernel against its NumPy twin, batch sizes 1, 7, 128 and odd widths."""
import numpy as np
import pytest
from numba import njit, prange
from test_properties import num_threads

from conftest import assert_close
from fastnet import passes
from fastnet.kernels import activations as A
from fastnet.kernels import dense
from fastnet.kernels import reference as ref
from fastnet.kernels import losses as L
from fastnet.kernels import optim as O
from fastnet.kernels.data import gather_batch
from fastnet.kernels.dense import (dense_backward_params, dense_forward, dense_forward_in_major,
                                   dense_gradient,
                                   hidden_delta, partial_shape, prelu_slope_grad)
from fastnet.kernels.metrics import count_correct
from fastnet.kernels.tasks import BACK_OFFSET, FRONT, STRIDE, next_task, task_ranges

F32 = np.float32
BATCHES = [1, 7, 128]
SHAPES = [(3, 5), (31, 17), (784, 33)]
ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu", "swish"]


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(F32)


def sparse(rng, x):
    """x with the zeros of an image batch: 80 % of the entries and, for the 4 × 4 blocks
    the kernels skip, the first half of the rows × columns."""
    x[rng.random(x.shape) < 0.8] = 0
    x[:(x.shape[0] + 1) // 2, :(x.shape[1] + 1) // 2] = 0
    return x


def scratch(kernel, M, K, N, dtype=F32, gradient=False):
    """(scratch,) for a register-blocked kernel making a product of M rows, K terms and N
    columns (``dense.packed_scratch``), NaN-filled: a number it reads before writing
    would show; () for the other kernels."""
    if kernel not in passes.PACKED:
        return ()
    size = sum(dense.packed_scratch(M, K, N, np.dtype(dtype).itemsize, gradient))
    return (np.full(size, np.nan, dtype),)


def gradient_scratch(kernel, dw, B):
    """``scratch`` of a weight-gradient kernel writing dw from a batch of B."""
    return scratch(kernel, dw.shape[0], B, dw.shape[1], dw.dtype, True)


def slopes(rng, kind, B, n):
    if kind == A.RRELU:
        return rng.uniform(0.1, 0.3, (B, n)).astype(F32)
    return rng.uniform(0.05, 0.3, (1, n)).astype(F32)


# 130 > CHUNK: the first layer unsplit; 514 > UNITS_BATCH: later layers parallel over samples
@pytest.mark.parametrize("B", BATCHES + [130, 514])
@pytest.mark.parametrize("C,OC", SHAPES)
@pytest.mark.parametrize("act", ACTS + ["softmax"])
@pytest.mark.parametrize("in_major", [False, True])
def test_dense_forward(rng, B, C, OC, act, in_major):
    kind = A.NAMES[act]
    x, w, b = sparse(rng, rand(rng, B, C)), rand(rng, OC, C, scale=C ** -0.5), rand(rng, OC)
    a = slopes(rng, kind, B, OC)
    u, z = np.empty((B, OC), F32), np.empty((B, OC), F32)
    partial = np.full(partial_shape(B, OC), np.nan, F32)
    if in_major:
        dense_forward_in_major(u, z, partial, x, np.ascontiguousarray(w.T), b, a, kind)
    else:
        dense_forward(u, z, x, w, b, a, kind)
    u_ref, z_ref = ref.dense_forward_ref(x.astype(float), w.astype(float), b, kind, a)
    assert_close(u, u_ref, what="u")
    assert_close(z, z_ref, what="z")


# Wᵀ of 1100 x 1000 (4.4 MB, past L2), units past the whole groups of 4 vectors (1000 =
# 960 + 2 x 16 + 8), a batch split into parts and one that is not (200 > CHUNK), and the
# same bits at any thread count
@pytest.mark.parametrize("B", [7, 32, 128, 200])
def test_dense_forward_of_a_wide_first_layer(rng, B, C=1100, OC=1000):
    x, w, b = sparse(rng, rand(rng, B, C)), rand(rng, OC, C, scale=C ** -0.5), rand(rng, OC)
    wt, a = np.ascontiguousarray(w.T), slopes(rng, A.RELU, B, OC)
    outs = []
    for threads in (1, 2):
        u, z = np.empty((B, OC), F32), np.empty((B, OC), F32)
        with num_threads(threads):
            dense_forward_in_major(u, z, np.empty(partial_shape(B, OC), F32), x, wt, b, a,
                                   A.RELU)
        outs.append((u, z))
    u_ref, z_ref = ref.dense_forward_ref(x.astype(float), w.astype(float), b, A.RELU, a)
    assert_close(outs[0][0], u_ref, what="u")
    assert_close(outs[0][1], z_ref, what="z")
    assert all(np.array_equal(p, q) for p, q in zip(*outs))   # bits: any thread count


# A batch past CHUNK goes by panels of UNIT_PANEL units: widths just below and above one
# panel, of two and past two; batches ending in a block of 1 sample and of 3
@pytest.mark.parametrize("OC", [dense.UNIT_PANEL - 1, dense.UNIT_PANEL + 1, 2 * dense.UNIT_PANEL,
                                2 * dense.UNIT_PANEL + 17])
@pytest.mark.parametrize("B", [dense.CHUNK + 1, dense.CHUNK + 31])
def test_dense_forward_of_a_large_batch_in_unit_panels(rng, B, OC):
    test_dense_forward_of_a_wide_first_layer(rng, B, C=37, OC=OC)


@pytest.mark.parametrize("B", BATCHES)
@pytest.mark.parametrize("C,OC", SHAPES)
@pytest.mark.parametrize("in_major", [False, True])
def test_dense_gradient(rng, B, C, OC, in_major):
    delta, x = rand(rng, B, OC), sparse(rng, rand(rng, B, C))
    dw, db = np.full((C, OC) if in_major else (OC, C), np.nan, F32), np.full(OC, np.nan, F32)
    dense_gradient(dw, db, delta, x, in_major)
    dw = dw.T if in_major else dw
    dw_ref, db_ref = ref.dense_gradient_ref(delta.astype(float), x.astype(float))
    assert_close(dw, dw_ref, what="dW")
    assert_close(db, db_ref, what="db")


@pytest.mark.parametrize("C,OC", SHAPES)
@pytest.mark.parametrize("in_major", [False, True])
@pytest.mark.parametrize("kind,h", [(O.SGD, O.hyper(0.1, 0.01)),
                                    (O.MOMENTUM, O.hyper(0.05, 0.0, 0.9)),
                                    (O.ADAM, O.hyper(0.01, 0.01, 0.9, 0.999, 1e-8, t=3))],
                         ids=["sgd", "momentum", "adam"])
def test_dense_backward_params(rng, C, OC, in_major, kind, h, B=7, kernel=dense_backward_params):
    """The fused kernel: dW, db and the optimizer step on W, bias and their state."""
    delta, x = rand(rng, B, OC), sparse(rng, rand(rng, B, C))
    w, bias = rand(rng, OC, C), rand(rng, OC)
    state_w, state_b = [np.abs(rand(rng, OC, C)) for _ in range(2)], [np.abs(rand(rng, OC))
                                                                      for _ in range(2)]
    stored = (lambda a: np.array(a.T, order="C")) if in_major else np.copy
    w_slots = tuple(stored(a) for a in (w, *state_w))
    bias_slots = tuple(a.copy() for a in (bias, *state_b))
    dw, db = np.full_like(w_slots[0], np.nan), np.full(OC, np.nan, F32)
    kernel(dw, db, w_slots, bias_slots, delta, x, h, in_major, kind,
           *gradient_scratch(kernel, dw, B))
    f64 = (lambda *arrays: [a.astype(float) for a in arrays])
    dw_ref, db_ref, w_ref, b_ref = ref.dense_backward_params_ref(
        *f64(delta, x), kind, h, f64(w, *state_w), f64(bias, *state_b))
    assert_close(stored(dw), dw_ref, what="dW")
    assert_close(db, db_ref, what="db")
    for i, (got, want) in enumerate(zip(w_slots, w_ref)):
        assert_close(stored(got), want, what=f"W slot {i}")
    for i, (got, want) in enumerate(zip(bias_slots, b_ref)):
        assert_close(got, want, what=f"bias slot {i}")


# The listed weight gradient of the dWᵀ layout (16 inputs a task, groups of 4, the last
# units one at a time): short groups and tasks, batches of 1 and 7, against the reference
@pytest.mark.parametrize("B", [1, 7, 130])
@pytest.mark.parametrize("C,OC", SHAPES + [(70, 1030)])
@pytest.mark.parametrize("kind,h", [(O.NO_UPDATE, O.NO_HYPER), (O.MOMENTUM, O.hyper(0.05, 0.0, 0.9)),
                                    (O.ADAM, O.hyper(0.01, 0.01, 0.9, 0.999, 1e-8, t=3))],
                         ids=["none", "momentum", "adam"])
def test_dense_backward_params_listed(rng, B, C, OC, kind, h):
    assert dense.gradient_listed(C, 1024, True) and not dense.gradient_listed(C, 1023, True)
    assert not dense.gradient_listed(C, 4096, False)
    test_dense_backward_params(rng, C, OC, True, kind, h, B=B,
                               kernel=dense.dense_backward_params_listed)


@pytest.mark.parametrize("B", BATCHES)
@pytest.mark.parametrize("C,OC", SHAPES)
@pytest.mark.parametrize("act", ACTS)
def test_hidden_delta(rng, B, C, OC, act, w_scale=1.0):
    kind = A.NAMES[act]
    delta, w, u_prev = rand(rng, B, OC), rand(rng, OC, C, scale=w_scale), rand(rng, B, C)
    a = slopes(rng, kind, B, C)
    z_prev = ref.activate_ref(u_prev, kind, a).astype(F32)
    out, dz = np.empty((B, C), F32), np.empty((B, C), F32)
    hidden_delta(out, dz, delta, w, u_prev, z_prev, a, kind)
    out_ref, dz_ref = ref.hidden_delta_ref(delta.astype(float), w.astype(float), u_prev, kind, a)
    assert_close(dz, dz_ref, what="dz")
    assert_close(out, out_ref, what="delta_prev")


# W past 2 x dense.PANEL_BYTES (1 MB) and a batch of more than RUN_TASKS blocks: the
# hidden δ and a first layer's forward take W or Wᵀ in panels (and larger products)
@pytest.mark.parametrize("C,OC", [(1100, 260), (260, 1100)])
@pytest.mark.parametrize("in_major", [False, True])
def test_products_in_panels(rng, C, OC, in_major):
    B = 130
    test_dense_forward(rng, B, C, OC, "relu", in_major)
    test_dense_gradient(rng, B, C, OC, in_major)
    test_dense_backward_params(rng, C, OC, in_major, O.ADAM,
                               O.hyper(0.01, 0.01, 0.9, 0.999, 1e-8, t=3), B=B)
    test_hidden_delta(rng, B, C, OC, "relu", w_scale=OC ** -0.5)  # sums of OC terms


def test_a_mid_sized_weight_gradient_is_packed_from_batch_128():
    """784 x 256 (dense inputs): the packed form from PACKED_SMALL_BATCH samples only."""
    assert dense.gradient_packed(128, 784, 256, False, 4)
    assert not dense.gradient_packed(32, 784, 256, False, 4)
    assert not dense.gradient_packed(512, 784, 256, True, 4)
    assert not dense.gradient_packed(512, 256, 256, False, 4)


# The register-blocked weight gradient (dW layout: 512² cells and a batch of 16 or more;
# never the dWᵀ layout of sparse inputs, whose zero blocks the row form skips; the kernel
# takes both), against the reference and bit for bit against dense_backward_params (1800 =
# 56 strips of 32 + 8; 150 and 70 rows end in a short block of 6)
@pytest.mark.parametrize("C,OC,in_major", [(1800, 150, False), (70, 1800, True)])
@pytest.mark.parametrize("kind,h", [(O.NO_UPDATE, O.NO_HYPER), (O.MOMENTUM, O.hyper(0.1, 0.01, 0.9)),
                                    (O.ADAM, O.hyper(0.01, 0.01, 0.9, 0.999, 1e-8, t=3))])
def test_weight_gradient_packed(rng, C, OC, in_major, kind, h):
    B = 300
    assert dense.gradient_packed(B, C, OC, in_major, 4) is not in_major
    assert not dense.gradient_packed(8, C, OC, in_major, 4)
    test_dense_backward_params(rng, C, OC, in_major, kind, h, B=B,
                               kernel=dense.dense_backward_params_packed)
    delta, x = rand(rng, B, OC), sparse(rng, rand(rng, B, C))
    shape = (C, OC) if in_major else (OC, C)
    slots = [(rand(rng, *shape), np.abs(rand(rng, *shape)), np.abs(rand(rng, *shape))),
             (rand(rng, OC), np.abs(rand(rng, OC)), np.abs(rand(rng, OC)))]
    results = []
    listed = (dense.dense_backward_params_listed,) if in_major else ()
    for kernel in (dense_backward_params, dense.dense_backward_params_packed, *listed):
        w_slots, bias_slots = (tuple(a.copy() for a in group) for group in slots)
        dw, db = np.empty(shape, F32), np.empty(OC, F32)
        kernel(dw, db, w_slots, bias_slots, delta, x, h, in_major, kind,
               *gradient_scratch(kernel, dw, B))
        results.append((dw, db, *w_slots, *bias_slots))
    for result in results[1:]:
        for want, got in zip(results[0], result):
            np.testing.assert_array_equal(got, want)


# The register-blocked hidden δ of wide layers: tiles of 8 samples × NR columns (32
# float32, 16 float64); batches and widths on both sides of every edge of a tile
@pytest.mark.parametrize("B,C,OC", [(1, 1, 1), (7, 31, 5), (8, 32, 300), (9, 33, 1),
                                    (17, 100, 64), (130, 1001, 13), (256, 97, 1024)])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hidden_delta_packed_gives_the_bits_of_hidden_delta(rng, B, C, OC, act, dtype):
    """Each cell sums its OC terms in order, one multiply-add at a time, in both kernels:
    the same bits, at 1 and 2 threads (so the choice between them changes no number)."""
    kind = A.NAMES[act]
    delta, w = rand(rng, B, OC).astype(dtype), rand(rng, OC, C, scale=OC ** -0.5).astype(dtype)
    u_prev = rand(rng, B, C).astype(dtype)
    a = slopes(rng, kind, B, C).astype(dtype)
    z_prev = ref.activate_ref(u_prev, kind, a).astype(dtype)
    results = []
    for kernel in (hidden_delta, dense.hidden_delta_packed):
        for threads in (1, 2):
            out, dz = np.full((B, C), np.nan, dtype), np.full((B, C), np.nan, dtype)
            with num_threads(threads):
                kernel(out, dz, delta, w, u_prev, z_prev, a, kind,
                       *scratch(kernel, B, OC, C, dtype))
            results.append((out, dz))
    for out, dz in results[1:]:
        np.testing.assert_array_equal(dz, results[0][1])
        np.testing.assert_array_equal(out, results[0][0])
    out_ref, dz_ref = ref.hidden_delta_ref(delta.astype(float), w.astype(float),
                                           u_prev.astype(float), kind, a.astype(float))
    if dtype == np.float32:
        assert_close(results[0][1], dz_ref, what="dz")
        assert_close(results[0][0], out_ref, what="delta_prev")


def test_the_hidden_delta_is_packed_for_wide_layers_and_large_batches():
    assert dense.delta_packed(128, 1024, 1024, 4) and dense.delta_packed(256, 4096, 2048, 4)
    assert dense.delta_packed(16, 1024, 1024, 4)
    assert not dense.delta_packed(8, 1024, 1024, 4)        # too few samples to share W
    assert dense.delta_packed(128, 1024, 512, 4)           # W of 2 MB: leaves L2
    assert not dense.delta_packed(256, 512, 512, 4)        # W of 1 MB: the row form's L2


# Tiles of 8 rows × NR columns (32 float32, 16 float64) of dW: rows, columns and batches
# on both sides of every edge; in the dWᵀ layout the listed kernel too (LISTED_ROWS
# inputs a task, groups of 4, the last units one at a time)
@pytest.mark.parametrize("B,C,OC", [(1, 1, 1), (7, 31, 9), (16, 32, 8), (17, 33, 17),
                                    (64, 100, 300), (1, 17, 1030), (7, 33, 1041),
                                    (130, 70, 1024)])
@pytest.mark.parametrize("in_major", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_backward_params_packed_gives_the_bits_of_the_row_form(rng, B, C, OC, in_major,
                                                                     dtype):
    delta, x = rand(rng, B, OC).astype(dtype), sparse(rng, rand(rng, B, C)).astype(dtype)
    shape = (C, OC) if in_major else (OC, C)
    slots = [tuple(np.abs(rand(rng, *shape)).astype(dtype) for _ in range(3)),
             tuple(np.abs(rand(rng, OC)).astype(dtype) for _ in range(3))]
    h = O.hyper(0.01, 0.01, 0.9, 0.999, 1e-8, t=3)
    listed = (dense.dense_backward_params_listed,) if in_major else ()
    assert_same_gradients([(kernel, threads) for kernel in (
        dense_backward_params, dense.dense_backward_params_packed, *listed) for threads in (1, 2)],
        slots, delta, x, h, in_major)


def assert_same_gradients(runs, slots, delta, x, h, in_major):
    """Each (kernel, threads) of ``runs`` gives the first one's dW, db and updated slots
    (Adam); returns the first run's results."""
    shape, results = slots[0][0].shape, []
    for kernel, threads in runs:
        w_slots, bias_slots = (tuple(a.copy() for a in group) for group in slots)
        dw, db = np.full(shape, np.nan, x.dtype), np.full(slots[1][0].shape, np.nan, x.dtype)
        with num_threads(threads):
            kernel(dw, db, w_slots, bias_slots, delta, x, h, in_major, O.ADAM,
                   *gradient_scratch(kernel, dw, x.shape[0]))
        results.append((dw, db, *w_slots, *bias_slots))
    for result in results[1:]:
        for want, got in zip(results[0], result):
            np.testing.assert_array_equal(got, want)
    return results[0]


# The register-blocked forward of wide layers: tiles of 8 samples × NR units, blocks of
# DELTA_KC (256) inputs; batches, widths and inputs on both sides of every edge
@pytest.mark.parametrize("B,C,OC", [(1, 1, 1), (7, 15, 31), (8, 16, 32), (9, 17, 33),
                                    (17, 300, 64), (130, 513, 100)])
@pytest.mark.parametrize("act", [a for a in ACTS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_forward_packed(rng, B, C, OC, act, dtype):
    """Against the reference, and the same bits at 1 and 2 threads."""
    kind = A.NAMES[act]
    x, w = rand(rng, B, C).astype(dtype), rand(rng, OC, C, scale=C ** -0.5).astype(dtype)
    b, a = rand(rng, OC).astype(dtype), slopes(rng, kind, B, OC).astype(dtype)
    results = []
    for threads in (1, 2):
        u, z = np.full((B, OC), np.nan, dtype), np.full((B, OC), np.nan, dtype)
        with num_threads(threads):
            dense.dense_forward_packed(u, z, x, w, b, a, kind,
                                       *scratch(dense.dense_forward_packed, B, C, OC, dtype))
        results.append((u, z))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])
    u_ref, z_ref = ref.dense_forward_ref(x.astype(float), w.astype(float), b.astype(float),
                                         kind, a.astype(float))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(results[0][0], u_ref, **tol)
    np.testing.assert_allclose(results[0][1], z_ref, **tol)


# Terms that are 0 in every row of a (inputs 0 in every sample, units whose δ is 0 in
# every sample) are left out of the packed forward and hidden δ: none, some, a whole
# block of DELTA_KC, all of them
DEAD = {"none": [], "some": [0, 3, 4, 5, 255, 256, 300, 599],
        "block": list(range(256, 512)) + [2, 600], "all": list(range(601))}


@pytest.mark.parametrize("dead", DEAD)
@pytest.mark.parametrize("B", [1, 9, 130])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_packed_forward_skips_inputs_that_are_0_in_every_sample(rng, dead, B, dtype):
    """The same bits as the product without those inputs (the walk over the others, in
    order), at 1 and 2 threads."""
    C, OC = 601, 70
    x, w = rand(rng, B, C).astype(dtype), rand(rng, OC, C, scale=C ** -0.5).astype(dtype)
    x[:, DEAD[dead]] = 0
    x[0, 1] = -0.0
    live = np.flatnonzero(np.any(x != 0, axis=0))
    b, a = rand(rng, OC).astype(dtype), np.zeros((1, OC), dtype)
    results, runs = [], [(1, x, w), (2, x, w)]
    if len(live):
        runs.append((1, x[:, live].copy(), w[:, live].copy()))
    for threads, xs, ws in runs:
        u, z = np.full((B, OC), np.nan, dtype), np.full((B, OC), np.nan, dtype)
        with num_threads(threads):
            dense.dense_forward_packed(u, z, xs, ws, b, a, A.RELU, *scratch(
                dense.dense_forward_packed, B, xs.shape[1], OC, dtype))
        results.append((u, z))
    for u, z in results[1:]:
        np.testing.assert_array_equal(u, results[0][0])
        np.testing.assert_array_equal(z, results[0][1])
    u_ref, _ = ref.dense_forward_ref(x.astype(float), w.astype(float), b.astype(float),
                                     "relu", a.astype(float))
    assert_close(results[0][0], u_ref, what="u")


@pytest.mark.parametrize("dead", DEAD)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_packed_hidden_delta_skips_units_whose_delta_is_0_in_every_sample(rng, dead,
                                                                            dtype):
    """The bits of ``hidden_delta`` (which sums every unit), at 1 and 2 threads."""
    B, C, OC = 33, 100, 601
    delta, w = rand(rng, B, OC).astype(dtype), rand(rng, OC, C, scale=OC ** -0.5).astype(dtype)
    delta[:, DEAD[dead]] = 0
    u_prev = rand(rng, B, C).astype(dtype)
    a, z_prev = np.zeros((1, C), dtype), np.maximum(u_prev, 0)
    results = []
    for kernel, threads in ((hidden_delta, 1), (dense.hidden_delta_packed, 1),
                            (dense.hidden_delta_packed, 2)):
        out, dz = np.full((B, C), np.nan, dtype), np.full((B, C), np.nan, dtype)
        with num_threads(threads):
            kernel(out, dz, delta, w, u_prev, z_prev, a, A.RELU,
                   *scratch(kernel, B, OC, C, dtype))
        results.append((out, dz))
    for out, dz in results[1:]:
        np.testing.assert_array_equal(dz, results[0][1])
        np.testing.assert_array_equal(out, results[0][0])


@pytest.mark.parametrize("dead", DEAD)
@pytest.mark.parametrize("B", [1, 17])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_packed_weight_gradient_of_inputs_0_in_every_sample(rng, dead, B, dtype):
    """The bits of the row form, at 1 and 2 threads; 0 for inputs 0 in every sample."""
    C, OC = 601, 20
    delta, x = rand(rng, B, OC).astype(dtype), rand(rng, B, C).astype(dtype)
    x[:, DEAD[dead]] = 0
    slots = [tuple(np.abs(rand(rng, OC, C)).astype(dtype) for _ in range(3)),
             tuple(np.abs(rand(rng, OC)).astype(dtype) for _ in range(3))]
    h = O.hyper(0.01, 0.01, 0.9, 0.999, 1e-8, t=3)
    dw = assert_same_gradients([(dense_backward_params, 1), (dense.dense_backward_params_packed, 1),
                                (dense.dense_backward_params_packed, 2)], slots, delta, x, h,
                               False)[0]
    assert not dw[:, DEAD[dead]].any()


def test_layers_plan_the_packed_forward_by_size_but_not_for_softmax():
    import fastnet as fn
    from fastnet import passes
    assert dense.forward_packed(32, 1100, 600, 4) and not dense.forward_packed(16, 1100, 600, 4)
    assert dense.forward_packed(128, 20, 1100, 4) and not dense.forward_packed(127, 20, 1100, 4)
    assert dense.forward_packed(128, 784, 256, 4) and not dense.forward_packed(512, 784, 128, 4)
    assert not dense.forward_packed(512, 100, 100, 4)   # under 128² cells
    net = fn.Network([fn.Dense(20, 1100, activation="relu"), fn.Dense(1100, 600, activation="relu"),
                      fn.Dense(600, 10), fn.Dense(10, 3)], sparse_inputs=False,
                     loss="sum_of_squares")
    for i in (0, 1):
        assert [k.py_func.__name__ for k in passes.forward_kernels(net, i)] == [
            "dense_forward", "dense_forward_packed"]
    for i in (2, 3):
        assert [k.py_func.__name__ for k in passes.forward_kernels(net, i)] == ["dense_forward"]
    soft = fn.Network([fn.Dense(20, 1100), fn.Dense(1100, 600)], sparse_inputs=False)
    assert [k.py_func.__name__ for k in passes.forward_kernels(soft, 1)] == ["dense_forward"]


@pytest.mark.parametrize("B", BATCHES)
def test_prelu_slope_grad(rng, B):
    C = 19
    dz, u = rand(rng, B, C), rand(rng, B, C)
    da = np.empty((1, C), F32)
    prelu_slope_grad(da, dz, u)
    assert_close(da, ref.prelu_slope_grad_ref(dz.astype(float), u.astype(float)), what="da")


def _loss_inputs(rng, B, K, loss, act):
    u = rand(rng, B, K, scale=3.0)
    if loss == L.SOFTMAX_CROSS_ENTROPY:
        d = np.eye(K, dtype=F32)[rng.integers(0, K, B)]
    elif loss == L.BINARY_CROSS_ENTROPY:
        d = rng.integers(0, 2, (B, K)).astype(F32)
    else:
        d = rand(rng, B, K)
    a = slopes(rng, act, B, K)
    return u, ref.activate_ref(u, act, a).astype(F32), d, a


@pytest.mark.parametrize("B", BATCHES)
@pytest.mark.parametrize("K", [1, 10, 13])
@pytest.mark.parametrize("loss,act", [
    (L.SOFTMAX_CROSS_ENTROPY, A.SOFTMAX), (L.BINARY_CROSS_ENTROPY, A.SIGMOID),
    (L.SUM_OF_SQUARES, A.IDENTITY), (L.SUM_OF_SQUARES, A.TANH), (L.SUM_OF_SQUARES, A.PRELU)])
def test_losses(rng, B, K, loss, act):
    u, y, d, a = _loss_inputs(rng, B, K, loss, act)
    delta, dz, losses = np.empty((B, K), F32), np.empty((B, K), F32), np.empty(B, F32)
    total = L.batch_loss(losses, delta, dz, u, y, d, a, loss, act)
    assert total == pytest.approx(losses.sum(dtype=np.float64), rel=1e-12)
    l_ref, d_ref = ref.batch_loss_ref(loss, u.astype(float), d, act, a)
    assert_close(losses, l_ref, what="losses")
    assert_close(delta, d_ref, what="delta")


def _adjacent(shapes, gap):
    """Arrays of the given shapes, consecutive in one buffer with ``gap`` floats between."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    buf = np.full(sum(sizes) + gap * len(sizes), np.nan, F32)
    out, start = [], 0
    for shape, n in zip(shapes, sizes):
        out.append(buf[start:start + n].reshape(shape))
        start += n + gap
    return out


@pytest.mark.parametrize("K", [9, 10, 37])
def test_results_do_not_depend_on_where_the_arrays_lie(rng, K):
    """A loop that both sums and stores gets a run-time overlap check from LLVM, and
    a scalar fallback that adds in another order when the arrays lie close together:
    the softmax and the losses gave other bits when z followed u in memory."""
    B, C = 2, 31
    x, w, b = rand(rng, B, C), rand(rng, K, C, scale=0.3), rand(rng, K)
    slope = np.zeros((1, K), F32)
    d = np.eye(K, dtype=F32)[rng.integers(0, K, B)]
    results = []
    for gap in (0, 4096):
        u, z, delta, dz = _adjacent([(B, K)] * 4, gap)
        dense_forward(u, z, x, w, b, slope, A.SOFTMAX)
        losses = np.empty(B, F32)
        total = L.batch_loss(losses, delta, dz, u, z, d, slope, L.SOFTMAX_CROSS_ENTROPY,
                             A.SOFTMAX)
        results.append((u.copy(), z.copy(), delta.copy(), losses, total))
    for near, far in zip(*results):
        assert np.array_equal(near, far)


def test_cross_entropy_is_stable_for_huge_logits():
    u = np.array([[1000.0, -1000.0, 0.0], [-5e4, 5e4, 1.0]], F32)
    d = np.eye(3, dtype=F32)[[0, 0]]
    y = ref.activate_ref(u.astype(float), A.SOFTMAX, 0).astype(F32)
    delta, dz, losses = np.empty_like(u), np.empty_like(u), np.empty(2, F32)
    L.batch_loss(losses, delta, dz, u, y, d, np.zeros((1, 3), F32), L.SOFTMAX_CROSS_ENTROPY,
                 A.SOFTMAX)
    assert_close(losses, [0.0, 1e5], rtol=1e-6)
    L.batch_loss(losses, delta, dz, u, (u > 0).astype(F32), d, np.zeros((1, 3), F32),
                 L.BINARY_CROSS_ENTROPY, A.SIGMOID)
    assert np.isfinite(losses).all()
    assert_close(losses, [np.log(2), 1e5 + 1 + np.log1p(np.exp(-1.0))], rtol=1e-6)


NO_SHIFT = np.empty(0, F32)


def gather_rows(out, src, idx, scale, shift, factor):
    """gather_batch of the inputs alone (targets of no columns)."""
    gather_batch(out, out[:, :0], src, np.empty((len(src), 0), F32), idx, scale, shift, factor)


@pytest.mark.parametrize("src_dtype,scale", [(np.uint8, 1 / 255), (F32, 1.0)])
def test_gather_rows(rng, src_dtype, scale):
    src = rng.integers(0, 256, (50, 13)).astype(src_dtype)
    idx = rng.permutation(50)[:7]
    out = np.empty((7, 13), F32)
    gather_rows(out, src, idx, scale, NO_SHIFT, NO_SHIFT)
    assert_close(out, ref.gather_rows_ref(src.astype(np.float64), idx, scale), rtol=1e-6)


@pytest.mark.parametrize("src_dtype", [np.uint8, F32, np.float64])
def test_gather_rows_per_feature_shift_and_factor(rng, src_dtype):
    src = (rng.standard_normal((50, 13)) * 100 + 50).astype(src_dtype)
    shift = rng.standard_normal(13).astype(F32) * 10
    factor = rng.uniform(0.01, 2, 13).astype(F32)
    idx = rng.permutation(50)[:11]
    out = np.empty((11, 13), F32)
    gather_rows(out, src, idx, 7.0, shift, factor)      # the scalar is ignored
    want = ref.gather_rows_ref(src.astype(np.float64), idx, 7.0, shift, factor)
    assert_close(out, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("src_dtype,scale", [(np.uint8, 1 / 255), (F32, 1.0)])
def test_gather_batch(rng, src_dtype, scale):
    src = rng.integers(0, 256, (50, 13)).astype(src_dtype)
    targets = rng.standard_normal((50, 4)).astype(F32)
    idx = rng.permutation(50)[:7]
    x, t = np.empty((7, 13), F32), np.empty((7, 4), F32)
    shift, factor = (NO_SHIFT, NO_SHIFT) if scale == 1.0 else \
        (np.full(13, 3, F32), np.full(13, 0.5, F32))
    gather_batch(x, t, src, targets, idx, scale, shift, factor)
    want_x, want_t = ref.gather_batch_ref(src.astype(np.float64), scale, targets, idx,
                                          shift, factor)
    assert_close(x, want_x, rtol=1e-6)
    assert np.array_equal(t, want_t)


def test_count_correct(rng):
    y = rng.random((40, 10)).astype(F32)
    labels = rng.integers(0, 10, 40)
    d = np.eye(10, dtype=F32)[labels]
    yb = rng.random((40, 3)).astype(F32)
    db = rng.integers(0, 2, (40, 3)).astype(F32)
    for loss, (y_, d_) in [(L.SOFTMAX_CROSS_ENTROPY, (y, d)), (L.BINARY_CROSS_ENTROPY, (yb, db)),
                           (L.SUM_OF_SQUARES, (yb, db))]:
        assert count_correct(y_, d_, loss) == ref.count_correct_ref(y_, d_, loss), loss
    assert ref.count_correct_ref(y, d, L.SOFTMAX_CROSS_ENTROPY) == (y.argmax(1) == labels).sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_updates_count_the_parameters_they_leave_non_finite(rng, dtype, bad):
    """The divergence check rides on the update: both update kernels return how many
    parameters are NaN or ±inf afterwards."""
    p = rng.standard_normal(1001).astype(dtype)
    p[17] = np.finfo(dtype).max          # huge but finite
    zero, h = np.zeros_like(p), O.hyper(0.1)
    assert O.optimizer_update(p.copy(), zero, zero, zero, h, O.SGD) == 0
    for where in (0, 500, 1000):
        q = p.copy()
        q[where] = bad
        assert O.optimizer_update(q, zero, zero, zero, h, O.SGD) == 1, (bad, where)
    w = p[:1000].reshape(10, 100).copy()
    w[3, 7] = bad
    dw, db, b = np.empty_like(w), np.empty(10, dtype), np.zeros(10, dtype)
    delta, x = np.zeros((5, 10), dtype), np.zeros((5, 100), dtype)
    for in_major in (False, True):  # W (10, 100) or Wᵀ (100, 10) with the same bad entry
        wt, dwt = (w.T.copy(), dw.T.copy()) if in_major else (w, dw)
        slots = (wt, dwt, dwt), (b, db, db)
        assert dense_backward_params(dwt, db, *slots, delta, x, h, in_major, O.SGD) == 1
        assert dense_backward_params(dwt, db, *slots, delta, x, h, in_major, O.NO_UPDATE) == 0


@pytest.mark.parametrize("B,shape", [
    (8, (0, 0, 0)),            # a training batch needs its partial sums
    (8, (2, 16, 5)),           # a larger batch's workspace
    (200, (2, 200, 5)),        # a batch above CHUNK takes none
])
def test_dense_forward_rejects_a_partial_of_the_wrong_shape(B, shape):
    """``partial_shape`` is the one shape the first layer's forward takes; any other raises
    instead of silently running another schedule."""
    C, OC = 7, 5
    x, bias, slope = np.zeros((B, C), F32), np.zeros(OC, F32), np.zeros((1, OC), F32)
    wt = np.zeros((C, OC), F32)
    u, z = np.empty((B, OC), F32), np.empty((B, OC), F32)
    dense_forward_in_major(u, z, np.empty(partial_shape(B, OC), F32), x, wt, bias, slope,
                           A.RELU)
    with pytest.raises(ValueError, match="partial_shape"):
        dense_forward_in_major(u, z, np.empty(shape, F32), x, wt, bias, slope, A.RELU)


def test_a_saturated_float32_softmax_stores_zero_not_a_subnormal():
    """Subnormal probabilities would slow every product they reach 10-100x (activations.TINY)."""
    expected = np.exp(-120.0)  # kept in float64, 0 in float32 (subnormal there)
    for dtype in (np.float32, np.float64):
        x = np.ones((1, 1), dtype)
        w = np.array([[0.0], [-120.0], [-60.0]], dtype)  # logits 0, -120, -60
        u, z = np.empty((1, 3), dtype), np.empty((1, 3), dtype)
        dense_forward(u, z, x, w, np.zeros(3, dtype), np.zeros((1, 3), dtype), A.SOFTMAX)
        assert z[0, 1] == 0.0 if dtype == np.float32 else np.isclose(z[0, 1], expected)
        assert np.isclose(z[0, 2], np.exp(-60.0), rtol=1e-5) and np.isclose(z[0, 0], 1.0)


@njit(parallel=True)
def _hand_out(done, n_tasks):
    ranges = task_ranges(n_tasks)
    for worker in prange(len(ranges) // STRIDE):
        task = next_task(ranges, np.int64(worker))
        while task >= 0:
            done[task] += 1
            task = next_task(ranges, np.int64(worker))


@njit
def _serial_claims(ranges, order):
    """Claims in a fixed interleaving of 2 workers: worker order[i] takes the i-th."""
    out = np.empty(len(order), np.int64)
    for i in range(len(order)):
        out[i] = next_task(ranges, order[i])
    return out


@pytest.mark.parametrize("n_tasks", [0, 1, 2, 3, 1000])
def test_tasks_handed_out_once_each(n_tasks):
    """tasks.py: every task number below n_tasks runs exactly once, whatever the
    thread count."""
    for threads in (1, 2):
        done = np.zeros(n_tasks, np.int64)
        with num_threads(threads):
            _hand_out(done, n_tasks)
        assert (done == 1).all()


def test_tasks_own_run_first_then_the_others_back():
    """Worker 0 of 2 owns tasks 0..4, worker 1 tasks 5..9; worker 1, when its run is
    done, takes worker 0's from the back; then both get -1."""
    ranges = np.empty(2 * STRIDE, np.int64)
    for w, (a, b) in enumerate([(0, 5), (5, 10)]):
        ranges[w * STRIDE] = a * FRONT + b + BACK_OFFSET
    order = np.array([0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1], np.int64)
    assert _serial_claims(ranges, order).tolist() == [0, 5, 6, 7, 8, 9, 4, 1, 3, 2, -1, -1, -1]


def test_a_packed_kernel_given_too_short_a_scratch_raises():
    """The scratch is the workspace's (``passes.scratch_size``); one number short, each
    register-blocked kernel refuses it instead of writing past its end."""
    rng = np.random.default_rng(0)
    B, C, OC = 40, 300, 70
    x, w, delta = rand(rng, B, C), rand(rng, OC, C), rand(rng, B, OC)
    u, z, bias, a = np.empty((B, OC), F32), np.empty((B, OC), F32), rand(rng, OC), slopes(
        rng, A.RELU, 1, OC)
    dw, db = np.empty((OC, C), F32), np.empty(OC, F32)
    calls = [(dense.dense_forward_packed, (u, z, x, w, bias, a, A.RELU), (B, C, OC, False)),
             (dense.hidden_delta_packed, (np.empty((B, C), F32), np.empty((B, C), F32), delta,
                                          w, x, x, slopes(rng, A.RELU, 1, C), A.RELU),
              (B, OC, C, False)),
             (dense.dense_backward_params_packed, (dw, db, (w,) * 3, (bias,) * 3, delta, x,
                                                   O.NO_HYPER, False, O.NO_UPDATE),
              (OC, B, C, True))]
    for kernel, args, (M, K, N, gradient) in calls:
        size = sum(dense.packed_scratch(M, K, N, 4, gradient))
        kernel(*args, np.zeros(size, F32))
        with pytest.raises(ValueError, match="scratch"):
            kernel(*args, np.zeros(size - 1, F32))
