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
def dot_rows(u, w, x, n_in):
    """u[o] = Σ_q w[o n_in + q] x[q]: u (OC,) output; w (OC · n_in,) rows of W; x (n_in,).

    Four rows at a time, so that LLVM keeps four independent vector sums in flight
    instead of waiting on one (a loop that sums and never stores: see activations.py)."""
    n_out = u.shape[0]
    zero = u.dtype.type(0)
    o = 0
    while o + 4 <= n_out:
        w0 = w[o * n_in:(o + 1) * n_in]
        w1 = w[(o + 1) * n_in:(o + 2) * n_in]
        w2 = w[(o + 2) * n_in:(o + 3) * n_in]
        w3 = w[(o + 3) * n_in:(o + 4) * n_in]
        s0 = s1 = s2 = s3 = zero
        for q in range(n_in):
            xq = x[q]
            s0 += w0[q] * xq
            s1 += w1[q] * xq
            s2 += w2[q] * xq
            s3 += w3[q] * xq
        u[o], u[o + 1], u[o + 2], u[o + 3] = s0, s1, s2, s3
        o += 4
    for r in range(o, n_out):
        wr = w[r * n_in:(r + 1) * n_in]
        s = zero
        for q in range(n_in):
            s += wr[q] * x[q]
        u[r] = s


@parallel_kernel
def landscape_losses(loss_sum, partial, wa, w, v, u1, z1, u, z, delta, dz,
                     u0, p1, p2, bias1, slope1, tw0, tw1, tw2, tbias, tslope, targets,
                     alphas, betas, acts, widths, loss_kind, block):
    """loss_sum[i, j] += Σ_b ℓ(f_L(… f₁(U₀ + α_i P₁ + β_j P₂ + b₁) …), d_b), each layer
    l ≥ 2 computing u_l = (W_l + α_i D_l + β_j E_l) z_{l-1} + b_l, z_l = f_l(u_l).

    Outputs: loss_sum (NA, NB) float64, added to; scratch partial (NBLK, NA, NB) float64,
    NBLK = ceil(B / block), each block's sums, added into loss_sum block by block in
    order (the result does not depend on the thread count); per slot t (one per thread,
    T slots): wa, w (T, NW) the tail weights at (α, 0) and at (α, β), v (T, block, H)
    U₀ + α P₁ (the terms of a row of the grid are formed once per row), u1, z1 (T, block, H), u, z (T, TW),
    delta, dz (T, K).
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
                    total = 0.0
                    for s in range(b0, b1):
                        r = s - b0
                        ur, vr, p2r = u1t[r], vt[r], p2[s]
                        for o in range(H):
                            ur[o] = vr[o] + c * p2r[o]
                        add_bias_activate(u1t, z1t, bias1, slope1, first_act, r, r + 1, 0, H)
                        prev = z1t[r]
                        off_w = 0
                        off = 0
                        for l in range(1, L):
                            n_in, n_out = widths[l - 1], widths[l]
                            dot_rows(ut[off:off + n_out], wt[off_w:off_w + n_out * n_in],
                                     prev, n_in)
                            add_bias_activate(u[t:t + 1], z[t:t + 1], tbias, tslope,
                                              acts[l] if l < L - 1 else out_act, 0, 1,
                                              off, off + n_out)
                            prev = zt[off:off + n_out]
                            off_w += n_out * n_in
                            off += n_out
                        if L == 1:
                            total += loss_row(delta[t], dz[t], u1t[r], z1t[r], targets[s],
                                              slope1[0], loss_kind, out_act, 1.0)
                        else:
                            total += loss_row(delta[t], dz[t], ut[off - K:off],
                                              zt[off - K:off], targets[s],
                                              tslope[0, off - K:off], loss_kind, out_act, 1.0)
                    partial[k, i, j] = total
    for k in range(n_blocks):
        for i in range(NA):
            for j in range(NB):
                loss_sum[i, j] += partial[k, i, j]
