"""The loss of a network over a grid of points θ + α δ + β η in parameter space.

Along two directions the first layer's pre-activation is linear in the offsets:

    u₁(α, β) = (W₁ + α D₁ + β E₁) x + b₁ = U₀ + α P₁ + β P₂ + b₁

with U₀ = W₁ x, P₁ = D₁ x, P₂ = E₁ x computed once for the whole grid (the caller does,
with the forward kernels). ``landscape_losses`` then runs, per block of samples whose
U₀, P₁, P₂ rows stay in cache, every grid point: z₁ = f₁(u₁(α, β)), the layers after
the first with weights W + α D + β E combined once per block and point, and the loss.
"""
from numba import prange

from ..config import inline, parallel_kernel
from .activations import IDENTITY, add_bias_activate
from .losses import SUM_OF_SQUARES, loss_row


@inline
def dot_rows2(ua, ub, w, xa, xb, n_in):
    """u[o] = Σ_q w[o n_in + q] x[q] for two samples: ua, ub (OC,) outputs; w (OC · n_in,)
    rows of W; xa, xb (n_in,).

    Four rows and both samples at a time: eight independent vector sums in flight, and
    each row of W loaded once for the two samples (a loop that sums and never stores:
    see activations.py)."""
    n_out = ua.shape[0]
    zero = ua.dtype.type(0)
    o = 0
    while o + 4 <= n_out:
        w0 = w[o * n_in:(o + 1) * n_in]
        w1 = w[(o + 1) * n_in:(o + 2) * n_in]
        w2 = w[(o + 2) * n_in:(o + 3) * n_in]
        w3 = w[(o + 3) * n_in:(o + 4) * n_in]
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = zero
        for q in range(n_in):
            xaq, xbq = xa[q], xb[q]
            a0 += w0[q] * xaq
            a1 += w1[q] * xaq
            a2 += w2[q] * xaq
            a3 += w3[q] * xaq
            b0 += w0[q] * xbq
            b1 += w1[q] * xbq
            b2 += w2[q] * xbq
            b3 += w3[q] * xbq
        ua[o], ua[o + 1], ua[o + 2], ua[o + 3] = a0, a1, a2, a3
        ub[o], ub[o + 1], ub[o + 2], ub[o + 3] = b0, b1, b2, b3
        o += 4
    for r in range(o, n_out):
        wr = w[r * n_in:(r + 1) * n_in]
        sa = sb = zero
        for q in range(n_in):
            sa += wr[q] * xa[q]
            sb += wr[q] * xb[q]
        ua[r], ub[r] = sa, sb


@parallel_kernel
def landscape_losses(loss_sum, partial, wa, w, v, u1, z1, u, z, dz,
                     u0, p1, p2, bias1, slope1, tw0, tw1, tw2, tbias, tslope, targets,
                     alphas, betas, acts, widths, loss_kind, block):
    """loss_sum[i, j] += Σ_b ℓ(f_L(… f₁(U₀ + α_i P₁ + β_j P₂ + b₁) …), d_b), each layer
    l ≥ 2 computing u_l = (W_l + α_i D_l + β_j E_l) z_{l-1} + b_l, z_l = f_l(u_l).

    Outputs: loss_sum (NA, NB) float64, added to; scratch partial (NBLK, NA, NB) float64,
    NBLK = ceil(B / block), each block's sums, added into loss_sum block by block in
    order (the result does not depend on the thread count); per slot t (one per thread,
    T slots): wa, w (T, NW) the tail weights at (α, 0) and at (α, β), v (T, block, H)
    U₀ + α P₁ (the terms of a row of the grid are formed once per row); for the block's
    samples: u1, z1 (T, block, H) the first layer, u, z (T, block, TW) the others (each
    layer's bias and activation in one call over the block; its products two samples at a
    time, each row of the tail's weights loaded once for both); dz (T, K).
    Inputs: u0, p1, p2 (B, H) the first layer's products; bias1 (H,); slope1 (1, H)
    its negative slopes; tw0, tw1, tw2 (NW,) the weights of layers 2..L (each (OC, IC)
    row-major, one after the other) at θ and along the two directions; tbias (TW,),
    tslope (1, TW) their biases and slopes, TW = Σ widths[1:]; targets (B, K);
    alphas (NA,), betas (NB,) float64 offsets; acts (L,) activation codes (acts[-1] the
    output's); widths (L,) layer widths (widths[0] = H, widths[-1] = K). Scalars:
    loss_kind, block (samples per block). A network of one layer has NW = TW = 0.
    The cross-entropies read the logits only, so the output activation is applied for
    the sum of squares alone.
    """
    B, H = u0.shape
    NA, NB = loss_sum.shape
    NW = tw0.shape[0]
    L = widths.shape[0]
    K = widths[L - 1]
    n_blocks = partial.shape[0]
    T = w.shape[0]
    dt = u0.dtype.type
    out_act = acts[L - 1] if loss_kind == SUM_OF_SQUARES else IDENTITY
    first_act = acts[0] if L > 1 else out_act
    for t in prange(T):
        wat, wt, vt, ut, zt, u1t, z1t = wa[t], w[t], v[t], u[t], z[t], u1[t], z1[t]
        for k in range(t, n_blocks, T):
            b0 = k * block
            b1 = min(b0 + block, B)
            for i in range(NA):
                a = dt(alphas[i])
                for q in range(NW):
                    wat[q] = tw0[q] + a * tw1[q]
                for s in range(b0, b1):
                    vr, u0r, p1r = vt[s - b0], u0[s], p1[s]
                    for o in range(H):
                        vr[o] = u0r[o] + a * p1r[o]
                for j in range(NB):
                    c = dt(betas[j])
                    for q in range(NW):
                        wt[q] = wat[q] + c * tw2[q]
                    nb = b1 - b0   # the block's samples: rows 0..nb of the scratch
                    for r in range(nb):
                        ur, vr, p2r = u1t[r], vt[r], p2[b0 + r]
                        for o in range(H):
                            ur[o] = vr[o] + c * p2r[o]
                    add_bias_activate(u1t, z1t, bias1, slope1, first_act, 0, nb, 0, H)
                    off_w = 0
                    off = 0
                    for l in range(1, L):
                        n_in, n_out = widths[l - 1], widths[l]
                        for r0 in range(0, nb, 2):   # two samples at a time
                            r1 = min(r0 + 1, nb - 1)   # an odd block's last one: itself twice
                            if l == 1:
                                xa, xb = z1t[r0], z1t[r1]
                            else:
                                xa, xb = zt[r0, off - n_in:off], zt[r1, off - n_in:off]
                            dot_rows2(ut[r0, off:off + n_out], ut[r1, off:off + n_out],
                                      wt[off_w:off_w + n_out * n_in], xa, xb, n_in)
                        add_bias_activate(ut, zt, tbias, tslope,
                                          acts[l] if l < L - 1 else out_act, 0, nb,
                                          off, off + n_out)
                        off_w += n_out * n_in
                        off += n_out
                    total = 0.0
                    for r in range(nb):
                        if L == 1:
                            total += loss_row(dz[t], u1t[r], z1t[r], targets[b0 + r],
                                              loss_kind, 1.0)
                        else:
                            total += loss_row(dz[t], ut[r, off - K:off],
                                              zt[r, off - K:off], targets[b0 + r],
                                              loss_kind, 1.0)
                    partial[k, i, j] = total
    for k in range(n_blocks):
        for i in range(NA):
            for j in range(NB):
                loss_sum[i, j] += partial[k, i, j]
