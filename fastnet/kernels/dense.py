"""Dense layer kernels: forward and backward side by side.

A dense layer computes, for every sample b of the minibatch,

    u[b, o] = Σ_c W[o, c] x[b, c] + bias[o]        (u = W x + b)
    z[b, o] = f(u[b, o])                           (z = f(u))

and back-propagation uses the δ rule with δ = ∂L/∂u:

    ∂L/∂W[o, c] = Σ_b δ[b, o] x[b, c]              (dW = δᵀ x)
    ∂L/∂bias[o] = Σ_b δ[b, o]
    δ_prev[b, c] = f'_prev(u_prev[b, c]) Σ_o W[o, c] δ[b, o]

The forward product sums over the contiguous index of both operands, the two
backward products over a row index, so there are two register-tiled forms:

    forward   u  = x Wᵀ    out[i, j] = Σ_k a[i, k] b[j, k]   a = x (B, C), b = W (OC, C)
    weights   dW = δᵀ x    out[i, j] = Σ_k a[i, k] b[k, j]   a = δᵀ (OC, B), b = x (B, C)
    hidden δ  g  = δ W     (same form)                        a = δ (B, OC),  b = W (OC, C)

``_abt_block`` keeps a 4 × 4 block of out in sixteen scalar accumulators and walks
k once (eight loads feed sixteen multiply-adds); ``_ab_rows`` keeps a 4 × 4 block
of a in registers and streams rows of b into 4 rows of out. With fast-math
re-association LLVM vectorises the inner loop of both (16 float32 lanes of
AVX-512). δᵀ is a strided view read one scalar at a time, so no transpose is
copied. (The register-blocked forms of wide layers, ``*_packed`` below, do copy their
operands into packed blocks first: ``gemm``.) Each parallel loop gives every thread its own cells of out (blocks
of 4 output units for u and dW, of 4 samples for g and a softmax layer's u), so
no two threads write the same cell and the summation order does not depend on
the thread count.

The first layer of sparse inputs (``Network(sparse_inputs=True)``) stores W transposed,
Wᵀ (C, OC) ("in-major"; ``w_in_major`` in the kernels), because its input is data, and
data is often sparse: in the forms

    forward   u   = x Wᵀ   (listed rows)                      x (B, C),  Wᵀ (C, OC)
    weights   dWᵀ = xᵀ δ   (row form)                         a = xᵀ (C, B), b = δ (B, OC)

The forward lists, for each block of 4 samples, the inputs at which any of them is
nonzero and sums only those rows of Wᵀ (``_listed_product``); ``_ab_rows`` skips
every 4 × 4 block of a that is all zero: on MNIST (81 % of the pixels are 0) the two
products of the first layer do 39 % and 49 % of the multiply-adds. The first layer
needs no hidden δ. A first layer of dense inputs is stored like the others and runs
their kernels.

Training does the optimizer step in the weight-gradient kernel, in the same
parallel loop: each task updates (``optim.update_row``) the rows of W whose gradient
it has just computed, still in L1. The hidden δ of the layer below runs first, with
the old W.

Shapes: x (B, C), W (OC, C), bias (OC,), u, z, δ (B, OC), slope (S, OC) with
S = 1 (one slope per unit) or S = B (RReLU: one slope per element).
"""
import numpy as np
from numba import prange
from numba.extending import register_jitable

from ..config import ZERO, helper, inline, parallel_kernel
from .activations import SOFTMAX, add_bias_activate, times_derivative
from .gemm import (ROWS, pack_columns, pack_strips, pack_transposed, tile,
                   tile_columns)
from .simd import BYTES, flat_rows, load, vfma, vload, vstore, vzero
from .tasks import STRIDE, next_task, task_ranges, threads
from .optim import NO_UPDATE, update_row

TILE = 4  # rows and columns of the register blocks
CHUNK = 128  # the largest batch whose first layer's forward is cut into PARTS slices
UNITS_BATCH = 512  # the largest batch whose later layers' forward is parallel over units
RUN_TASKS = 16  # tasks (runs of 4-sample blocks) of the hidden δ and large first-layer batches
PANEL_BYTES = 1 << 19  # rows of W (hidden δ) or Wᵀ (first layer) a task reuses from L2: 512 KB
UNITS = 16  # output units per forward task (4 register tiles share each x tile)
DELTA_PACKED_BATCH = 16  # the smallest batch whose hidden δ of a wide layer is packed
PACKED_GRADIENT_CELLS = 512 * 512  # the smallest dW (W layout) whose gradient is packed
PACKED_SMALL_GRADIENT = 256 * 784  # and from PACKED_SMALL_BATCH, the smallest such dW
PACKED_FORWARD_CELLS = 512 * 512  # the smallest W whose forward is packed from PACKED_FORWARD_BATCH
PACKED_GRADIENT_BATCH = 16  # and the smallest batch
PACKED_FORWARD_BATCH = 32  # the smallest batch whose forward of such a layer is packed
PACKED_SMALL_CELLS = 128 * 128  # smaller layers' forward is packed from PACKED_SMALL_BATCH
PACKED_SMALL_BATCH = 128
DELTA_KC = 256  # terms per block of the packed forward and hidden δ: a strip of 32 KB (L1d)
PACK_TERMS = 16  # terms (samples) of both operands a task of the weight gradient packs
LISTED_ROWS = 16  # inputs per task of the listed weight gradient (a cache line of x)
LISTED_UNITS = 1024  # the fewest units whose weight gradient (dWᵀ layout) is listed
WORKERS = RUN_TASKS + 1  # the most workers of a packed kernel's loop (the runs and the biases)
PARTS = 2  # slices of the pixels in the first layer's forward of a training batch
RUN_BLOCKS = 4  # blocks of samples per run of such a forward when a slice of Wᵀ exceeds L2
UNIT_PANEL = 256  # units per task of a larger batch's first-layer forward (Wᵀ's columns)


def partial_shape(B, OC):
    """The shape of the first layer's ``partial`` workspace (``dense_forward_in_major``):
    (PARTS, B, OC) for a training batch (B ≤ CHUNK), else (0, 0, 0) (unused). Every
    caller allocates it from this function; the kernel checks it with its inlined twin
    (plain Python here: a call from Python compiles nothing)."""
    if B <= CHUNK:
        return (PARTS, B, OC)
    return (0, 0, 0)


_partial_shape = inline(partial_shape)


@inline
def _dot(x, y, K):
    """Σ_k x[k] y[k] for two rows of length K."""
    acc = x.dtype.type(0)
    for k in range(K):
        acc += x[k] * y[k]
    return acc


@helper
def _tile4x4(out, a, b, i, j, K):
    """out[i:i+4, j:j+4] = a[i:i+4] b[j:j+4]ᵀ: sixteen accumulators, one pass over k."""
    a0, a1, a2, a3 = a[i], a[i + 1], a[i + 2], a[i + 3]
    b0, b1, b2, b3 = b[j], b[j + 1], b[j + 2], b[j + 3]
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = a0.dtype.type(0)
    c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = a0.dtype.type(0)
    for k in range(K):
        x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
        y0, y1, y2, y3 = b0[k], b1[k], b2[k], b3[k]
        c00 += x0 * y0
        c01 += x0 * y1
        c02 += x0 * y2
        c03 += x0 * y3
        c10 += x1 * y0
        c11 += x1 * y1
        c12 += x1 * y2
        c13 += x1 * y3
        c20 += x2 * y0
        c21 += x2 * y1
        c22 += x2 * y2
        c23 += x2 * y3
        c30 += x3 * y0
        c31 += x3 * y1
        c32 += x3 * y2
        c33 += x3 * y3
    out[i, j], out[i, j + 1], out[i, j + 2], out[i, j + 3] = c00, c01, c02, c03
    out[i + 1, j], out[i + 1, j + 1], out[i + 1, j + 2], out[i + 1, j + 3] = c10, c11, c12, c13
    out[i + 2, j], out[i + 2, j + 1], out[i + 2, j + 2], out[i + 2, j + 3] = c20, c21, c22, c23
    out[i + 3, j], out[i + 3, j + 1], out[i + 3, j + 2], out[i + 3, j + 3] = c30, c31, c32, c33


@helper
def _abt_block(out, a, b, i0, i1, j0, j1):
    """out[i, j] = Σ_k a[i, k] b[j, k] for i0 ≤ i < i1 and j0 ≤ j < j1.

    out (M, N); a (M, K); b (N, K). Whole 4 × 4 blocks go through the micro-kernel;
    the rows and columns past the last whole block are single dot products.
    """
    K = a.shape[1]
    i_tiled = i1 - (i1 - i0) % TILE
    j_tiled = j1 - (j1 - j0) % TILE
    for i in range(i0, i_tiled, TILE):
        for j in range(j0, j_tiled, TILE):
            _tile4x4(out, a, b, i, j, K)
    for i in range(i0, i1):
        for j in range(j_tiled if i < i_tiled else j0, j1):
            out[i, j] = _dot(a[i], b[j], K)


@helper
def _ab_rows(out, a, b, i0, i1, k0, add):
    """out[i, j] = Σ_k a[i, k0 + k] b[k, j] for rows i0 ≤ i < i1 (at most 4) and every j;
    with ``add`` = 1, out[i, j] += that sum (a product taken in panels of b's rows).

    out (M, N); a (M, ≥ k0 + K), any strides, passed as layout 'A' (``a[:, ::1]``) so
    that δ and the views xᵀ, δᵀ share one compiled signature; b (K, N) (k0: the column
    of a that goes with b's first row). The j loop is the vector loop: a 4 × 4 block of a (4
    rows of out × 4 terms k) sits in scalar registers, and each step loads 4 vectors
    of b and updates 4 vectors of out with 16 multiply-adds. A block of a that is all
    zero is skipped, which is what makes sparse inputs cheap (81 % of MNIST pixels
    are 0). A short last block of
    rows goes 2 rows × 4 terms a step, then a third row alone (skipped when all are
    zero); leftover terms (K mod 4) are plain loops. (Whole rows are sliced so that j
    counts from 0: LLVM only vectorises an index it can prove non-negative.)
    """
    K, N = b.shape
    if add == 0:
        for i in range(i0, i1):
            out[i, :] = 0
    k_tiled = 0
    if i1 - i0 == TILE:
        k_tiled = K - K % TILE
        o0, o1, o2, o3 = out[i0], out[i0 + 1], out[i0 + 2], out[i0 + 3]
        for k in range(0, k_tiled, TILE):
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            c = k0 + k  # the column of a
            a00, a01, a02, a03 = a[i0, c], a[i0, c + 1], a[i0, c + 2], a[i0, c + 3]
            a10, a11, a12, a13 = a[i0 + 1, c], a[i0 + 1, c + 1], a[i0 + 1, c + 2], a[i0 + 1, c + 3]
            a20, a21, a22, a23 = a[i0 + 2, c], a[i0 + 2, c + 1], a[i0 + 2, c + 2], a[i0 + 2, c + 3]
            a30, a31, a32, a33 = a[i0 + 3, c], a[i0 + 3, c + 1], a[i0 + 3, c + 2], a[i0 + 3, c + 3]
            if (abs(a00) + abs(a01) + abs(a02) + abs(a03) + abs(a10) + abs(a11) + abs(a12)
                    + abs(a13) + abs(a20) + abs(a21) + abs(a22) + abs(a23) + abs(a30)
                    + abs(a31) + abs(a32) + abs(a33)) == 0:
                continue  # an all-zero block of a adds nothing (blank pixels, ReLU zeros)
            for j in range(N):
                y0, y1, y2, y3 = b0[j], b1[j], b2[j], b3[j]
                o0[j] += a00 * y0 + a01 * y1 + a02 * y2 + a03 * y3
                o1[j] += a10 * y0 + a11 * y1 + a12 * y2 + a13 * y3
                o2[j] += a20 * y0 + a21 * y1 + a22 * y2 + a23 * y3
                o3[j] += a30 * y0 + a31 * y1 + a32 * y2 + a33 * y3
    k_grouped = K - (K - k_tiled) % TILE  # the rest in steps of 4 terms
    paired = 2 if k_tiled == 0 and i1 - i0 >= 2 else 0  # a short block: 2 rows at once
    if paired:
        p0, p1 = out[i0], out[i0 + 1]
        for k in range(0, k_grouped, TILE):
            c = k0 + k
            a00, a01, a02, a03 = a[i0, c], a[i0, c + 1], a[i0, c + 2], a[i0, c + 3]
            a10, a11, a12, a13 = a[i0 + 1, c], a[i0 + 1, c + 1], a[i0 + 1, c + 2], a[i0 + 1, c + 3]
            if (abs(a00) + abs(a01) + abs(a02) + abs(a03) + abs(a10) + abs(a11) + abs(a12)
                    + abs(a13)) == 0:
                continue
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for j in range(N):
                y0, y1, y2, y3 = b0[j], b1[j], b2[j], b3[j]
                p0[j] += a00 * y0 + a01 * y1 + a02 * y2 + a03 * y3
                p1[j] += a10 * y0 + a11 * y1 + a12 * y2 + a13 * y3
    for i in range(i0, i1):
        oi = out[i]
        for k in range(k_tiled, k_grouped if i >= i0 + paired else k_tiled, TILE):
            c = k0 + k  # a row left alone: 4 terms a step
            c0, c1, c2, c3 = a[i, c], a[i, c + 1], a[i, c + 2], a[i, c + 3]
            if abs(c0) + abs(c1) + abs(c2) + abs(c3) == 0:
                continue
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for j in range(N):
                oi[j] += c0 * b0[j] + c1 * b1[j] + c2 * b2[j] + c3 * b3[j]
        for k in range(k_grouped, K):
            d = a[i, k0 + k]
            bk = b[k]
            for j in range(N):
                oi[j] += d * bk[j]


@inline
def _block(blk, n, size=TILE):
    """Rows [i0, i1) of block number blk when n rows are cut into blocks of ``size``."""
    i0 = blk * size
    return i0, min(i0 + size, n)


@inline
def _panel_rows(b):
    """Rows of b (K, N) in a panel of about PANEL_BYTES: a multiple of 4, at least 4."""
    return max(PANEL_BYTES // (b.itemsize * max(b.shape[1], 1)) // TILE * TILE, TILE)


@inline
def _runs(n_blocks, m, tasks):
    """(per_task, n_tasks, rows): n_blocks blocks of 4 samples in runs of per_task, a run
    per task, multiplied by m (K, N) in panels of ``rows`` of its rows. An m larger than 2
    PANEL_BYTES (not L2-resident) and more than ``tasks`` blocks: ``tasks`` runs and panels
    of PANEL_BYTES, each used for all of a run's blocks while in L2; else a task per block
    and one panel of all of m."""
    per_task = (n_blocks + tasks - 1) // tasks
    if per_task == 1 or m.shape[0] * m.shape[1] * m.itemsize <= 2 * PANEL_BYTES:
        return 1, n_blocks, max(m.shape[0], 1)
    return per_task, (n_blocks + per_task - 1) // per_task, _panel_rows(m)


@helper
def _ab_panels(out, a, b, first, last, k0, k1, rows):
    """out[i] = Σ_{k0 ≤ k < k1} a[i, k] b[k] for the rows of blocks first..last of 4 rows
    (``_ab_rows``), with b's rows k0..k1 in panels of ``rows``, each used for all the
    blocks before the next (no rows of b: the blocks' rows of out are zeroed).

    out (M, N); a (M, ≥ k1); b (≥ k1, N)."""
    M = out.shape[0]
    for p0 in range(k0, max(k1, k0 + 1), rows):
        for blk in range(first, last):
            i0, i1 = _block(blk, M)
            _ab_rows(out, a[:, ::1], b[p0:min(p0 + rows, k1)], i0, i1, p0, min(p0 - k0, 1))


@inline
def _task_rows(task, bias_task, n_blocks, n, size):
    """Rows [i0, i1) of dW that weight-gradient task ``task`` owns, blocks of ``size``
    (none for the bias task). The short last block (n mod size rows) goes first: with
    few blocks it then shares a thread with a whole one (10 rows over 2 threads: 2 + 4
    and 4 rows, not 4 + 4 and 2)."""
    if task == bias_task:
        return 0, 0
    shift = 1 if n % size else 0
    return _block((task + n_blocks - shift) % n_blocks, n, size)


@inline
def _split_runs(n_blocks, wt):
    """(per_task, n_runs, rows) of a training batch's forward whose slices of Wᵀ (one per
    part) are larger than L2 (4 PANEL_BYTES): runs of RUN_BLOCKS blocks, each taking its
    slice in panels of PANEL_BYTES, once for all its blocks (with a run per block, every
    4 samples streamed the slice from L3 again: 784-2048, batch 32, the forward took
    1.15-1.35x as long). The runs change no sum: the same bits either way."""
    per_task = min(RUN_BLOCKS, n_blocks)
    return per_task, (n_blocks + per_task - 1) // per_task, _panel_rows(wt)


@inline
def _part(part, parts, n):
    """Rows [k0, k1) of slice number ``part`` when n rows are cut into ``parts`` slices
    whose sizes are multiples of TILE."""
    size = ((n + parts - 1) // parts + TILE - 1) // TILE * TILE
    k0 = min(part * size, n)
    return k0, min(k0 + size, n)


@parallel_kernel
def dense_forward(u, z, x, w, bias, slope, act):
    """u = x Wᵀ + bias, z = f(u), fused:  u[b, o] = Σ_c x[b, c] W[o, c] + bias[o].

    u, z (B, OC) outputs; x (B, C); w (OC, C); bias (OC,); slope (S, OC) negative slopes
    of the ReLU family (S = 1 or B); act int code. (The first layer, which stores Wᵀ, has
    ``dense_forward_in_major``: a run compiles each only for the layers that use it.)

    A training batch (B ≤ UNITS_BATCH) is parallel over blocks of UNITS output units: a
    thread reads only its own rows of W, the rows it updated in the last
    ``dense_backward_params`` (both loops hand the rows out alike), so they are still in
    its cache; within a block, each 4-sample tile of x is used for all UNITS / 4 tiles of
    W while it is in L1. A larger batch (inference), and a softmax layer, which needs
    whole rows of u, are parallel over blocks of 4 samples: W streams through the cache
    once per block.
    """
    B, OC = u.shape
    by_units = act != SOFTMAX and B <= UNITS_BATCH
    n_tasks = (OC + UNITS - 1) // UNITS if by_units else (B + TILE - 1) // TILE
    for t in prange(n_tasks):
        _forward_task(u, z, x, w, bias, slope, act, np.int64(t), by_units)


@helper
def _forward_task(u, z, x, w, bias, slope, act, task, by_units):
    """Task ``task`` of ``dense_forward``: its block of u and z."""
    B, OC = u.shape
    if by_units:  # all samples × units o0..o1
        b0, b1 = 0, B
        o0 = task * UNITS
        o1 = min(o0 + UNITS, OC)
    else:  # samples b0..b1 × all units (max: LLVM then knows the index is >= 0)
        b0, b1 = _block(max(task, 0), B)
        o0, o1 = 0, OC
    _abt_block(u, x, w, b0, b1, o0, o1)
    add_bias_activate(u, z, bias, slope, act, b0, b1, o0, o1)


def forward_packed(B, C, OC, itemsize):
    """True when the forward of a layer C -> OC (W (OC, C), not softmax) on a batch of B
    should run as ``dense_forward_packed``: a W of at least PACKED_FORWARD_CELLS cells
    and at least PACKED_FORWARD_BATCH samples; or a W of at least PACKED_SMALL_CELLS and
    PACKED_SMALL_BATCH samples, unless it has many inputs (over 256) and few units (under
    256), where packing the batch costs more than the product. (Measured, kernels alone
    taking turns: 0.30-0.56 × the time of the dot form at 1024² to 4096² and batches
    128-512, 0.6-0.9 × at batch 32-64 or 512²; at batch 128-512 0.55-0.91 × from 128² to
    784 × 256, 0.20-0.62 × for 16-256 inputs and 256-512 units; 784 inputs to 64-128 units
    0.92-1.33 ×, and batches of 32-64 at 784 × 256 1.19-1.41 ×.) (Plain Python: the caller
    picks the kernel.)"""
    if OC * C >= PACKED_FORWARD_CELLS:
        return B >= PACKED_FORWARD_BATCH
    return (B >= PACKED_SMALL_BATCH and OC * C >= PACKED_SMALL_CELLS
            and (C <= 256 or OC >= 256))


@parallel_kernel
def dense_forward_packed(u, z, x, w, bias, slope, act, scratch):
    """``dense_forward`` (its arguments and equation; not softmax, which needs whole
    rows) for a wide layer on a large batch (``forward_packed``), as the register-blocked
    product of ``gemm``: u = x Wᵀ + bias, z = f(u). scratch (n,) holds the packed operands
    and sums: ``packed_scratch(B, C, OC, itemsize, False)`` numbers or more (the
    workspace's ``scratch``).

    A first parallel loop packs x by blocks of DELTA_KC inputs and ROWS samples
    (``_pack_block``) and lists the inputs that are nonzero in some sample
    (``_live_terms``); then each task owns a run of strips of NR units and walks the
    inputs in blocks of DELTA_KC: it packs the block of each of its strips of Wᵀ
    (``pack_transposed`` of W's rows) and adds the block's listed terms to every tile of
    samples of that strip (``_packed_strips``), in a buffer padded to whole tiles. A third loop
    copies blocks of ROWS samples into u and adds bias and activation (``_forward_rows``):
    whole rows, which the CPU streams (the columns of a strip, a few cache lines of each of
    hundreds of rows, took as long as a sixth of the product). Each cell sums its inputs
    in order, one multiply-add at a time, whatever the thread count.
    """
    B, OC = u.shape
    NR = tile_columns(w)
    n_blocks, n_kb, per_task, n_tasks = _packed_layout(B, x.shape[1], OC, NR)
    packed, sums, strips = _scratch_parts(scratch, B, x.shape[1], OC, False)
    terms, counts = np.empty(x.shape[1], np.int64), np.empty(n_kb, np.int64)
    for t in prange(n_kb * n_blocks + n_kb):   # packed: [k block][sample block][k][row]
        _pack_or_list(packed, terms, counts, x, np.int64(t), n_blocks)
    ranges = task_ranges(n_tasks)
    for worker in prange(len(ranges) // STRIDE):  # runs, then help (tasks.py)
        _strip_runs(sums, packed, w, True, n_blocks, ranges, np.int64(worker), per_task,
                    strips, terms, counts)
    for t in prange(n_blocks):
        i0, i1 = _block(np.int64(t), B, ROWS)  # signed (see ZERO)
        _forward_rows(u, z, sums, bias, slope, act, i0, i1)


@register_jitable
def packed_scratch(M, K, N, itemsize, gradient):
    """The numbers of scratch a packed product of M rows, K terms and N columns takes:
    (a, b, workers) for a in blocks of ROWS rows; the sums, padded to whole tiles (forward,
    hidden δ), or b in strips of NR columns (``gradient``); and WORKERS buffers, one for
    each worker of its parallel loop (a packed strip of b, or a short tile). (Plain
    Python too: the workspace sizes its scratch with their sum.)"""
    NR = 2 * (BYTES // itemsize)   # tile_columns
    rows, columns = (M + ROWS - 1) // ROWS * ROWS, (N + NR - 1) // NR * NR
    if gradient:
        return rows * K, K * columns, WORKERS * ROWS * NR
    return rows * K, rows * columns, WORKERS * DELTA_KC * NR


@inline
def _scratch_parts(scratch, M, K, N, gradient):
    """The parts of ``packed_scratch`` as views of scratch; a scratch too short raises."""
    a, b, c = packed_scratch(M, K, N, scratch.itemsize, gradient)
    if scratch.shape[0] < a + b + c:
        raise ValueError("scratch is shorter than packed_scratch asks")
    return scratch[:a], scratch[a:a + b], scratch[a + b:a + b + c]


@inline
def _packed_layout(M, K, N, NR):
    """(n_blocks, n_kb, per_task, n_tasks) of a packed product of M rows, K terms and N
    columns: blocks of ROWS rows, blocks of DELTA_KC terms, and strips of NR columns in
    runs of per_task, one run a task (RUN_TASKS at most)."""
    n_strips = (N + NR - 1) // NR
    per_task = (n_strips + RUN_TASKS - 1) // RUN_TASKS
    return ((M + ROWS - 1) // ROWS, (K + DELTA_KC - 1) // DELTA_KC, per_task,
            (n_strips + per_task - 1) // per_task)


@helper
def _pack_block(packed, a, task, n_blocks):
    """Block ``task`` (block of DELTA_KC terms kb, block of ROWS rows blk; kb-major) of the
    packed a (M, K) of a packed product (``pack_transposed``): block kb of all rows first,
    so that one block of terms of every row lies in one run (in L2)."""
    M, K = a.shape
    kb, blk = task // n_blocks, task % n_blocks
    k0, k1 = _block(kb, K, DELTA_KC)
    i0, i1 = _block(blk, M, ROWS)
    pack_transposed(packed, k0 * n_blocks * ROWS + blk * (k1 - k0) * ROWS, ROWS, ROWS,
                    a, i0, i1, k0, k1)


@helper
def _pack_or_list(packed, terms, counts, a, task, n_blocks):
    """Task ``task`` of a packed product's first loop, n_blocks + 1 tasks for each block kb
    of DELTA_KC terms: its n_blocks blocks of the packed a (``_pack_block``), then its
    live terms (``_live_terms``), so that each thread's share of the loop holds its
    share of both."""
    kb, r = task // (n_blocks + 1), task % (n_blocks + 1)
    if r < n_blocks:
        _pack_block(packed, a, kb * n_blocks + r, n_blocks)
    else:
        _live_terms(terms, counts, a, kb)


@helper
def _live_terms(terms, counts, a, kb):
    """The live terms of block kb of DELTA_KC terms of a (M, K), those k0 ≤ k < k1 at which
    some row of a is nonzero, in order: terms[k0 + t] = k - k0 for t < counts[kb]. The
    products skip the others, whose terms are all 0 · b (inputs that are 0 in every sample
    of the batch: 115 of MNIST's 784 pixels standardised over 8192 images; units whose δ
    is 0 in every sample)."""
    M, K = a.shape
    k0, k1 = _block(kb, K, DELTA_KC)
    size = np.zeros(k1 - k0, a.dtype)   # Σ_i |a[i, k]|: 0 only for all zeros (NaN is not)
    for i in range(M):
        row = a[i, k0:k1]
        for k in range(k1 - k0):
            size[k] += abs(row[k])
    n = 0
    for k in range(k1 - k0):
        terms[k0 + n] = k
        n += size[k] != 0
    counts[kb] = n


@helper
def _strip_runs(sums, packed, w, transposed, n_blocks, ranges, worker, per_task, strips,
                terms, counts):
    """The tasks of ``worker`` (``tasks.next_task``) in a packed product over strips of NR
    columns: each a run of per_task strips (``_packed_strips``), packed into the worker's
    part of ``strips``."""
    N = w.shape[0] if transposed else w.shape[1]
    NR = tile_columns(w)
    n_strips = (N + NR - 1) // NR
    strip = strips[worker * DELTA_KC * NR:(worker + 1) * DELTA_KC * NR]
    task = next_task(ranges, worker)
    while task >= 0:
        _packed_strips(sums, packed, w, transposed, n_blocks, task * per_task,
                       min((task + 1) * per_task, n_strips), strip, terms, counts)
        task = next_task(ranges, worker)


@helper
def _packed_strips(sums, packed, w, transposed, n_blocks, first, last, strip, terms, counts):
    """Strips first..last of NR columns of the padded sums = a b of a packed product (a
    packed by ``_pack_block``): by blocks of DELTA_KC terms, each block's strip of b packed
    into ``strip`` (DELTA_KC × NR, in L1) and used for every block of ROWS rows of a,
    whose packed block of terms stays in L2 from strip to strip, over the block's live
    terms (``_live_terms``: terms, counts). b = w (K, N) (the hidden δ: a = δ, w = W), or
    with ``transposed`` b = wᵀ of w (N, K) (the forward: a = x, w = W)."""
    K, N = (w.shape[1], w.shape[0]) if transposed else (w.shape[0], w.shape[1])
    NR = tile_columns(w)
    width = ((N + NR - 1) // NR) * NR
    for kb in range((K + DELTA_KC - 1) // DELTA_KC):
        k0, k1 = _block(kb, K, DELTA_KC)
        for s in range(first, last):
            j0, j1 = _block(s, N, NR)
            if transposed:
                pack_transposed(strip, ZERO, NR, NR, w, j0, j1, k0, k1)
            else:
                pack_columns(strip, ZERO, NR, w, k0, k1, j0, j1)
            for blk in range(n_blocks):
                o, a0 = blk * ROWS * width + j0, (k0 * n_blocks + blk * (k1 - k0)) * ROWS
                if counts[kb] == k1 - k0:   # every term live: the plain walk, no list
                    tile(sums, o, width, packed, a0, strip, ZERO, NR, None, ZERO, k1 - k0,
                         kb > 0)
                else:
                    tile(sums, o, width, packed, a0, strip, ZERO, NR, terms, k0, counts[kb],
                         kb > 0)


@helper
def _forward_rows(u, z, sums, bias, slope, act, i0, i1):
    """Samples i0..i1 of ``dense_forward_packed``: u from the padded sums, then u += bias
    and z = f(u)."""
    OC = u.shape[1]
    _copy_rows(u, sums, i0, i1)
    add_bias_activate(u, z, bias, slope, act, i0, i1, ZERO, OC)


@helper
def _copy_rows(out, sums, i0, i1):
    """out[i, :] = the padded sums of row i (rows ``width`` apart, whole tiles), for
    i0 ≤ i < i1: whole vectors as vectors."""
    B, N = out.shape
    width = sums.shape[0] // (((B + ROWS - 1) // ROWS) * ROWS)
    flat = flat_rows(out, 0, B)
    L = BYTES // sums.itemsize
    whole = N // L * L
    for i in range(i0, i1):
        for j in range(0, whole, L):
            vstore(flat, i * N + j, vload(sums, i * width + j))
        for j in range(whole, N):
            flat[i * N + j] = load(sums, i * width + j)


@parallel_kernel
def dense_forward_in_major(u, z, partial, x, wt, bias, slope, act):
    """``dense_forward`` for the first layer, which stores Wᵀ (C, OC) ("in-major"):
    u[b, o] = Σ_c x[b, c] Wᵀ[c, o] + bias[o], z = f(u).

    u, z (B, OC) outputs; partial workspace of shape ``partial_shape(B, OC)``
    (ValueError otherwise); x (B, C); wt (C, OC); bias, slope, act as in ``dense_forward``.

    Parallel over blocks of 4 samples (``_listed_product``): a task lists the inputs c
    at which any of its samples is nonzero (on MNIST 39 % of the pixels, where the 4 × 4
    blocks of the row form left 49 %) and sums only those rows of Wᵀ, each loaded once for
    the 4 samples. A training batch (B ≤ CHUNK) is cut by rows of Wᵀ too, into PARTS
    slices of the pixels: task (part, block) writes partial[part] = x[:, part] Wᵀ[part].
    As the weight-gradient loop hands out rows of Wᵀ in order, a thread's slice is then
    mostly the rows it has just updated, still in its cache (reading all of Wᵀ in every
    thread made the gradient's update of the other half 1.3x slower: the rows were shared
    between the cores). A larger batch goes by panels of UNIT_PANEL units: a task takes
    Wᵀ's columns of one panel (C × 256, 800 KB at C = 784: in L2) for a run of blocks, so
    Wᵀ comes from memory about once a call and each cell of u is written once (panels of
    rows of Wᵀ instead, each summed into all of a run's rows of u, streamed those rows
    through L3: 784-4096 at batch 512, 1.25-1.3 × as long). A second
    loop sums the parts in order and adds bias and
    activation (also without parts: one call site of ``add_bias_activate`` is one copy of
    it to compile). Each cell sums its listed inputs in order, one multiply-add at a time,
    whatever the thread count.
    """
    B, OC = u.shape
    C = x.shape[1]
    if partial.shape != _partial_shape(B, OC):
        raise ValueError("dense_forward_in_major: partial must have shape "
                         "partial_shape(B, OC): (PARTS, B, OC) for B <= CHUNK, else (0, 0, 0)")
    split = partial.shape[0] > 1  # a training batch: PARTS slices
    parts = partial.shape[0] if split else 1
    n_blocks = (B + TILE - 1) // TILE
    if split:
        per_task, n_runs, rows = 1, n_blocks, max(C, 1)   # a task per block
        if wt.shape[0] * wt.shape[1] * wt.itemsize > parts * 4 * PANEL_BYTES:
            per_task, n_runs, rows = _split_runs(n_blocks, wt)
        for task in prange(n_runs * parts):
            part = task // n_runs  # task = (part, run of blocks of samples), part-major
            run = max(task - part * n_runs, 0)  # max: LLVM then knows the index is >= 0
            first, last = run * per_task, min((run + 1) * per_task, n_blocks)
            k0, k1 = _part(part, parts, C)  # pixels k0..k1
            _listed_panels(partial[part], x, wt, first, last, k0, k1, rows)
    else:  # task = (panel of UNIT_PANEL units, run of blocks), panel-major
        n_panels = (OC + UNIT_PANEL - 1) // UNIT_PANEL
        n_runs = min(max((2 * threads() + n_panels - 1) // n_panels, 1), n_blocks)
        per_task = (n_blocks + n_runs - 1) // n_runs
        for task in prange(n_panels * n_runs):
            panel = task // n_runs
            run = max(task - panel * n_runs, 0)
            j0 = panel * UNIT_PANEL
            for blk in range(run * per_task, min((run + 1) * per_task, n_blocks)):
                _listed_product(u, x, wt, np.int64(blk), ZERO, C, False, j0,
                                min(j0 + UNIT_PANEL, OC))
    for blk in prange(n_blocks):  # the parts summed in order, then bias and f
        _sum_activate(u, z, partial, bias, slope, act, np.int64(blk), split)


@helper
def _listed_panels(out, x, wt, first, last, k0, k1, rows):
    """out[b] = Σ_{k0 ≤ c < k1} x[b, c] Wᵀ[c] for the samples of blocks first..last
    (``_listed_product``), Wᵀ's rows k0..k1 in panels of ``rows``, each used for all the
    blocks before the next; the sums go on from panel to panel, so the panels change no
    bit."""
    for p0 in range(k0, max(k1, k0 + 1), rows):
        for blk in range(first, last):
            _listed_product(out, x, wt, blk, p0, min(p0 + rows, k1), p0 > k0, ZERO,
                            out.shape[1])


@helper
def _listed_product(out, x, wt, blk, k0, k1, add, j0, j1):
    """Block ``blk`` of 4 samples of ``dense_forward_in_major``'s product over inputs
    k0..k1: out[b] = Σ_{k0 ≤ c < k1} x[b, c] Wᵀ[c] for the listed c, those nonzero in any
    of the 4 samples (with ``add``, out[b] += that sum, continuing it in order); whole
    groups of 4 vectors of units by ``_listed_tile``, single vectors by
    ``_listed_vector``, the last units a row at a time. A short last block repeats its last
    sample in the missing rows, computed and not stored."""
    b0, b1 = _block(blk, out.shape[0])
    x0, x1, x2, x3 = x[b0], x[min(b0 + 1, b1 - 1)], x[min(b0 + 2, b1 - 1)], x[min(b0 + 3, b1 - 1)]
    _listed_rows(out, b0, b1, x0, x1, x2, x3, wt, k0, k1, add, j0, j1)


@helper
def _listed_rows(out, b0, b1, x0, x1, x2, x3, wt, k0, k1, add, j0, j1):
    """Rows b0..b1 (at most 4) of ``_listed_product``: out[b0 + i] = Σ_c x_i[c] Wᵀ[c] over
    the listed c (k0 ≤ c < k1, nonzero in any x_i; with ``add``, out += that sum); x_i the
    rows' inputs (1-D, C-contiguous), the missing rows of a short block repeating its last."""
    B, OC = out.shape
    C = x0.shape[0]
    nonzero = np.empty(C, np.bool_)
    y0, y1, y2, y3, nz = x0[k0:k1], x1[k0:k1], x2[k0:k1], x3[k0:k1], nonzero[k0:k1]
    for c in range(k1 - k0):  # a vector loop (sliced: an index from 0, which LLVM knows
        nz[c] = (abs(y0[c]) + abs(y1[c]) + abs(y2[c]) + abs(y3[c])) != 0   # is >= 0)
    listed = np.empty(C, np.int64)
    n = ZERO  # typed int64: a literal 0 would type the calls below a second time
    for c in range(k0, k1):
        listed[n] = c
        n += nonzero[c]
    w = flat_rows(wt, 0, C)
    flat = flat_rows(out, 0, B)
    L = BYTES // wt.itemsize
    grouped = j0 + (j1 - j0) // (4 * L) * (4 * L)
    whole = j0 + (j1 - j0) // L * L
    for j in range(j0, grouped, 4 * L):
        _listed_tile(flat, b0 * OC + j, OC, b1 - b0, w, j, x0, x1, x2, x3, listed, n, add)
    for j in range(grouped, whole, L):
        _listed_vector(flat, b0 * OC + j, OC, b1 - b0, w, j, x0, x1, x2, x3, listed, n, add)
    for i, xi in enumerate((x0, x1, x2, x3)):  # the last units: a row at a time, the sums
        if i < b1 - b0:                          # kept in out (a scalar sum would be
            oi = out[b0 + i]                     # re-associated: other bits)
            if not add:
                for j in range(whole, j1):
                    oi[j] = 0
            for t in range(n):
                c = listed[t]
                a, wc = xi[c], wt[c]
                for j in range(whole, j1):
                    oi[j] += a * wc[j]


@helper
def _listed_tile(out, o, ldo, rows, w, j, x0, x1, x2, x3, listed, n, add):
    """out[o + i ldo + l] = Σ_{t < n} x_i[c_t] w[c_t ldw + j + l] for the first ``rows`` of
    the 4 samples x_i and 4 vectors of units (l < 4 LANES), c_t = listed[t], ldw = ldo
    (with ``add``, the sums start from out's values): 16 sums in vector registers, each
    row of w loaded once for the 4 samples."""
    L = BYTES // w.itemsize
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = vzero(w)
    c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = vzero(w)
    if add:  # a short block's missing rows start from its last row's values (not stored)
        o1, o2, o3 = o + min(1, rows - 1) * ldo, o + min(2, rows - 1) * ldo, o + min(3, rows - 1) * ldo
        c00, c01, c02, c03 = vload(out, o), vload(out, o + L), vload(out, o + 2 * L), vload(out, o + 3 * L)
        c10, c11, c12, c13 = vload(out, o1), vload(out, o1 + L), vload(out, o1 + 2 * L), vload(out, o1 + 3 * L)
        c20, c21, c22, c23 = vload(out, o2), vload(out, o2 + L), vload(out, o2 + 2 * L), vload(out, o2 + 3 * L)
        c30, c31, c32, c33 = vload(out, o3), vload(out, o3 + L), vload(out, o3 + 2 * L), vload(out, o3 + 3 * L)
    for t in range(n):
        c = listed[t]
        q = c * ldo + j
        y0, y1, y2, y3 = vload(w, q), vload(w, q + L), vload(w, q + 2 * L), vload(w, q + 3 * L)
        a = load(x0, c)
        c00, c01, c02, c03 = vfma(a, y0, c00), vfma(a, y1, c01), vfma(a, y2, c02), vfma(a, y3, c03)
        a = load(x1, c)
        c10, c11, c12, c13 = vfma(a, y0, c10), vfma(a, y1, c11), vfma(a, y2, c12), vfma(a, y3, c13)
        a = load(x2, c)
        c20, c21, c22, c23 = vfma(a, y0, c20), vfma(a, y1, c21), vfma(a, y2, c22), vfma(a, y3, c23)
        a = load(x3, c)
        c30, c31, c32, c33 = vfma(a, y0, c30), vfma(a, y1, c31), vfma(a, y2, c32), vfma(a, y3, c33)
    vstore(out, o, c00)
    vstore(out, o + L, c01)
    vstore(out, o + 2 * L, c02)
    vstore(out, o + 3 * L, c03)
    if rows > 1:
        vstore(out, o + ldo, c10)
        vstore(out, o + ldo + L, c11)
        vstore(out, o + ldo + 2 * L, c12)
        vstore(out, o + ldo + 3 * L, c13)
    if rows > 2:
        vstore(out, o + 2 * ldo, c20)
        vstore(out, o + 2 * ldo + L, c21)
        vstore(out, o + 2 * ldo + 2 * L, c22)
        vstore(out, o + 2 * ldo + 3 * L, c23)
    if rows > 3:
        vstore(out, o + 3 * ldo, c30)
        vstore(out, o + 3 * ldo + L, c31)
        vstore(out, o + 3 * ldo + 2 * L, c32)
        vstore(out, o + 3 * ldo + 3 * L, c33)


@helper
def _listed_vector(out, o, ldo, rows, w, j, x0, x1, x2, x3, listed, n, add):
    """``_listed_tile`` for one vector of units (l < LANES)."""
    c0 = c1 = c2 = c3 = vzero(w)
    if add:
        c0, c1 = vload(out, o), vload(out, o + min(1, rows - 1) * ldo)
        c2, c3 = vload(out, o + min(2, rows - 1) * ldo), vload(out, o + min(3, rows - 1) * ldo)
    for t in range(n):
        c = listed[t]
        y = vload(w, c * ldo + j)
        c0, c1 = vfma(load(x0, c), y, c0), vfma(load(x1, c), y, c1)
        c2, c3 = vfma(load(x2, c), y, c2), vfma(load(x3, c), y, c3)
    vstore(out, o, c0)
    if rows > 1:
        vstore(out, o + ldo, c1)
    if rows > 2:
        vstore(out, o + 2 * ldo, c2)
    if rows > 3:
        vstore(out, o + 3 * ldo, c3)


@helper
def _sum_activate(u, z, partial, bias, slope, act, blk, split):
    """Block ``blk`` of samples of ``dense_forward_in_major``'s second loop: u = the sum
    of its parts (when ``split``), then u += bias and z = f(u)."""
    B, OC = u.shape
    b0, b1 = _block(blk, B)
    for i in range(b0, b1 if split else b0):
        ui, p0 = u[i], partial[0, i]
        for j in range(OC):   # a loop, not ui[:] = p0: that would compile a shape check
            ui[j] = p0[j]
        for part in range(1, partial.shape[0]):
            pi = partial[part, i]
            for j in range(OC):
                ui[j] += pi[j]
    add_bias_activate(u, z, bias, slope, act, b0, b1, ZERO, OC)


@inline
def _bias_units(task, bias_task, w_in_major, i0, i1, n_bias):
    """The biases [o0, o1) a weight-gradient task owns: units i0..i1 of dW, or, in
    the dWᵀ layout, all of them for the extra bias task and none for the others;
    none at all for a layer without bias (n_bias = 0)."""
    if n_bias == 0 or (w_in_major and task != bias_task):
        return 0, 0
    if task == bias_task:
        return 0, n_bias
    return i0, i1


@inline
def _gradient_tasks(dw, dbias, w_in_major, size):
    """(n_blocks, bias_task, n_tasks) of the weight gradient: a task per block of
    ``size`` rows of dw, plus, in the dWᵀ layout of a layer with bias, one task (number
    n_blocks) for the bias gradient (bias_task = -1 when there is none)."""
    n_blocks = (dw.shape[0] + size - 1) // size
    bias_task = n_blocks if dbias.shape[0] > 0 and w_in_major else -1
    return n_blocks, bias_task, n_blocks + (bias_task >= 0)


@inline
def _bias_sum(dbias, delta, o0, o1):
    """dbias[o] = Σ_b δ[b, o] for o0 ≤ o < o1."""
    db = dbias[o0:o1]  # sliced so that o counts from 0: the loop vectorises
    db[:] = 0
    for s in range(delta.shape[0]):
        ds = delta[s, o0:o1]
        for o in range(o1 - o0):
            db[o] += ds[o]


@helper
def _gradient_task(dw, dbias, delta, x, task, bias_task, n_blocks, w_in_major):
    """Task ``task`` of dW = δᵀ x (or dWᵀ = xᵀ δ): its rows of dw (``_ab_rows``, a = δᵀ,
    b = x or a = xᵀ, b = δ; the transposes are strided views) and its biases Σ_b δ."""
    a = (x.T if w_in_major else delta.T)[:, ::1]
    b = delta if w_in_major else x
    i0, i1 = _task_rows(task, bias_task, n_blocks, dw.shape[0], TILE)
    _ab_rows(dw, a, b, i0, i1, ZERO, ZERO)
    o0, o1 = _bias_units(task, bias_task, w_in_major, i0, i1, dbias.shape[0])
    _bias_sum(dbias, delta, o0, o1)


@parallel_kernel
def dense_gradient(dw, dbias, delta, x, w_in_major):
    """dW = δᵀ x and dbias = Σ_b δ (overwriting dw, dbias), with no optimizer step:
    dW[o, c] = Σ_b δ[b, o] x[b, c], dbias[o] = Σ_b δ[b, o].

    dw (OC, C), or dWᵀ = xᵀ δ (C, OC) when ``w_in_major``; dbias (OC,) outputs (0-length
    for a layer without bias); delta (B, OC); x (B, C). Both layouts are the row form
    ``_ab_rows``, parallel over blocks of 4 rows of dw: each thread owns whole rows, so
    the reduction over the batch has no race and a fixed summation order. In the Wᵀ
    layout the zero blocks of xᵀ (blank pixels) are skipped and one more task sums the
    bias gradient. (``dense_backward_params`` without its update, in a kernel of fewer
    arguments, which is cheaper to call.)
    """
    n_blocks, bias_task, n_tasks = _gradient_tasks(dw, dbias, w_in_major, TILE)
    for t in prange(n_tasks):
        task = np.int64(t)  # signed, as in the typing before the loop went parallel
        _gradient_task(dw, dbias, delta, x, task, bias_task, n_blocks, w_in_major)


@parallel_kernel
def dense_backward_params(dw, dbias, w_slots, bias_slots, delta, x, h, w_in_major, kind):
    """``dense_gradient``, then the optimizer step, in one kernel:
    dW = δᵀ x, dbias = Σ_b δ, then (W, bias) ← update(W, bias; dW, dbias).

    dw (OC, C) or dWᵀ (C, OC), dbias (OC,) outputs; ``w_slots`` = (W, s1, s2), laid
    out like dw, and ``bias_slots`` = (bias, s1, s2) (OC,), the parameters and the
    optimizer's state, updated in place; delta (B, OC); x (B, C); h (7,) the
    hyper-parameters of rule ``kind`` (``optim.update_row``). Each task, right after
    its rows of dw and its biases, updates the same rows of W and biases. ``kind`` =
    NO_UPDATE stops after the gradient. A layer without bias passes a 0-length dbias
    and bias slots.
    Returns the number of parameters the update left NaN or ±inf.
    """
    n_blocks, bias_task, n_tasks = _gradient_tasks(dw, dbias, w_in_major, TILE)
    rows = dw.shape[0]
    bad = 0
    for t in prange(n_tasks):
        task = np.int64(t)  # signed, as in the typing before the loop went parallel
        _gradient_task(dw, dbias, delta, x, task, bias_task, n_blocks, w_in_major)
        if kind == NO_UPDATE:
            continue
        i0, i1 = _task_rows(task, bias_task, n_blocks, rows, TILE)  # the rows just computed
        o0, o1 = _bias_units(task, bias_task, w_in_major, i0, i1, dbias.shape[0])
        bad += _update_task(dw, dbias, w_slots, bias_slots, h, kind, i0, i1, o0, o1)
    return bad


@helper
def _update_task(dw, dbias, w_slots, bias_slots, h, kind, i0, i1, o0, o1):
    """Rule ``kind`` on rows i0..i1 of W and biases o0..o1: the rows as one flat run
    (``flat_rows``; a call per row cost about 150 ns each, which on MNIST's first layer
    more than doubled the step's time), one call site (a second compiled 0.2-0.3 s more)."""
    bad = 0
    for part in range(2):  # the block's W rows, then its biases
        if part == 0:
            p, g = flat_rows(w_slots[0], i0, i1), flat_rows(dw, i0, i1)
            s1, s2 = flat_rows(w_slots[1], i0, i1), flat_rows(w_slots[2], i0, i1)
        else:
            p, g = bias_slots[0][o0:o1], dbias[o0:o1]
            s1, s2 = bias_slots[1][o0:o1], bias_slots[2][o0:o1]
        bad += update_row(p, s1, s2, g, h, kind)
    return bad


def gradient_listed(C, OC, w_in_major):
    """True when the weight gradient of a layer C -> OC should run as
    ``dense_backward_params_listed``: the dWᵀ layout of sparse inputs and LISTED_UNITS
    units or more. (Epochs on MNIST's pixels taking turns with ``dense_backward_params``:
    784-1024-10 and 784-2048-10 at batches 32-512 0.89-1.01 ×; 784-256-10 and 784-512-10
    at batch 32 1.08-1.11 ×, at 128 0.99-1.02 ×.) (Plain Python: the caller picks the
    kernel.)"""
    return w_in_major and OC >= LISTED_UNITS


@parallel_kernel
def dense_backward_params_listed(dw, dbias, w_slots, bias_slots, delta, x, h, w_in_major,
                                 kind):
    """``dense_backward_params`` (same arguments) for the dWᵀ layout (``w_in_major``
    True) of a wide layer (``gradient_listed``): a task per LISTED_ROWS inputs
    (``_listed_gradient``: only the samples at which they are nonzero), then the update
    of those rows of Wᵀ; one more task sums and updates the biases. Each cell sums its
    nonzero terms in order, one multiply-add at a time, as the packed kernel does: the
    same bits as it.
    Returns the number of parameters the update left NaN or ±inf.
    """
    n_blocks, bias_task, n_tasks = _gradient_tasks(dw, dbias, True, LISTED_ROWS)
    bad = 0
    for t in prange(n_tasks):
        bad += _listed_task(dw, dbias, w_slots, bias_slots, delta, x, h, kind, np.int64(t),
                            bias_task, n_blocks)
    return bad


@helper
def _listed_task(dw, dbias, w_slots, bias_slots, delta, x, h, kind, task, bias_task,
                 n_blocks):
    """Task ``task`` of ``dense_backward_params_listed``: its rows of dWᵀ or the biases,
    then their update; returns how many parameters it left non-finite."""
    i0, i1 = _task_rows(task, bias_task, n_blocks, dw.shape[0], LISTED_ROWS)
    _listed_gradient(dw, delta, x, i0, i1)
    o0, o1 = _bias_units(task, bias_task, True, i0, i1, dbias.shape[0])
    _bias_sum(dbias, delta, o0, o1)
    if kind == NO_UPDATE:
        return 0
    return _update_task(dw, dbias, w_slots, bias_slots, h, kind, i0, i1, o0, o1)


@helper
def _listed_gradient(dwt, delta, x, i0, i1):
    """Rows i0..i1 (at most LISTED_ROWS inputs) of dWᵀ = xᵀ δ: dWᵀ[c] = Σ_b x[b, c] δ[b],
    4 inputs at a time over the samples b at which any of the 4 is nonzero
    (``_listed_rows``; on MNIST 28 % of (sample, 4 pixels), where the 4 × 4 blocks of
    ``_ab_rows`` left 49 %), each row of δ loaded once for the 4. The inputs' columns of x
    are copied into rows first, a line of each sample read once."""
    B = x.shape[0]
    n = i1 - i0
    cols = np.empty((LISTED_ROWS, B), x.dtype)
    for b in range(B):
        xb = x[b]
        for r in range(n):
            cols[r, b] = xb[i0 + r]
    add = i1 < i0  # False, typed bool like the forward's (a literal False would
    for g in range(0, n, TILE):  # compile _listed_rows for a second signature)
        last = min(g + TILE, n) - 1  # a short group repeats its last input
        _listed_rows(dwt, i0 + g, i0 + last + 1, cols[g], cols[min(g + 1, last)],
                     cols[min(g + 2, last)], cols[last], delta, ZERO, B, add, ZERO,
                     dwt.shape[1])


def gradient_packed(B, C, OC, w_in_major, itemsize):
    """True when the weight gradient of a layer C -> OC on a batch of B should run as
    ``dense_backward_params_packed``, the register-blocked product: in the W (OC, C)
    layout for a dW of at least PACKED_GRADIENT_CELLS cells and a batch of at least
    PACKED_GRADIENT_BATCH, or of PACKED_SMALL_GRADIENT cells and PACKED_SMALL_BATCH; never
    in the dWᵀ layout of sparse inputs, whose blocks of zeros only the row form skips
    (``inputs.looks_sparse``). (Measured, kernels alone taking turns: 0.53-0.90 × the time
    of the row form from 256² and batch 32 up; whole epochs 0.74-0.94 × from 1024² up,
    0.99-1.00 at 512²; at 784 × 256 0.87-0.95 at batch 512, 0.95-0.99 at 128, 1.06 at 32;
    256² 0.98-1.00. On MNIST's
    pixels in the dWᵀ layout 1.35-1.85 ×, whole epochs at 1024-2048 wide and batch 256-512
    1.01-1.16 ×.) Both give the same bits. (Plain Python: the caller picks the kernel.)"""
    cells = OC * C
    return not w_in_major and (cells >= PACKED_GRADIENT_CELLS and B >= PACKED_GRADIENT_BATCH
                               or cells >= PACKED_SMALL_GRADIENT and B >= PACKED_SMALL_BATCH)


@parallel_kernel
def dense_backward_params_packed(dw, dbias, w_slots, bias_slots, delta, x, h, w_in_major,
                                 kind, scratch):
    """``dense_backward_params`` (its arguments, the same bits) for the layers and batches
    of ``gradient_packed``, as the register-blocked product of ``gemm``; scratch (n,) holds
    the packed operands: ``packed_scratch(M, B, N, itemsize, True)`` numbers or more for a
    dw of (M, N) (the workspace's ``scratch``). a (δᵀ or xᵀ) is
    packed in blocks of ROWS rows and b in strips of NR columns (``pack_strips``), each
    task of the first parallel loop both for PACK_TERMS samples; then RUN_TASKS tasks
    (handed out as ``tasks.py`` does) each own a run of blocks of rows of dw, compute their
    tiles strip by strip (``_gradient_run``: each strip serves all the run's blocks) and
    then update those rows of W (rule ``kind``) and their biases, or all the biases in one
    more task in the dWᵀ layout. Each cell sums the batch in order, one multiply-add at a time, as
    ``dense_backward_params`` does.
    Returns the number of parameters the update left NaN or ±inf.
    """
    src = x if w_in_major else delta  # a = srcᵀ
    b = delta if w_in_major else x
    M, (K, N) = dw.shape[0], b.shape
    NR = tile_columns(dw)
    n_blocks = (M + ROWS - 1) // ROWS
    per_task = (n_blocks + RUN_TASKS - 1) // RUN_TASKS
    n_runs = (n_blocks + per_task - 1) // per_task
    packed_a, packed_b, outs = _scratch_parts(scratch, M, K, N, True)
    for r in prange((K + PACK_TERMS - 1) // PACK_TERMS):
        k0, k1 = _block(np.int64(r), K, PACK_TERMS)  # signed (see ZERO)
        pack_strips(packed_a, src, k0, k1, ROWS)   # a = srcᵀ in blocks of ROWS rows
        pack_strips(packed_b, b, k0, k1, NR)
    bias_task = n_runs if w_in_major and dbias.shape[0] > 0 else -1
    n_tasks = n_runs + (bias_task >= 0)
    bad = 0
    ranges = task_ranges(n_tasks)
    for worker in prange(len(ranges) // STRIDE):  # runs, then help (tasks.py)
        bad += _gradient_runs(dw, dbias, w_slots, bias_slots, delta, h, kind, packed_a,
                              packed_b, outs, ranges, np.int64(worker), bias_task, per_task,
                              w_in_major)
    return bad


@helper
def _gradient_runs(dw, dbias, w_slots, bias_slots, delta, h, kind, packed_a, packed_b,
                   outs, ranges, worker, bias_task, per_task, w_in_major):
    """The tasks of ``worker`` (``tasks.next_task``) in ``dense_backward_params_packed``:
    each a run of per_task blocks of rows of dw (``_gradient_run``, its short tiles through
    the worker's part of ``outs``) and their update, or the biases (``bias_task``); returns
    how many parameters they left non-finite."""
    M = dw.shape[0]
    n_blocks = (M + ROWS - 1) // ROWS
    size = ROWS * tile_columns(dw)
    out = outs[worker * size:(worker + 1) * size]
    bad = 0
    task = next_task(ranges, worker)
    while task >= 0:
        if task == bias_task:
            bad += _bias_step(dbias, bias_slots, delta, h, kind, ZERO, dbias.shape[0])
        else:
            first, last = task * per_task, min((task + 1) * per_task, n_blocks)
            _gradient_run(dw, packed_a, packed_b, delta.shape[0], first, last, out)
            i0, i1 = first * ROWS, min(last * ROWS, M)
            o0, o1 = _bias_units(task, bias_task, w_in_major, i0, i1, dbias.shape[0])
            _bias_sum(dbias, delta, o0, o1)
            bad += _update_task(dw, dbias, w_slots, bias_slots, h, kind, i0, i1, o0, o1)
        task = next_task(ranges, worker)
    return bad


@helper
def _gradient_run(dw, packed_a, packed_b, K, first, last, out):
    """Blocks first..last of ROWS rows of dw = a b (sums of K terms, the batch) from
    ``gemm``'s packed a (blocks of ROWS rows) and b (strips of NR columns), strip by
    strip, each used for all the blocks while it is in L1; whole tiles straight into dw,
    the short ones (past M or N) through ``out`` (ROWS × NR)."""
    M, N = dw.shape
    NR = tile_columns(dw)
    dw_flat = flat_rows(dw, 0, M)
    for s in range((N + NR - 1) // NR):
        j0, j1 = _block(s, N, NR)
        for blk in range(first, last):
            i0, i1 = _block(blk, M, ROWS)
            if i1 - i0 == ROWS and j1 - j0 == NR:
                tile(dw_flat, i0 * N + j0, N, packed_a, blk * K * ROWS, packed_b, s * K * NR,
                     NR, None, ZERO, K, False)
                continue
            tile(out, ZERO, NR, packed_a, blk * K * ROWS, packed_b, s * K * NR, NR, None, ZERO,
                 K, False)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    dw_flat[i * N + j] = load(out, (i - i0) * NR + j - j0)


@helper
def _bias_step(dbias, bias_slots, delta, h, kind, o0, o1):
    """dbias[o] = Σ_b δ[b, o] for o0 ≤ o < o1, then the update of those biases (rule
    ``kind``); returns how many it left non-finite."""
    _bias_sum(dbias, delta, o0, o1)
    return update_row(bias_slots[0][o0:o1], bias_slots[1][o0:o1], bias_slots[2][o0:o1],
                      dbias[o0:o1], h, kind)


@parallel_kernel
def hidden_delta(delta_prev, dz_prev, delta, w, u_prev, z_prev, slope_prev, act_prev):
    """δ_prev = f'(u_prev) ⊙ (δ W): the δ rule for a hidden layer,
    δ_prev[b, c] = f'(u_prev[b, c]) Σ_o δ[b, o] W[o, c].

    delta_prev (B, C) output δ of the layer below; dz_prev (B, C) output
    ∂L/∂z_prev = δ W (kept because PReLU needs it for its slope gradient);
    delta (B, OC) δ of this layer; w (OC, C) its weights; u_prev, z_prev (B, C)
    the pre- and post-activation of the layer below; slope_prev (S, C) its negative
    slopes (S = 1 or B); act_prev its activation code.
    Parallel over blocks of 4 samples: every thread writes only its own rows. A W past
    2 PANEL_BYTES (not L2-resident) with more than RUN_TASKS blocks goes in RUN_TASKS runs
    of blocks, each taking W in panels of PANEL_BYTES of rows (OC) used for all the run's
    blocks while in L2 (``_runs``), instead of streaming all of W once per 4 samples; each
    cell sums the panels in order, whatever the thread count.
    """
    n_blocks = (delta_prev.shape[0] + TILE - 1) // TILE
    per_task, n_tasks, rows = _runs(n_blocks, w, RUN_TASKS)
    for t in prange(n_tasks):
        task = np.int64(t)  # signed (see ZERO)
        first, last = task * per_task, min((task + 1) * per_task, n_blocks)
        _delta_task(delta_prev, dz_prev, delta, w, u_prev, z_prev, slope_prev, act_prev,
                    first, last, rows)


@helper
def _delta_task(delta_prev, dz_prev, delta, w, u_prev, z_prev, slope_prev, act_prev, first,
                last, rows):
    """Blocks first..last of samples of ``hidden_delta``."""
    _ab_panels(dz_prev, delta, w, first, last, ZERO, w.shape[0], rows)
    times_derivative(delta_prev, dz_prev, u_prev, z_prev, slope_prev, act_prev, first * TILE,
                     min(last * TILE, delta_prev.shape[0]))


def delta_packed(B, C, OC, itemsize):
    """True when the hidden δ of a layer C -> OC on a batch of B should run as
    ``hidden_delta_packed``: a W of 4 PANEL_BYTES (2 MB; it leaves L2) or more and at
    least DELTA_PACKED_BATCH samples to share each packed panel of it. (Measured, B 256:
    0.53-0.96 × the time of ``hidden_delta`` for 1024² to 4096², 0.78 at 1024 × 512 (B 128
    too); 0.77-1.10 for W of 1 MB or less. Whole epochs, taking turns: 784-1024-1024-10,
    784-2048-2048-10 and 784-4096-4096-10 at B 16-64 0.75-0.90 ×, at B 8 1.09 ×; 512² at
    B 32-512 0.97-1.01.) (Plain Python: the caller picks the kernel.)"""
    return B >= DELTA_PACKED_BATCH and OC * C * itemsize >= 4 * PANEL_BYTES


@parallel_kernel
def hidden_delta_packed(delta_prev, dz_prev, delta, w, u_prev, z_prev, slope_prev, act_prev,
                        scratch):
    """``hidden_delta`` (its arguments and equation) for a wide layer on a large batch
    (``delta_packed``): dz = δ W as the register-blocked product of ``gemm``, then
    δ_prev = f'(u_prev) ⊙ dz. scratch (n,) holds the packed operands and sums:
    ``packed_scratch(B, OC, C, itemsize, False)`` numbers or more (the workspace's
    ``scratch``).

    A first parallel loop packs δ by blocks of DELTA_KC units and ROWS samples
    (``_pack_block``) and lists the units whose δ is nonzero in some sample
    (``_live_terms``). Then each task owns a run of panels of NR columns (``tile_columns``)
    of dz and walks the units in blocks of DELTA_KC: it packs the block's rows of each of
    its panels of W (``pack_columns``, DELTA_KC × NR: in L1) and adds the block's listed terms
    to every tile of samples of that panel (``_packed_strips``: the sums in registers; the
    block's packed δ, in L2, serves all the task's panels), in a buffer padded to whole tiles;
    a third loop copies blocks of ROWS samples into dz and applies f' (``_delta_rows``;
    whole rows, as ``dense_forward_packed``). A cell's sum runs
    over o in order, one multiply-add at a time, whatever the thread count: the bits of
    ``hidden_delta``, which sums the same way.
    """
    B, C = dz_prev.shape
    NR = tile_columns(w)
    n_blocks, n_kb, per_task, n_tasks = _packed_layout(B, w.shape[0], C, NR)
    packed, sums, strips = _scratch_parts(scratch, B, w.shape[0], C, False)
    terms, counts = np.empty(w.shape[0], np.int64), np.empty(n_kb, np.int64)
    for t in prange(n_kb * n_blocks + n_kb):   # packed: [k block][sample block][k][row]
        _pack_or_list(packed, terms, counts, delta, np.int64(t), n_blocks)
    ranges = task_ranges(n_tasks)
    for worker in prange(len(ranges) // STRIDE):  # runs, then help (tasks.py)
        _strip_runs(sums, packed, w, False, n_blocks, ranges, np.int64(worker), per_task,
                    strips, terms, counts)
    for t in prange(n_blocks):
        i0, i1 = _block(np.int64(t), B, ROWS)  # signed (see ZERO)
        _delta_rows(delta_prev, dz_prev, sums, u_prev, z_prev, slope_prev, act_prev, i0, i1)


@helper
def _delta_rows(delta_prev, dz_prev, sums, u_prev, z_prev, slope_prev, act_prev, i0, i1):
    """Samples i0..i1 of ``hidden_delta_packed``: dz from the padded sums, then
    δ_prev = f'(u_prev) ⊙ dz."""
    _copy_rows(dz_prev, sums, i0, i1)
    times_derivative(delta_prev, dz_prev, u_prev, z_prev, slope_prev, act_prev, i0, i1)


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
