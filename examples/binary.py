"""Two moons, one decision boundary: binary classification with a sigmoid output.

    python examples/binary.py [--out binary.png] [--epochs 200] [--noise 0.15]

The two interleaved half-circles are made with NumPy. A 2-32-32-1 ReLU network with a
sigmoid output is trained on binary cross-entropy (computed from the logits; output
δ = σ(u) − d) through the same ``fit`` as every other task, and the PNG shows the data,
the predicted probability p(class 1 | x) and the boundary p = ½. Runs in seconds.
"""
import numpy as np

from _common import data_rng, save, start, training_curve
import fastnet as fn  # after _common: found in this checkout even when not installed


def two_moons(n, noise, rng):
    """n points on two interleaved half-circles with Gaussian noise; labels 0 / 1."""
    n0 = n // 2
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n - n0)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                        np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)])
    X += noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n - n0, np.int64)])
    return X, y


def main(argv=None):
    args, plt = start(__doc__, "binary.png", argv, [("--n", int, 400, "number of points")],
                      epochs=200, noise=0.15)
    rng = data_rng(args.seed)
    X, y = two_moons(args.n, args.noise, rng)
    X_test, y_test = two_moons(1000, args.noise, rng)
    net = fn.Network([fn.Dense(2, 32, activation="relu"), fn.Dense(32, 32, activation="relu"),
                      fn.Dense(32, 1, activation="sigmoid")],
                     loss="binary_cross_entropy", seed=args.seed)
    hist = net.fit(X, y, epochs=args.epochs, batch_size=32, seed=args.seed, verbose=False,
                   optimizer=fn.Adam(0.01, schedule=fn.Cosine(args.epochs, min_factor=0.05)))
    test = net.evaluate(X_test, y_test)
    print(f"2-32-32-1 ReLU/sigmoid net, {args.epochs} epochs: training loss "
          f"{hist['loss'][0]:.4f} -> {hist['loss'][-1]:.4f}, training accuracy "
          f"{100 * hist['accuracy'][-1]:.1f} %, accuracy on 1000 fresh points "
          f"{100 * test['accuracy']:.1f} %")

    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    prob = net.predict_proba(np.stack([gx.ravel(), gy.ravel()], 1))[:, 0].reshape(gx.shape)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1.4, 1]})
    cf = ax1.contourf(gx, gy, prob, levels=np.linspace(0, 1, 21), cmap="RdBu_r", alpha=0.45)
    ax1.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=2)
    for k, marker, color in ((0, "o", "#2166ac"), (1, "s", "#b2182b")):
        ax1.scatter(*X[y == k].T, s=14, marker=marker, c=color, edgecolors="k", linewidths=0.4,
                    label=f"class {k}")
    fig.colorbar(cf, ax=ax1, label="p(class 1 | x)")
    ax1.set(xlabel="x₁", ylabel="x₂",
            title=f"two moons: boundary p = ½ (test accuracy {100 * test['accuracy']:.1f} %)")
    ax1.legend(loc="lower left")
    training_curve(ax2, hist["loss"], "binary cross-entropy")
    save(fig, args.out)


if __name__ == "__main__":
    main()
