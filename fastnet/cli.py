"""Command line: ``fastnet train`` (also ``python -m fastnet train``)."""
import argparse
import os
import sys


def _int_list(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"need at least two positive sizes, got {text!r}")
    return sizes


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnet", description="Train feed-forward networks with Numba loop kernels.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    t = sub.add_parser("train", help="train an MLP on MNIST and report test accuracy",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--layers", type=_int_list, default=[784, 256, 10],
                   help="layer sizes, input first, classes last")
    t.add_argument("--activation", default="relu", help="hidden-layer activation")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--optimizer", default="sgd",
                   choices=["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
    t.add_argument("--lr", type=float, default=0.1, help="base learning rate")
    t.add_argument("--momentum", type=float, default=0.9, help="momentum for sgd")
    t.add_argument("--weight-decay", type=float, default=2e-4, help="L2 penalty λ")
    t.add_argument("--schedule", default="cosine", choices=["constant", "step", "cosine"],
                   help="learning-rate schedule over the epochs")
    t.add_argument("--validation-split", type=float, default=0.0,
                   help="fraction of the training set held out; 0 reports the test set each epoch")
    t.add_argument("--seed", type=int, default=0, help="seeds weights, shuffling and splits")
    t.add_argument("--threads", type=int, default=None,
                   help="Numba threads (default: NUMBA_NUM_THREADS or all cores)")
    t.add_argument("--limit", type=int, default=None, help="train on the first N samples only")
    return parser


def _optimizer(args):
    from . import optimizers as O
    schedule = {"constant": O.Constant(), "step": O.StepDecay(max(1, args.epochs // 3), 0.1),
                "cosine": O.Cosine(max(1, args.epochs))}[args.schedule]
    common = dict(lr=args.lr, weight_decay=args.weight_decay, schedule=schedule)
    if args.optimizer == "sgd":
        return O.SGD(momentum=args.momentum, **common)
    if args.optimizer in ("momentum", "nesterov"):
        return O.SGD(momentum=args.momentum or 0.9, nesterov=args.optimizer == "nesterov", **common)
    return O.make_optimizer(dict(name=args.optimizer, **common))


def train(args):
    import numba

    from . import Dense, Network, load_mnist
    if args.threads is not None:
        if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
            raise SystemExit(f"--threads must be in [1, {numba.config.NUMBA_NUM_THREADS}], "
                             f"got {args.threads}")
        numba.set_num_threads(args.threads)
    sizes = args.layers
    layers = [Dense(sizes[i], sizes[i + 1], activation=args.activation)
              for i in range(len(sizes) - 2)]
    layers.append(Dense(sizes[-2], sizes[-1]))
    net = Network(layers, loss="softmax_cross_entropy", seed=args.seed)
    (X, y), (X_test, y_test) = load_mnist()
    if args.limit:
        X, y = X[:args.limit], y[:args.limit]
    print(f"fastnet: MNIST {X.shape[0]} train / {X_test.shape[0]} test, layers "
          f"{'-'.join(map(str, sizes))} {args.activation}, {numba.get_num_threads()} threads")
    opt = _optimizer(args)
    print(f"optimizer {opt!r}, batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}")
    val = None if args.validation_split else (X_test, y_test)
    net.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, optimizer=opt,
            validation_split=args.validation_split, validation_data=val, seed=args.seed)
    result = net.evaluate(X_test, y_test)
    print(f"test loss {result['loss']:.4f}  test accuracy {100 * result['accuracy']:.2f}%")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return {"train": train}[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
