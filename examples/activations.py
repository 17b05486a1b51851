"""Every activation of fastnet and its derivative side by side, and where the derivative
vanishes.

    python examples/activations.py [--out activations.png] [--points 801]

f(u) and f'(u) on [-6, 6] for identity, sigmoid, tanh, ReLU, leaky ReLU, PReLU, RReLU,
swish and softmax (of the pair (u, 0), whose first output is σ(u)). The shaded band is
where |f'(u)| < 0.01: a unit sitting there passes (almost) no gradient back. The curves
come from ``fastnet.explain``'s NumPy activations, checked against fastnet's kernels (a
one-unit network with W = 1, b = 0) and, for f', against central finite differences; and
tanh u = 2σ(2u) - 1 is checked numerically.
"""
import numpy as np

from _common import save, start
import fastnet as fn  # after _common: found in this checkout even when not installed
from fastnet.explain import activate, derivative, sigmoid
from fastnet.layers import ACTIVATIONS

VANISH = 0.01


def curves(name, u):
    """(f(u), f'(u)) of the activation ``name`` at its inference slope; softmax on (u, 0)."""
    if name == "softmax":
        y = activate("softmax", np.stack([u, np.zeros_like(u)], axis=1))[:, 0]
        return y, y * (1 - y)            # ∂y_1/∂u_1 = y_1 (1 - y_1)
    slope = fn.Dense(1, 1, name).inference_slope()
    z = activate(name, u, slope)
    return z, derivative(name, u, z, slope)


def kernel_forward(name, u):
    """f(u) by fastnet's forward kernels: a 1-1 network with W = 1, b = 0 (softmax: 1-2,
    W = (1, 0)ᵀ, the first output)."""
    if name == "softmax":
        net = fn.Network([fn.Dense(1, 2, "softmax")], dtype=np.float64)
        net.layers[0].W[...] = [[1], [0]]
    else:
        net = fn.Network([fn.Dense(1, 1, name)], loss="sum_of_squares", dtype=np.float64)
        net.layers[0].W[...] = 1
    return net.predict_proba(u.reshape(-1, 1))[:, 0]


def main(argv=None):
    args, plt = start(__doc__, "activations.png", argv, [("--points", int, 801, "points on [-6, 6]")])
    u = np.linspace(-6, 6, args.points)
    h = 1e-6
    print(f"{'activation':<12}{'max |f - kernel|':>18}{'max |f′ - FD|':>16}   f′ < {VANISH} on")
    rows = {}
    for name in ACTIVATIONS:
        z, dz = curves(name, u)
        fd = (curves(name, u + h)[0] - curves(name, u - h)[0]) / (2 * h)
        kink = np.abs(u) < 2 * h            # ReLU family: no derivative at 0
        kern = np.abs(z - kernel_forward(name, u)).max()
        err = np.abs(dz - fd)[~kink].max()
        assert kern < 1e-12 and err < 1e-6, (name, kern, err)
        flat = np.abs(dz) < VANISH
        where = "nowhere" if not flat.any() else (f"{100 * flat.mean():.0f}% of [-6, 6]")
        print(f"{name:<12}{kern:>18.1e}{err:>16.1e}   {where}")
        rows[name] = (z, dz, flat)
    tanh_err = np.abs(np.tanh(u) - (2 * sigmoid(2 * u) - 1)).max()
    assert tanh_err < 1e-14
    print(f"tanh u = 2σ(2u) - 1: max difference {tanh_err:.1e} over {args.points} points")
    print("What the figure shows: each panel draws an activation f (solid) and its derivative "
          "f' (dashed); back-propagation multiplies δ by f'(u), so where the shaded band lies "
          "(|f'| < 0.01) a unit learns nothing. Sigmoid and tanh saturate on both sides and "
          "σ' never exceeds 1/4; ReLU's derivative is 0 for every u < 0 (a unit that never "
          "fires is dead), while leaky ReLU, PReLU and RReLU keep a small slope there and swish's "
          "derivative fades to 0 only slowly.")

    fig, axes = plt.subplots(3, 3, figsize=(13, 10), layout="constrained")
    for ax, name in zip(axes.flat, ACTIVATIONS):
        z, dz, flat = rows[name]
        ax.fill_between(u, -1.5, 6.5, where=flat, color="0.88", label=f"|f'| < {VANISH}")
        ax.plot(u, z, lw=2, label="f(u)")
        ax.plot(u, dz, "--", lw=2, label="f'(u)")
        if name == "rrelu":
            lo, hi = fn.Dense(1, 1, "rrelu").rrelu_range
            ax.fill_between(u[u < 0], lo * u[u < 0], hi * u[u < 0], alpha=0.3, color="C0",
                            label="training: slope drawn in [1/8, 1/3]")
        label = "softmax of (u, 0): y₁ = σ(u)" if name == "softmax" else name
        ax.set(title=label, ylim=(-1.5, 6.5 if name in ("identity", "relu", "leaky_relu",
                                                          "prelu", "rrelu", "swish") else 1.5))
        ax.axhline(0, color="0.5", lw=0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Activations f (solid) and derivatives f' (dashed); shaded: the gradient vanishes")
    save(fig, args.out)


if __name__ == "__main__":
    main()
