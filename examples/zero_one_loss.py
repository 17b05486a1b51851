"""Why the 0-1 loss cannot train a classifier and cross-entropy can: both as a function of
one weight.

    python examples/zero_one_loss.py [--out zero_one_loss.png] [--samples 40]

A logistic unit y = σ(w₁ x₁ + w₂ x₂ + b) (a fastnet Network with one sigmoid output and
binary cross-entropy) on two overlapping Gaussian classes. Holding w₂ and b, we sweep w₁:
the 0-1 loss (the fraction misclassified, 1 - accuracy) is a staircase, flat between
jumps, so its derivative is 0 almost everywhere and undefined at the jumps: gradient
descent gets no signal. The cross-entropy is smooth, and its slope ∂L/∂w₁ (from
``net.loss_and_gradient``) points to better weights everywhere.
"""
import numpy as np

from _common import data_rng, save, start
import fastnet as fn  # after _common: found in this checkout even when not installed


def main(argv=None):
    args, plt = start(__doc__, "zero_one_loss.png", argv,
                      [("--samples", int, 40, "data points, few so that the steps show"),
                       ("--points", int, 601, "values of w1")])
    rng = data_rng(args.seed)
    y = rng.integers(0, 2, args.samples)
    X = rng.standard_normal((args.samples, 2)) + np.where(y[:, None] == 1, 1.0, -1.0) * [1.0, 0.3]
    net = fn.Network([fn.Dense(2, 1, "sigmoid")], loss="binary_cross_entropy",
                     dtype=np.float64, seed=args.seed)
    net.layers[0].W[...] = [[0.0, 0.5]]
    net.layers[0].b[...] = 0.1

    w1 = np.linspace(-4, 4, args.points)
    zero_one, ce, slope = (np.empty_like(w1) for _ in range(3))
    for i, w in enumerate(w1):
        net.layers[0].W[0, 0] = w
        r = net.evaluate(X, y)
        zero_one[i], ce[i] = 1 - r["accuracy"], r["loss"]
        net.loss_and_gradient(X, y)
        slope[i] = net.layers[0].dW[0, 0]
    steps = np.diff(zero_one)
    flat = np.mean(steps == 0)
    best = w1[np.argmin(ce)]
    print(f"0-1 loss: {100 * flat:.0f}% of the steps between neighbouring w₁ leave it unchanged "
          f"(derivative 0), it jumps {np.count_nonzero(steps)} times; cross-entropy: smooth, "
          f"minimum at w₁ = {best:.2f}, where the 0-1 loss is {zero_one[np.argmin(ce)]:.3f}")
    print("What the figure shows: the 0-1 loss (left) is a staircase in w₁, flat almost "
          "everywhere, so its gradient tells gradient descent nothing. The cross-entropy "
          "(middle) falls smoothly towards the weights that separate the classes, and its "
          "derivative (right, from fastnet's backward pass) is non-zero wherever the loss "
          "can still improve.")

    fig, ax = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
    ax[0].step(w1, zero_one, where="mid", color="C3")
    ax[0].set(title="0-1 loss (fraction misclassified)", xlabel="w₁", ylabel="loss")
    ax[1].plot(w1, ce, color="C0")
    ax[1].axvline(best, color="0.5", ls=":", label=f"minimum, w₁ = {best:.2f}")
    ax[1].set(title="binary cross-entropy", xlabel="w₁")
    ax[1].legend()
    ax[2].plot(w1, slope, color="C0", label="∂(cross-entropy)/∂w₁")
    ax[2].plot(w1[1:], steps / np.diff(w1), color="C3", lw=0.8,
               label="Δ(0-1 loss)/Δw₁: 0, then spikes")
    ax[2].set(title="derivative along w₁", xlabel="w₁", ylim=(-1, 1))
    ax[2].legend(fontsize=8)
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle("One weight of a logistic unit: the 0-1 loss gives no gradient, "
                 "cross-entropy does")
    save(fig, args.out)


if __name__ == "__main__":
    main()
