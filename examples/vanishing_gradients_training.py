"""Vanishing gradients during training, not only at initialisation: per-layer gradient
norms over the epochs for sigmoid, tanh and ReLU, and the accuracy they lead to.

    python examples/vanishing_gradients_training.py [--out vanishing_gradients_training.png]
        [--limit 5000] [--epochs 10] [--depth 6] [--width 32] [--small]

Three MNIST networks with ``--depth`` hidden layers of ``--width`` units, the same
except for the hidden activation (default initialisers: Xavier for sigmoid and tanh, He
for ReLU), trained with plain SGD on the first ``--limit`` training images.
``fit(record=("grad_norm",))`` records ‖∂L/∂W_l‖ of every layer on a fixed probe batch
before training and after every epoch (``fastnet.monitor``); the test accuracy is recorded
per epoch.
``--small`` runs a tiny version in seconds (for the tests).
"""
import numpy as np

from _common import parser, pyplot, save
import fastnet as fn  # after _common: found in this checkout even when not installed

ACTIVATIONS = ("sigmoid", "tanh", "relu")


def train(activation, X, y, X_test, y_test, args):
    """(per-layer records, test accuracy per epoch) of one network."""
    sizes = [X.shape[1]] + [args.width] * args.depth
    layers = [fn.Dense(sizes[i], sizes[i + 1], activation) for i in range(args.depth)]
    net = fn.Network(layers + [fn.Dense(args.width, 10)], seed=args.seed)
    history = net.fit(X, y, epochs=args.epochs, batch_size=32, optimizer=fn.SGD(args.lr),
                      validation_data=(X_test, y_test), seed=args.seed, verbose=False,
                      record=("grad_norm",))
    return history.records, np.array(history["val_accuracy"])


def main(argv=None):
    p = parser(__doc__, "vanishing_gradients_training.png", epochs=10,
               options=[("--limit", int, 5000, "training images"),
                        ("--depth", int, 6, "hidden layers"),
                        ("--width", int, 32, "units per hidden layer"),
                        ("--lr", float, 0.05, "SGD learning rate")])
    p.add_argument("--small", action="store_true",
                   help="500 images, 2 epochs, 4 hidden layers of 16: a quick check")
    args = p.parse_args(argv)
    plt = pyplot()
    if args.small:
        args.limit, args.epochs, args.depth, args.width = 500, 2, 4, 16
    (X, y), (X_test, y_test) = fn.load_mnist()
    X, y, X_test, y_test = X[:args.limit], y[:args.limit], X_test[:2000], y_test[:2000]

    runs = {a: train(a, X, y, X_test, y_test, args) for a in ACTIVATIONS}
    print(f"‖∂L/∂W_l‖ of layer 1 (next to the input) / layer {args.depth} (last hidden), "
          f"before training and after epoch {args.epochs}; test accuracy:")
    for a, (h, acc) in runs.items():
        g = h["grad_norm"]
        print(f"  {a:<8} {g[0, 0] / g[0, -2]:9.2e} -> {g[-1, 0] / g[-1, -2]:9.2e}    "
              f"accuracy {100 * acc[-1]:.1f}%")
    print("What the figure shows: with sigmoid the gradient reaching the first layers is "
          "orders of magnitude smaller than at the output, before and throughout training, "
          "because every layer multiplies δ by σ'(u) ≤ 1/4; those layers barely move and "
          "the accuracy stays near chance (10%) for many epochs. With tanh and ReLU the per-layer gradient norms stay "
          "within a small factor of each other and the network learns within a few epochs.")

    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), layout="constrained")
    for ax, (a, (h, _)) in zip(axes.flat, runs.items()):
        for layer in range(h["grad_norm"].shape[1]):
            ax.semilogy(h["epoch"], h["grad_norm"][:, layer], marker=".",
                        color=f"C{layer}", label=f"layer {layer + 1}")
        ax.set(title=f"{a}: ‖∂L/∂W_l‖ per layer", xlabel="epoch (0 = before training)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    ax = axes[1, 1]
    for a, (_, acc) in runs.items():
        ax.plot(np.arange(1, len(acc) + 1), 100 * acc, marker="o", label=a)
    ax.set(title="test accuracy", xlabel="epoch", ylabel="%")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.suptitle(f"{args.depth} hidden layers of {args.width}, SGD lr {args.lr:g}, "
                 f"{args.limit} MNIST images: gradients per layer during training")
    save(fig, args.out)


if __name__ == "__main__":
    main()
