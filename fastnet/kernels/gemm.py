"""The register-blocked product of packed operands, for the products of wide layers.

    out[i, j] = Σ_k a[i, k] b[k, j]

in tiles of ROWS rows × 2 vectors of columns (8 × 32 float32, 8 × 16 float64). ``tile``
keeps a tile's sixteen vectors of sums in registers for the whole walk over k: each k
loads two vectors of b and multiplies them by ROWS numbers of a (fused multiply-adds
with the number broadcast from memory), and nothing is stored until the end. The
operands are packed first so that the walk reads memory in order:

    ap  (K, ROWS)   ``pack_transposed``, or ``pack_strips`` of aᵀ: a block of ROWS rows of
                    a, column by column
    bp  (K, width)  ``pack_columns``: a panel of columns of b, row by row

so a step over k reads ROWS consecutive numbers of ap and 2 vectors of a bp row. (Read
from a and b themselves, rows thousands of bytes apart, the same tile ran at a third
of the speed.) Every sum is taken over k in order, one k at a time: a tile's result
does not depend on how the caller splits the work among threads.

Shapes: ap, bp, out flat (1-D) arrays with offsets and row strides (``ld*``), so one
buffer holds many blocks; lanes L = simd.BYTES / itemsize, NR = 2 L columns a tile.
"""
from ..config import helper, inline
from .simd import BYTES, flat_rows, load, prefetch, transpose8, vfma, vload, vstore, vzero

ROWS = 8  # rows of a tile (of a and of out)
PREFETCH_ROWS = 8  # rows of b ahead that ``pack_columns`` prefetches


@inline
def tile_columns(a):
    """NR: the columns of a tile for arrays of a's dtype, two vectors."""
    return 2 * (BYTES // a.itemsize)


@helper
def pack_transposed(dst, d0, ldd, width, a, i0, i1, k0, k1):
    """dst[d0 + (k - k0) ldd + (i - i0)] = a[i, k] for i0 ≤ i < i1 and k0 ≤ k < k1, and 0
    for i - i0 from i1 - i0 to ``width``: rows i0..i1 of a, C-contiguous (M, K), column by
    column (a block of ROWS rows of a with ldd = width = ROWS; a strip of
    columns of aᵀ with ldd = width = NR). Groups of 8 rows go LANES columns at a time
    through ``simd.transpose8``; the rest number by number."""
    K = a.shape[1]
    flat = flat_rows(a, 0, a.shape[0])
    L = BYTES // a.itemsize
    n = i1 - i0
    grouped, k_whole = n - n % 8, k0 + (k1 - k0) // L * L
    for g in range(0, grouped, 8):
        for k in range(k0, k_whole, L):
            transpose8(dst, d0 + (k - k0) * ldd + g, ldd, flat, (i0 + g) * K + k, K)
        for k in range(k_whole, k1):
            for r in range(g, g + 8):
                dst[d0 + (k - k0) * ldd + r] = flat[(i0 + r) * K + k]
    for r in range(grouped, n):
        for k in range(k0, k1):
            dst[d0 + (k - k0) * ldd + r] = flat[(i0 + r) * K + k]
    for r in range(n, width):
        for k in range(k0, k1):
            dst[d0 + (k - k0) * ldd + r] = 0


@helper
def pack_columns(bp, b0, width, b, k0, k1, j0, j1):
    """bp[b0 + (k - k0) width + l] = b[k, j0 + l] for k0 ≤ k < k1, l < width; 0 for the
    columns past j1 (a short last panel). b (K, N) C-contiguous. Whole vectors are copied
    as vectors, and the row PREFETCH_ROWS ahead is prefetched: rows thousands of bytes
    apart defeat the hardware prefetcher (scalar copies waiting on each row took 3 ns a
    number, a third of the packed hidden δ's time). (Packing several panels at once, each
    row of b read in one run, measured slower: 1.1-1.4 × the time of the hidden δ.)"""
    N = b.shape[1]
    flat = flat_rows(b, 0, b.shape[0])
    L = BYTES // b.itemsize
    n = j1 - j0
    whole = n - n % L
    for k in range(k0, k1):
        src, q = k * N + j0, b0 + (k - k0) * width
        if k + PREFETCH_ROWS < k1:
            prefetch(flat, src + PREFETCH_ROWS * N)
            prefetch(flat, src + PREFETCH_ROWS * N + n - 1)
        for l in range(0, whole, L):
            vstore(bp, q + l, vload(flat, src + l))
        for l in range(whole, n):
            bp[q + l] = flat[src + l]
        for l in range(n, width):
            bp[q + l] = 0


@helper
def pack_strips(bp, b, k0, k1, width):
    """Rows k0..k1 of b (K, N), C-contiguous, into strips of ``width`` columns, strip s a
    (K, width) panel: bp[s K width + k width + l] = b[k, s width + l], 0 past N. A strip's
    part of the rows is one contiguous run of bp (rows of b read in order, each copied in
    whole vectors where ``width`` is a multiple of one): a packing task of a parallel loop
    (a strip of NR columns of b, or, from b = aᵀ, a block of ROWS rows of a)."""
    K, N = b.shape
    flat = flat_rows(b, 0, K)
    L = BYTES // b.itemsize
    for s in range((N + width - 1) // width):
        j = s * width
        for k in range(k0, k1):
            q, src = s * K * width + k * width, k * N + j
            if j + width > N:
                for l in range(N - j):
                    bp[q + l] = flat[src + l]
                for l in range(N - j, width):
                    bp[q + l] = 0
            elif width % L == 0:
                for l in range(0, width, L):
                    vstore(bp, q + l, vload(flat, src + l))
            else:
                for l in range(width):
                    bp[q + l] = flat[src + l]


@helper
def tile(out, o, ldo, ap, a0, bp, b0, ldb, terms, t0, n, add):
    """out[o + r ldo + l] = Σ_k ap[a0 + k ROWS + r] · bp[b0 + k ldb + l], for r < ROWS
    and l < NR (``tile_columns``), over k = terms[t0 + t] for t < n, in that order (the
    terms at which a is not all zero, ``dense._live_terms``), or with ``terms`` None over
    k < n: one tile of the product, its sums in 16 vector registers from the first k to
    the last; with ``add``, the sums start from the tile's values in out (the next block
    of terms: the same bits as one longer walk). A term left out adds 0 · b, which
    leaves a sum that starts at +0 as it was: the same bits as the walk over every k.

    out, ap, bp flat arrays of one float dtype, terms int64; bp's rows (ldb apart) hold at
    least NR numbers from b0 + k ldb; the tile's out rows ldo apart."""
    L = BYTES // bp.itemsize
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = vzero(bp)
    c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = vzero(bp)
    if add:
        c00, c01 = vload(out, o), vload(out, o + L)
        c10, c11 = vload(out, o + ldo), vload(out, o + ldo + L)
        c20, c21 = vload(out, o + 2 * ldo), vload(out, o + 2 * ldo + L)
        c30, c31 = vload(out, o + 3 * ldo), vload(out, o + 3 * ldo + L)
        c40, c41 = vload(out, o + 4 * ldo), vload(out, o + 4 * ldo + L)
        c50, c51 = vload(out, o + 5 * ldo), vload(out, o + 5 * ldo + L)
        c60, c61 = vload(out, o + 6 * ldo), vload(out, o + 6 * ldo + L)
        c70, c71 = vload(out, o + 7 * ldo), vload(out, o + 7 * ldo + L)
    for t in range(n):
        k = t if terms is None else load(terms, t0 + t)
        q, p = b0 + k * ldb, a0 + k * ROWS
        y0, y1 = vload(bp, q), vload(bp, q + L)
        x = load(ap, p)
        c00, c01 = vfma(x, y0, c00), vfma(x, y1, c01)
        x = load(ap, p + 1)
        c10, c11 = vfma(x, y0, c10), vfma(x, y1, c11)
        x = load(ap, p + 2)
        c20, c21 = vfma(x, y0, c20), vfma(x, y1, c21)
        x = load(ap, p + 3)
        c30, c31 = vfma(x, y0, c30), vfma(x, y1, c31)
        x = load(ap, p + 4)
        c40, c41 = vfma(x, y0, c40), vfma(x, y1, c41)
        x = load(ap, p + 5)
        c50, c51 = vfma(x, y0, c50), vfma(x, y1, c51)
        x = load(ap, p + 6)
        c60, c61 = vfma(x, y0, c60), vfma(x, y1, c61)
        x = load(ap, p + 7)
        c70, c71 = vfma(x, y0, c70), vfma(x, y1, c71)
    vstore(out, o, c00)
    vstore(out, o + L, c01)
    vstore(out, o + ldo, c10)
    vstore(out, o + ldo + L, c11)
    vstore(out, o + 2 * ldo, c20)
    vstore(out, o + 2 * ldo + L, c21)
    vstore(out, o + 3 * ldo, c30)
    vstore(out, o + 3 * ldo + L, c31)
    vstore(out, o + 4 * ldo, c40)
    vstore(out, o + 4 * ldo + L, c41)
    vstore(out, o + 5 * ldo, c50)
    vstore(out, o + 5 * ldo + L, c51)
    vstore(out, o + 6 * ldo, c60)
    vstore(out, o + 6 * ldo + L, c61)
    vstore(out, o + 7 * ldo, c70)
    vstore(out, o + 7 * ldo + L, c71)

