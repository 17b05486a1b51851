"""Sample-weight kernel: per-sample weights w (B,) scale a batch's losses and output δ
so that the batch's loss is the weighted mean, as PyTorch's ``reduction='mean'`` with
class weights computes it:

    L = Σ_b w_b ℓ_b / Σ_b w_b

``batch_loss`` leaves ℓ_b and δ_b = ∂ℓ_b/∂u / B; scaling row b by s_b = w_b B / Σ w gives
δ_b = w_b ∂ℓ_b/∂u / Σ w = ∂L/∂u_b and Σ_b s_b ℓ_b = B · L (so B · L is what the training
loop adds up, as it adds Σ_b ℓ_b without weights).
"""
from ..config import kernel


@kernel
def weigh_rows(losses, delta, dz, w):
    """losses[b], delta[b], dz[b] ← s_b · (the same), s_b = w_b B / Σ w (0 when Σ w = 0);
    returns Σ_b s_b ℓ_b (float64).

    losses (B,), delta, dz (B, K) updated in place; w (B,) non-negative weights."""
    B, K = delta.shape
    total_w = 0.0
    for b in range(B):
        total_w += w[b]
    norm = B / total_w if total_w > 0 else 0.0
    total = 0.0
    for b in range(B):
        s = w[b] * norm
        losses[b] = losses[b] * s
        for k in range(K):
            delta[b, k] = delta[b, k] * s
            dz[b, k] = dz[b, k] * s
        total += losses[b]
    return total
