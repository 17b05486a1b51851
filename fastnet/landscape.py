"""The loss around a network's weights along two random, filter-normalised directions
(Li et al., "Visualizing the Loss Landscape of Neural Nets", 2018):

    L(α, β) = loss(θ + α δ + β η),   α, β in [-span, span]

δ and η are Gaussian directions in parameter space whose every row ("filter": the
weights into one unit) is rescaled to the norm of the same row of W, so that the picture
does not depend on the scale of each layer's weights; biases and PReLU slopes stay put
(their direction is 0).

The first layer is linear in (α, β): u₁ = (W₁ + α D₁ + β E₁) x + b₁ = U₀ + α P₁ + β P₂ + b₁,
so U₀ = W₁x, P₁ = D₁x, P₂ = E₁x come from one forward pass (fastnet's kernels, through a
network of one identity layer with W₁, D₁, E₁ stacked). ``kernels.landscape.landscape_losses``
then evaluates every grid point on blocks of samples held in cache, in parallel: the
combination z₁ = f(U₀ + α P₁ + β P₂ + b₁), the layers 2..L with their weights moved, and
the loss.
"""
import time
from dataclasses import dataclass

import numba
import numpy as np

from . import checks
from .inputs import as_input, encode_targets
from .kernels.landscape import landscape_losses
from .layers import Dense
from .network import Network

BLOCK = 32  # samples whose first-layer rows (U₀, P₁, P₂, u₁, z₁) a thread sweeps the grid over
PARTIAL_BYTES = 1 << 26  # at most this much of per-block grid sums per kernel call


@dataclass
class Landscape:
    """alphas, betas (steps,) the offsets; loss (steps, steps) with loss[i, j] at
    (alphas[i], betas[j]); directions (2, n_params) in the layout of model files
    (``Network.canonical``: ``net.params``' own, unless the network has dense inputs)."""
    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    directions: np.ndarray
    seconds: float

    @property
    def centre(self):
        return float(self.loss[len(self.alphas) // 2, len(self.betas) // 2])

    def save(self, path):
        np.savez(path, alphas=self.alphas, betas=self.betas, loss=self.loss,
                 directions=self.directions)


def filter_normalised_direction(net, rng):
    """A random direction (layout of ``net.params``): each row of each W drawn N(0, 1) and
    scaled to the norm of that row of W; 0 for biases and slopes. Built by writing
    through the layers' views of ``net.params`` (restored afterwards)."""
    saved = net.params.copy()
    rows = [np.array(layer.W) for layer in net.layers]
    try:
        net.params[...] = 0
        for layer, W in zip(net.layers, rows):
            D = rng.standard_normal(W.shape)
            D *= np.linalg.norm(W, axis=1, keepdims=True) / np.linalg.norm(D, axis=1, keepdims=True)
            layer.W[...] = D
        return net.params.copy()
    finally:
        net.params[...] = saved


def _layer_values(net, flat):
    """[(W, b, a)] per layer of a flat vector in the layout of ``net.params`` (copies)."""
    saved = net.params.copy()
    try:
        net.params[...] = flat
        return [(np.array(layer.W), np.array(layer.b), np.array(layer.a)) for layer in net.layers]
    finally:
        net.params[...] = saved


def _tail_arrays(net, values, dtype):
    """The layers after the first as ``landscape_losses`` takes them: (tw0, tw1, tw2) their
    weights at θ and along the two directions, flat; tbias, tslope (1, TW); acts and
    widths of all layers. ``values``: per-layer (W, b, a) of θ and of the directions."""
    tail = range(1, len(net.layers))
    flat = [np.concatenate([np.ravel(v[l][0]) for l in tail] or [np.zeros(0)]).astype(dtype)
            for v in values]
    tbias = np.concatenate([np.ravel(values[0][l][1]) for l in tail] or [np.zeros(0)])
    tslope = np.concatenate([np.ravel(values[0][l][2]) for l in tail] or [np.zeros(0)])
    acts = [layer.act for layer in net.layers[:-1]] + [net.output_act]
    widths = [layer.out_features for layer in net.layers]
    return (*flat, tbias.astype(dtype), tslope.astype(dtype).reshape(1, -1),
            np.array(acts, np.int64), np.array(widths, np.int64))


def _first_layer_products(net, values, X):
    """(U₀, P₁, P₂) = (W₁x, D₁x, D₂x) for the rows X, each (n, OC₁) C-contiguous, from
    one forward pass of an identity layer whose weights stack W₁, D₁, D₂."""
    first = net.layers[0]
    C, OC = first.in_features, first.out_features
    stacked = Network([Dense(C, 3 * OC, bias=False)], loss="sum_of_squares", dtype=net.dtype)
    stacked.scaler = getattr(net, "scaler", None)   # its inputs scaled as net's are
    stacked.layers[0].W[...] = np.concatenate([v[0][0] for v in values])
    out = stacked.predict_proba(X)
    return [np.ascontiguousarray(out[:, k * OC:(k + 1) * OC]) for k in range(3)]


def loss_landscape(net, X, y, steps=51, span=1.0, seed=0, batch_size=16384):
    """``Landscape`` of the mean loss of ``net`` on (X, y) over a steps × steps grid.

    The first-layer products (U₀, P₁, P₂: batch_size × the first layer's width each) of
    ``batch_size`` samples are held at once (fewer on a grid so fine that their per-block
    sums would pass PARTIAL_BYTES); each batch is one ``landscape_losses`` call over the
    whole grid.

    The grid is symmetric about the trained weights, so with an odd ``steps`` its centre
    is ``net.evaluate(X, y)['loss']`` (to float rounding: the tail's layers sum in their
    own order; the result does not depend on the thread count). ``net`` is left as it
    was, also on error.
    """
    steps = checks.integer("steps", steps, 1)
    span = checks.real("span", span, 0.0)
    batch_size = checks.integer("batch_size", batch_size, 1)
    rng = np.random.default_rng(checks.seed("seed", seed))
    directions = np.stack([filter_normalised_direction(net, rng) for _ in range(2)])
    alphas = span * (2 * np.arange(steps) - (steps - 1)) / max(steps - 1, 1)  # centre 0 exactly
    betas = alphas.copy()
    X, _ = as_input(net, X)
    start = time.perf_counter()
    values = [_layer_values(net, flat) for flat in (net.params, *directions)]
    tw0, tw1, tw2, tbias, tslope, acts, widths = _tail_arrays(net, values, net.dtype)
    first = net.layers[0]
    bias = np.ascontiguousarray(values[0][0][1], net.dtype)
    slope = np.ascontiguousarray(values[0][0][2], net.dtype).reshape(1, -1)
    n, H, K = len(X), first.out_features, net.n_outputs
    T = encode_targets(net, y, n)
    slots = numba.get_num_threads()
    wa, w = (np.empty((slots, tw0.size), net.dtype) for _ in range(2))
    v = np.empty((slots, BLOCK, H), net.dtype)
    u1, z1 = (np.empty((slots, BLOCK, H), net.dtype) for _ in range(2))
    u, z = (np.empty((slots, BLOCK, tbias.size), net.dtype) for _ in range(2))
    dz = np.empty((slots, K), net.dtype)
    loss_sum = np.zeros((steps, steps))
    batch_size = min(batch_size, max(1, PARTIAL_BYTES // (8 * steps * steps)) * BLOCK)
    for s in range(0, n, batch_size):
        u0, p1, p2 = _first_layer_products(net, values, X[s:s + batch_size])
        partial = np.empty((-(-len(u0) // BLOCK), steps, steps))
        landscape_losses(loss_sum, partial, wa, w, v, u1, z1, u, z, dz, u0, p1, p2, bias,
                         slope, tw0, tw1, tw2, tbias, tslope,
                         np.ascontiguousarray(T[s:s + batch_size], net.dtype), alphas, betas, acts,
                         widths, net.loss_kind, BLOCK)
    return Landscape(alphas, betas, loss_sum / n, np.stack([net.canonical(d) for d in directions]),
                     time.perf_counter() - start)


def plot_landscape(land, path, title="loss landscape"):
    """A PNG with the contour map (left) and the 3-D surface (right) of ``land``."""
    from .plots import _figure
    fig = _figure(12, 5)
    A, B = np.meshgrid(land.alphas, land.betas, indexing="ij")
    ax = fig.add_subplot(1, 2, 1)
    levels = np.quantile(land.loss[np.isfinite(land.loss)], np.linspace(0, 1, 25))
    cs = ax.contour(A, B, land.loss, levels=np.unique(levels), cmap="viridis")
    ax.clabel(cs, cs.levels[::4], fontsize=7, fmt="%.3g")
    ax.plot(0, 0, "r*", ms=10, label=f"trained weights, loss {land.centre:.4g}")
    ax.set(xlabel="α (direction 1)", ylabel="β (direction 2)", title=title, aspect="equal")
    ax.legend(loc="upper right", fontsize=8)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    ax3.plot_surface(A, B, np.minimum(land.loss, np.nanmax(levels)), cmap="viridis",
                     linewidth=0, antialiased=True)
    ax3.set(xlabel="α", ylabel="β", zlabel="loss", title="surface")
    fig.savefig(path, dpi=100)
    return path
