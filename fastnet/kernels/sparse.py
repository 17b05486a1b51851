"""The backward products of wide ReLU layers, skipping the zeros of their δ.

A ReLU unit's δ = f'(u) ⊙ ∂L/∂z is 0 at every sample where u < 0: about half of them.
The two backward products of such a layer multiply by that δ,

    weights   dW = δᵀ x    out[i, j] = Σ_k a[i, k] b[k, j]   a = δᵀ (OC, B), b = x (B, C)
    hidden δ  g  = δ W     (same form)                        a = δ (B, OC),  b = W (OC, C)

and here skip the terms k at which both rows of a pair i, i + 1 of a are 0 (a quarter of
them when half are): ``list_pair`` lists the other k of each block of PAIR_KC terms, with
the pair's two numbers side by side; ``pair_tile`` keeps a tile of 2 rows × 8 vectors of
out in 16 registers and, for each listed k, loads 8 vectors of a strip of b packed row by
row (``gemm.pack_strips``, NW = 8 LANES columns) for 16 multiply-adds. (A row of a alone
skips half the terms, but loads a vector of b for every multiply-add: measured, the
product took 1.5-2 × the time of the dense one; ``gemm.tile``'s 8 rows share too few
zeros to skip any.)

Each cell sums its terms in order, one multiply-add at a time, and a skipped term is a
product by 0: the bits of the packed kernels of ``dense`` (where b holds no ±inf or NaN,
which times 0 is NaN there). Neither the lists nor the split into tasks depend on the
thread count.

Shapes: idx (P, K) listed terms, av (P, 2 K) their pairs of numbers, ptr (P, n_kb + 1)
where each block of terms starts in them, for P = ⌈M / 2⌉ pairs of rows (an odd last
row pairs with itself) and n_kb = ⌈K / PAIR_KC⌉ blocks; b packed in strips of NW columns,
strip s a (K, NW) panel.
"""
import numpy as np
from numba import prange

from ..config import ZERO, helper, inline, parallel_kernel
from .activations import times_derivative
from .gemm import column_sums, pack_columns, pack_strips
from .optim import update_rows
from .simd import BYTES, flat_rows, load, vfma, vload, vstore, vzero
from .tasks import STRIDE, block, next_task, task_ranges, threads

PAIR_KC = 64  # terms per block: a block of a strip, PAIR_KC × NW float32, fills 32 KB (L1d)
DELTA_PAIRS = 64  # pairs of samples per task of the hidden δ (each block of W serves them all)
PACK_ROWS = 16  # rows of b a task of the first loop packs into strips
GRADIENT_TASKS = 4  # tasks a thread of the weight gradient (each packed strip of x serves a run)


@inline
def strip_width(a):
    """NW: the columns of a strip of b for arrays of a's dtype, 8 vectors."""
    return 8 * (BYTES // a.itemsize)


@helper
def list_pair(idx, av, ptr, a, i, transposed):
    """The terms of rows i and i + 1 of a (M, K) (row i alone twice when i + 1 = M) at
    which either is nonzero, by blocks of PAIR_KC terms: idx[t] = k, av[2 t + r] =
    a[i + r, k], and block kb's terms at t from ptr[kb] to ptr[kb + 1]. With
    ``transposed``, a is given as aᵀ (K, M) (the weight gradient: δ read by pairs of
    columns). idx, av, ptr: 1-D, one pair's rows of the shapes above."""
    K, M = a.shape if transposed else (a.shape[1], a.shape[0])
    j = min(i + 1, M - 1)
    n = ZERO
    n_kb = ptr.shape[0] - 1
    for kb in range(n_kb):
        ptr[kb] = n
        for k in range(kb * PAIR_KC, min(K, kb * PAIR_KC + PAIR_KC)):
            if transposed:
                v, w = a[k, i], a[k, j]
            else:
                v, w = a[i, k], a[j, k]
            idx[n] = k
            av[2 * n], av[2 * n + 1] = v, w
            n += (v != 0) | (w != 0)
    ptr[n_kb] = n


@helper
def pair_tile(out, o, ldo, bp, b0, av, idx, t0, t1, add):
    """out[o + r ldo + l] = Σ_{t0 ≤ t < t1} av[2 t + r] · bp[b0 + idx[t] NW + l] for r < 2
    and l < NW (``strip_width``): two rows of a tile over the listed terms, the sums in 16
    vector registers; with ``add`` they start from the tile's values in out (the next block
    of terms). out, bp, av flat arrays of one float dtype."""
    L = BYTES // bp.itemsize
    NW = 8 * L
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = vzero(bp)
    d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = vzero(bp)
    p = o + ldo
    if add:
        c0, c1, c2, c3 = vload(out, o), vload(out, o + L), vload(out, o + 2 * L), vload(out, o + 3 * L)
        c4, c5 = vload(out, o + 4 * L), vload(out, o + 5 * L)
        c6, c7 = vload(out, o + 6 * L), vload(out, o + 7 * L)
        d0, d1, d2, d3 = vload(out, p), vload(out, p + L), vload(out, p + 2 * L), vload(out, p + 3 * L)
        d4, d5 = vload(out, p + 4 * L), vload(out, p + 5 * L)
        d6, d7 = vload(out, p + 6 * L), vload(out, p + 7 * L)
    for t in range(t0, t1):
        q = b0 + idx[t] * NW
        y0, y1, y2, y3 = vload(bp, q), vload(bp, q + L), vload(bp, q + 2 * L), vload(bp, q + 3 * L)
        y4, y5 = vload(bp, q + 4 * L), vload(bp, q + 5 * L)
        y6, y7 = vload(bp, q + 6 * L), vload(bp, q + 7 * L)
        x = load(av, 2 * t)
        c0, c1, c2, c3 = vfma(x, y0, c0), vfma(x, y1, c1), vfma(x, y2, c2), vfma(x, y3, c3)
        c4, c5, c6, c7 = vfma(x, y4, c4), vfma(x, y5, c5), vfma(x, y6, c6), vfma(x, y7, c7)
        x = load(av, 2 * t + 1)
        d0, d1, d2, d3 = vfma(x, y0, d0), vfma(x, y1, d1), vfma(x, y2, d2), vfma(x, y3, d3)
        d4, d5, d6, d7 = vfma(x, y4, d4), vfma(x, y5, d5), vfma(x, y6, d6), vfma(x, y7, d7)
    vstore(out, o, c0)
    vstore(out, o + L, c1)
    vstore(out, o + 2 * L, c2)
    vstore(out, o + 3 * L, c3)
    vstore(out, o + 4 * L, c4)
    vstore(out, o + 5 * L, c5)
    vstore(out, o + 6 * L, c6)
    vstore(out, o + 7 * L, c7)
    vstore(out, p, d0)
    vstore(out, p + L, d1)
    vstore(out, p + 2 * L, d2)
    vstore(out, p + 3 * L, d3)
    vstore(out, p + 4 * L, d4)
    vstore(out, p + 5 * L, d5)
    vstore(out, p + 6 * L, d6)
    vstore(out, p + 7 * L, d7)


@helper
def _prepare(idx, av, ptr, packed, a, b, transposed, task):
    """Task ``task`` of the first loop of a product here: the lists of pair ``task`` of a
    (``list_pair``), or, past the pairs, a block of PACK_ROWS rows of b into its strips."""
    P = idx.shape[0]
    if task < P:
        list_pair(idx[task], av[task], ptr[task], a, 2 * task, transposed)
    else:
        k0, k1 = block(task - P, b.shape[0], PACK_ROWS)
        pack_strips(packed, b, k0, k1, strip_width(b))


@helper
def _pair_rows(out, b, packed, idx, av, ptr, p0, p1, s0, s1):
    """Rows 2 p0 .. 2 p1 (pairs p0..p1) and strips s0..s1 of NW columns of out = a b from
    the lists of a and b (K, N): strip by strip, each block of PAIR_KC terms of the strip
    (in L1) used for all the pairs, from the strips packed beforehand or, when ``packed``
    is empty, packed here block by block (``gemm.pack_columns``); whole tiles straight
    into out, the others (a short last strip, an odd last row) through a buffer."""
    M, N = out.shape
    K = b.shape[0]
    NW = strip_width(out)
    flat = flat_rows(out, 0, M)
    edge = np.empty((p1 - p0) * 2 * NW, out.dtype)
    here = packed.shape[0] == 0
    strip = np.empty(PAIR_KC * NW if here else 0, out.dtype)
    for s in range(s0, s1):
        j0, j1 = block(s, N, NW)
        for kb in range(ptr.shape[1] - 1):
            if here:
                k0, k1 = block(kb, K, PAIR_KC)
                pack_columns(strip, ZERO, NW, b, k0, k1, j0, j1)
                bp, b0 = strip, -k0 * NW
            else:
                bp, b0 = packed, s * K * NW
            for p in range(p0, p1):
                t0, t1 = ptr[p, kb], ptr[p, kb + 1]
                if j1 - j0 == NW and 2 * p + 2 <= M:
                    pair_tile(flat, 2 * p * N + j0, N, bp, b0, av[p], idx[p], t0, t1, kb > 0)
                else:
                    pair_tile(edge, (p - p0) * 2 * NW, NW, bp, b0, av[p], idx[p], t0, t1,
                              kb > 0)
        for p in range(p0, p1):
            if not (j1 - j0 == NW and 2 * p + 2 <= M):
                for r in range(min(2, M - 2 * p)):
                    for j in range(j0, j1):
                        flat[(2 * p + r) * N + j] = edge[(p - p0) * 2 * NW + r * NW + j - j0]


@inline
def _workspace(M, K, N, NW, dtype, packed):
    """idx, av, ptr (shapes in the module doc) of a product, and with ``packed`` a buffer
    for all the strips of b (else an empty one)."""
    P, n_kb = (M + 1) // 2, (K + PAIR_KC - 1) // PAIR_KC
    n = (N + NW - 1) // NW * K * NW if packed else 0
    return (np.empty((P, K), np.int64), np.empty((P, 2 * K), dtype),
            np.empty((P, n_kb + 1), np.int64), np.empty(n, dtype))


@parallel_kernel
def dense_backward_params_sparse(dw, dbias, w_slots, bias_slots, delta, x, h, w_in_major,
                                 kind):
    """``dense.dense_backward_params`` (same arguments, same bits) for a wide ReLU layer
    (``passes.gradient_kernel``), in the W layout only (ValueError for ``w_in_major``):
    dW = δᵀ x over the samples at which either unit of a pair has a nonzero δ. A first
    parallel loop lists the pairs of units (δ by pairs of columns) and packs x in strips of
    NW columns; then GRADIENT_TASKS tasks a thread (handed out as ``tasks.py`` does) each
    own a run of pairs, compute their rows of dW strip by strip (``_pair_rows``) and
    update those rows of W (rule ``kind``) and their biases.
    Returns the number of parameters the update left NaN or ±inf.
    """
    if w_in_major:
        raise ValueError("dense_backward_params_sparse: the W layout only (w_in_major False)")
    (M, N), K = dw.shape, x.shape[0]
    idx, av, ptr, packed = _workspace(M, K, N, strip_width(dw), dw.dtype, True)
    P = idx.shape[0]
    for t in prange(P + (K + PACK_ROWS - 1) // PACK_ROWS):
        _prepare(idx, av, ptr, packed, delta, x, True, np.int64(t))
    per_task = (P + GRADIENT_TASKS * threads() - 1) // (GRADIENT_TASKS * threads())
    n_tasks = (P + per_task - 1) // per_task
    bad = 0
    ranges = task_ranges(n_tasks)
    for worker in prange(len(ranges) // STRIDE):  # runs, then help (tasks.py)
        bad += _gradient_pairs(dw, dbias, w_slots, bias_slots, delta, x, h, kind, packed, idx,
                               av, ptr, ranges, np.int64(worker), per_task)
    return bad


@helper
def _gradient_pairs(dw, dbias, w_slots, bias_slots, delta, x, h, kind, packed, idx, av, ptr,
                    ranges, worker, per_task):
    """The tasks of ``worker`` in ``dense_backward_params_sparse``: each a run of per_task
    pairs of rows of dW and their update; returns how many parameters they left
    non-finite."""
    M, N = dw.shape
    P = idx.shape[0]
    n_strips = (N + strip_width(dw) - 1) // strip_width(dw)
    bad = 0
    task = next_task(ranges, worker)
    while task >= 0:
        p0, p1 = task * per_task, min((task + 1) * per_task, P)
        _pair_rows(dw, x, packed, idx, av, ptr, p0, p1, ZERO, n_strips)
        i0, i1 = 2 * p0, min(2 * p1, M)
        o0, o1 = min(i0, dbias.shape[0]), min(i1, dbias.shape[0])
        column_sums(dbias, delta, o0, o1)
        bad += update_rows(dw, dbias, w_slots, bias_slots, h, kind, i0, i1, o0, o1)
        task = next_task(ranges, worker)
    return bad


@parallel_kernel
def hidden_delta_sparse(delta_prev, dz_prev, delta, w, u_prev, z_prev, slope_prev, act_prev):
    """``dense.hidden_delta`` (same arguments, same bits) for a wide ReLU layer
    (``passes.delta_kernel``): dz = δ W over the units at which either sample of a pair has
    a nonzero δ, then δ_prev = f'(u_prev) ⊙ dz. A first parallel loop lists the pairs of
    samples; then a task per strip of NW columns and run of DELTA_PAIRS pairs
    (``_pair_rows``, packing the strip's blocks of W as it goes); then f' by runs of pairs.
    """
    (B, C), K = dz_prev.shape, w.shape[0]
    idx, av, ptr, packed = _workspace(B, K, C, strip_width(w), w.dtype, False)
    P = idx.shape[0]
    for t in prange(P):
        _prepare(idx, av, ptr, packed, delta, w, False, np.int64(t))
    n_strips, n_runs = (C + strip_width(w) - 1) // strip_width(w), (P + DELTA_PAIRS - 1) // DELTA_PAIRS
    for t in prange(n_strips * n_runs):
        task = np.int64(t)  # signed (see ZERO)
        s, run = task // n_runs, task % n_runs
        _pair_rows(dz_prev, w, packed, idx, av, ptr, run * DELTA_PAIRS,
                   min(run * DELTA_PAIRS + DELTA_PAIRS, P), s, s + 1)
    for t in prange(n_runs):
        i0, i1 = block(np.int64(t), B, 2 * DELTA_PAIRS)
        times_derivative(delta_prev, dz_prev, u_prev, z_prev, slope_prev, act_prev, i0, i1)
