"""Universal approximation in one picture: a 1-hidden-layer net fits a noisy sin(2x) + x/2.

    python examples/regression.py [--out regression.png] [--hidden 32] [--epochs 600]

Trains Dense(1, H, tanh) -> Dense(H, 1) (identity output) on the sum of squares
½ Σ (y - d)², whose output δ is simply y - d, and writes a PNG with the data, the true
function, the fit, and the training curve. Runs in a few seconds on two cores.
"""
import numpy as np

from _common import data_rng, save, start, training_curve
import fastnet as fn  # after _common: found in this checkout even when not installed


def main(argv=None):
    args, plt = start(__doc__, "regression.png", argv, [("--hidden", int, 32, "hidden units")],
                      epochs=600, noise=0.15)
    rng = data_rng(args.seed)
    x = np.sort(rng.uniform(-np.pi, np.pi, 256))[:, None]
    d = np.sin(2 * x) + 0.5 * x + args.noise * rng.standard_normal(x.shape)

    # One input: Xavier's std √(2/(1+H)) would leave every tanh almost linear over
    # [-π, π]; He's √2 spreads the units' bends over the data, so the fit converges fast.
    net = fn.Network([fn.Dense(1, args.hidden, activation="tanh", init="he"),
                      fn.Dense(args.hidden, 1)], loss="sum_of_squares", seed=args.seed)
    hist = net.fit(x, d, epochs=args.epochs, batch_size=16, seed=args.seed, verbose=False,
                   optimizer=fn.Adam(0.05, schedule=fn.Cosine(args.epochs, min_factor=0.05)))

    grid = np.linspace(-np.pi, np.pi, 400)[:, None]
    truth = np.sin(2 * grid) + 0.5 * grid
    fit = net.predict(grid)
    rmse = float(np.sqrt(np.mean((fit - truth) ** 2)))
    print(f"1-{args.hidden}-1 tanh net, {args.epochs} epochs: training loss "
          f"{hist['loss'][0]:.4f} -> {hist['loss'][-1]:.4f}; RMSE to the noise-free function "
          f"{rmse:.3f} (noise std {args.noise})")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.scatter(x[:, 0], d[:, 0], s=8, color="0.6", label="noisy data")
    ax1.plot(grid[:, 0], truth[:, 0], "k--", lw=1, label="sin(2x) + x/2")
    ax1.plot(grid[:, 0], fit[:, 0], color="C3", lw=2, label=f"network (RMSE {rmse:.3f})")
    ax1.set(xlabel="x", ylabel="y", title=f"1-{args.hidden}-1 tanh network fit")
    ax1.legend(loc="upper left")
    training_curve(ax2, hist["loss"], "training loss  ½ mean ‖y − d‖²")
    ax2.axhline(0.5 * args.noise ** 2, color="k", ls="--", lw=1, label="noise floor ½σ²")
    ax2.legend()
    save(fig, args.out)


if __name__ == "__main__":
    main()
