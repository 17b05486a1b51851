"""The loss around a network's weights along two random, filter-normalised directions
(Li et al., "Visualizing the Loss Landscape of Neural Nets", 2018):

    L(α, β) = loss(θ + α δ + β η),   α, β in [-span, span]

δ and η are Gaussian directions in parameter space whose every row ("filter": the
weights into one unit) is rescaled to the norm of the same row of W, so that the picture
does not depend on the scale of each layer's weights; biases and PReLU slopes stay put
(their direction is 0). Every grid point is one ``net.evaluate`` with the weights written
into ``net.params``: fastnet's own parallel forward kernels.
"""
import time
from dataclasses import dataclass

import numpy as np

from . import checks


@dataclass
class Landscape:
    """alphas, betas (steps,) the offsets; loss (steps, steps) with loss[i, j] at
    (alphas[i], betas[j]); directions (2, n_params) in the layout of ``net.params``."""
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


def loss_landscape(net, X, y, steps=51, span=1.0, seed=0, batch_size=1024):
    """``Landscape`` of the mean loss of ``net`` on (X, y) over a steps × steps grid.

    The grid is symmetric about the trained weights, so with an odd ``steps`` its centre
    is ``net.evaluate(X, y)['loss']``. The weights are restored afterwards, also on error.
    """
    steps = checks.integer("steps", steps, 1)
    span = checks.real("span", span, 0.0)
    rng = np.random.default_rng(checks.seed("seed", seed))
    directions = np.stack([filter_normalised_direction(net, rng) for _ in range(2)])
    alphas = np.linspace(-span, span, steps)
    betas = np.linspace(-span, span, steps)
    loss = np.empty((steps, steps))
    X = np.asarray(X)
    if X.dtype.kind in "fi":   # converted once here, not by evaluate at every grid point
        X = np.ascontiguousarray(X, dtype=net.params.dtype)
    saved = net.params.copy()
    start = time.perf_counter()
    try:
        for i, a in enumerate(alphas):
            for j, b in enumerate(betas):
                net.params[...] = saved + a * directions[0] + b * directions[1]
                loss[i, j] = net.evaluate(X, y, batch_size=batch_size)["loss"]
    finally:
        net.params[...] = saved
    return Landscape(alphas, betas, loss, directions, time.perf_counter() - start)


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
