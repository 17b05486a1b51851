"""Cache-blocked, packed matrix products: out = a bᵀ (and out = a b as a (bᵀ)ᵀ).

    out[i, j] = Σ_k a[i, k] b[j, k]        out (M, N); a (M, K); b (N, K), any strides

so the three products of a dense layer are one kernel with different views:

    forward   u  = x Wᵀ    a = x (B, C),   b = W (OC, C)
    weights   dW = δᵀ x    a = δ.T (OC, B), b = x.T (C, B)
    hidden δ  g  = δ W     a = δ (B, OC),  b = W.T (C, OC)

Loop structure (BLIS's loops around a micro-kernel, the sum over k vectorised):

    worker w: columns [w S, (w+1) S) of out, S whole NR panels       (parallel)
      for ic in 0, MC, 2 MC, …:                      rows of out in blocks of MC
        for pc in 0, KC, 2 KC, …:                    K in blocks of KC
          pack a[ic : ic+MC, pc : pc+KC] → pack_a[w] (MC, KC), zero-padded rows
          for jc in the worker's columns by NC:
            pack b[jc : jc+NC, pc : pc+KC] → pack_b[w] (NC, KC)
            for jr in NC by NR:                      an NR × KC micro-panel of b stays in L1
              for ir in MC by MR:                    MR × KC micro-panels of a stream from L2
                micro-kernel: MR × NR sums over the kc terms, then out (+)= them

The micro-kernel keeps MR × NR = 4 × 6 accumulators; LLVM vectorises its k loop (fast-math
re-association), so each accumulator is a vector of partial sums in a register, and one
step loads MR + NR = 10 vectors for 24 multiply-adds (no stores in the loop). (BLIS's
outer-product form, an MR × 16k block of out in registers, is out of reach of plain loops:
LLVM keeps such a block in memory, or spills it.) The packed
rows are KC long (an odd multiple of 16) in 64-byte aligned buffers, so every vector load
is one cache line and the rows the micro-kernel reads fall in different sets of L1. Rows
of the panels past M or N are zero and their sums are not stored; the last block of K is
simply shorter.

Block sizes come from the pack buffers' shapes (``pack_shapes``: chosen once per layer
shape): MC = pack_a.shape[1], NC = pack_b.shape[1], KC = pack_a.shape[2]. The W =
pack_a.shape[0] workers of the parallel loop split the columns of out and pack into their
own pack_a[w], pack_b[w] (each packs a block of a once for all its columns). Each worker
owns its columns of out, and every cell is summed in the same order (blocks of K in turn,
the same vector reduction within each) whatever W and the thread count: the results are
bit-identical across runs and thread counts.
"""
from numba import prange

from ..config import kernel, parallel_kernel

MR = 4  # rows of a in the micro-kernel
NR = 6  # rows of b (columns of out) in the micro-kernel
MC = 256  # rows of a packed at once (MC × KC: about 1 MB of float32, L2)
NC = 96  # rows of b packed at once (NC × KC, L2; one NR × KC micro-panel in L1)
KC = 1040  # terms per block of K: 65 lines of 16 float32 (see ``pack_shapes``)
LANES = 16  # KC is rounded up to whole 64-byte lines of float32


def _round_up(n, m):
    return (n + m - 1) // m * m


def pack_shapes(M, N, K, n_threads):
    """(shape of pack_a, shape of pack_b) for out (M, N) = a (M, K) bᵀ (N, K) on
    ``n_threads`` threads: (W, MC, KC) and (W, NC, KC), with the blocks cut down to the
    problem (MC, NC whole micro-tiles; KC whole lines) and W workers, no more than
    NR-column panels of out."""
    for name, n in (("M", M), ("N", N), ("K", K), ("n_threads", n_threads)):
        if int(n) != n or n < 1:
            raise ValueError(f"pack_shapes: {name} must be a positive integer, got {n!r}")
    mc = min(MC, _round_up(M, MR))
    nc = min(NC, _round_up(N, NR))
    kc = min(KC, _round_up(K, LANES))
    if kc // LANES % 2 == 0:  # an odd number of lines: rows of the packs spread over L1's
        kc += LANES           # sets (4 KB apart, as with KC = 1024, they share one set)
    workers = min(n_threads, -(-N // NR))  # no more than panels of NR columns
    return (workers, mc, kc), (workers, nc, kc)


@kernel
def _pack(dst, src, r0, n_rows, k0, kc):
    """dst[r, k] = src[r0 + r, k0 + k] for r < n_rows, k < kc; rows n_rows.. of dst = 0.

    A source whose rows are contiguous is copied row by row; a transposed view (δ.T,
    x.T, W.T) is read along its contiguous columns, one k at a time. Not inlined (like
    ``_micro``): the parallel kernel's compile time is mostly spent on its loop body."""
    if src.strides[1] == src.itemsize:
        for r in range(n_rows):
            d = dst[r]
            s = src[r0 + r, k0:k0 + kc]
            for k in range(kc):
                d[k] = s[k]
    else:
        for k in range(kc):
            s = src[r0:r0 + n_rows, k0 + k]
            for r in range(n_rows):
                dst[r, k] = s[r]
    for r in range(n_rows, dst.shape[0]):
        d = dst[r]
        for k in range(kc):
            d[k] = 0


@kernel
def _micro(out, pa, pb, kc, i, j, first):
    """out[i:i+4, j:j+6] (+)= Σ_{k<kc} pa[r, k] pb[s, k] (= on the first block of K):
    4 × 6 accumulators, one pass; cells past the edges of out are dropped.

    out (M, N); pa (4, ≥ kc) and pb (6, ≥ kc): packed micro-panels, rows contiguous.
    Not inlined: one compiled copy serves every layout of the caller's a and b."""
    a0, a1, a2, a3 = pa[0, :kc], pa[1, :kc], pa[2, :kc], pa[3, :kc]
    b0, b1, b2, b3, b4, b5 = pb[0, :kc], pb[1, :kc], pb[2, :kc], pb[3, :kc], pb[4, :kc], pb[5, :kc]
    z = pa.dtype.type(0)
    c00 = c01 = c02 = c03 = c04 = c05 = z
    c10 = c11 = c12 = c13 = c14 = c15 = z
    c20 = c21 = c22 = c23 = c24 = c25 = z
    c30 = c31 = c32 = c33 = c34 = c35 = z
    for k in range(kc):
        x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
        y0, y1, y2, y3, y4, y5 = b0[k], b1[k], b2[k], b3[k], b4[k], b5[k]
        c00 += x0 * y0
        c01 += x0 * y1
        c02 += x0 * y2
        c03 += x0 * y3
        c04 += x0 * y4
        c05 += x0 * y5
        c10 += x1 * y0
        c11 += x1 * y1
        c12 += x1 * y2
        c13 += x1 * y3
        c14 += x1 * y4
        c15 += x1 * y5
        c20 += x2 * y0
        c21 += x2 * y1
        c22 += x2 * y2
        c23 += x2 * y3
        c24 += x2 * y4
        c25 += x2 * y5
        c30 += x3 * y0
        c31 += x3 * y1
        c32 += x3 * y2
        c33 += x3 * y3
        c34 += x3 * y4
        c35 += x3 * y5
    c = (c00, c01, c02, c03, c04, c05, c10, c11, c12, c13, c14, c15,
         c20, c21, c22, c23, c24, c25, c30, c31, c32, c33, c34, c35)
    for r in range(min(MR, out.shape[0] - i)):
        o = out[i + r, j:min(j + NR, out.shape[1])]
        if first:
            for s in range(o.shape[0]):
                o[s] = c[r * NR + s]
        else:
            for s in range(o.shape[0]):
                o[s] += c[r * NR + s]


@parallel_kernel
def gemm_abt(out, a, b, pack_a, pack_b):
    """out = a bᵀ: out[i, j] = Σ_k a[i, k] b[j, k], blocked and packed (see the module).

    out (M, N) output; a (M, K), b (N, K), any strides (``b.T`` of a (K, N) array
    gives out = a b); pack_a (W, MC, KC) and pack_b (W, NC, KC) scratch of the same dtype
    as out, C-contiguous, shaped by ``pack_shapes`` (MC a multiple of 4, NC of 6).
    """
    M, N = out.shape
    K = a.shape[1]
    if a.shape[0] != M or b.shape[0] != N or b.shape[1] != K:
        raise ValueError("gemm_abt: out (M, N), a (M, K) and b (N, K) do not match")
    W, mc, kc_blk = pack_a.shape
    nc = pack_b.shape[1]
    if (W < 1 or pack_b.shape[0] != W or pack_b.shape[2] != kc_blk or mc % MR or nc % NR
            or mc < MR or nc < NR or kc_blk < 1):
        raise ValueError("gemm_abt: pack_a, pack_b must be (W, MC, KC), (W, NC, KC) "
                         "with MC a multiple of 4 and NC of 6 (see pack_shapes)")
    if K == 0:
        out[:] = 0
    panels = (N + NR - 1) // NR
    workers = min(W, panels)
    width = (panels + workers - 1) // workers * NR  # columns of out per worker
    for w in prange(workers):
        pa_w, pb_w = pack_a[w], pack_b[w]
        j_end = min(N, (w + 1) * width)
        for ic in range(0, M, mc):
            m = min(mc, M - ic)
            for pc in range(0, K, kc_blk):
                kc = min(kc_blk, K - pc)
                _pack(pa_w[:(m + MR - 1) // MR * MR], a, ic, m, pc, kc)
                for jc in range(w * width, j_end, nc):
                    n = min(nc, j_end - jc)
                    _pack(pb_w[:(n + NR - 1) // NR * NR], b, jc, n, pc, kc)
                    for jr in range(0, n, NR):
                        pb = pb_w[jr:jr + NR]
                        for ir in range(0, m, MR):
                            _micro(out, pa_w[ir:ir + MR], pb, kc, ic + ir, jc + jr, pc == 0)
