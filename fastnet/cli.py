"""Command line: ``fastnet train|resume|evaluate|predict|plot|sweep`` (or ``python -m fastnet``).

``main(argv)`` returns the exit code (0 ok, 1 error, 2 usage, 130 interrupted) instead
of calling ``sys.exit`` and keeps no global state (besides Numba's thread count). The
train options, building and running a run live in ``fastnet.runs``; this module parses
arguments, prints results and dispatches the commands.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from . import catalogue, plots, precompile, runs, sweeps
from .callbacks import read_history_csv
from .images import load_inputs
from .io import load
from .runs import RunError


class _Parser(argparse.ArgumentParser):
    """Usage errors as ``fastnet: error: --option: ...`` (exit code 2)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"fastnet: error: {message.removeprefix('argument ')}\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it is None (its help says what None means)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def _argtype(parse):
    """An argparse ``type`` of a ``runs`` parser (ValueError -> a usage error)."""
    def convert(text):
        try:
            return parse(text)
        except (TypeError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = parse.__name__
    return convert


_positive_int = _argtype(runs.integer(1))



def build_parser():
    parser = _Parser(
        prog="fastnet", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train and use feed-forward networks on MNIST with Numba loop kernels.",
        epilog="examples:\n"
               "  fastnet train --epochs 5 --out runs/mlp\n"
               "  fastnet resume runs/mlp            # after Ctrl-C or a crash\n"
               "  fastnet evaluate runs/mlp/best.npz\n"
               "  fastnet predict runs/mlp/model.npz digit.png\n"
               "  fastnet plot runs/mlp\n"
               "  fastnet sweep sweep.toml           # hyper-parameter sweep on Dask\n\n"
               "`fastnet COMMAND --help` lists the options of each command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", formatter_class=_Formatter,
                       help="train an MLP on MNIST into a run folder",
                       description="Train an MLP on MNIST. Writes RUN_DIR/config.json, "
                       "history.csv, checkpoint.npz (every epoch), best.npz (best "
                       "validation accuracy) and model.npz (final). Ctrl-C saves a "
                       "checkpoint; `fastnet resume RUN_DIR` continues.")
    _train_arguments(t)

    r = sub.add_parser("resume", formatter_class=_Formatter,
                       help="continue a run from its last checkpoint",
                       description="Continue RUN_DIR from checkpoint.npz with the options in "
                       "its config.json. With the same thread count the result is identical "
                       "to an uninterrupted run.")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("--threads", type=_positive_int, default=None,
                   help="Numba threads (default: the run's; a different count may change "
                        "the last bits of the result)")
    _output_flags(r)

    e = sub.add_parser("evaluate", formatter_class=_Formatter,
                       help="test loss, accuracy, per-class precision/recall, confusion matrix",
                       description="Evaluate a model on the MNIST test set.")
    e.add_argument("model", metavar="MODEL", help="a .npz model file or a run folder")
    e.add_argument("--limit", type=_positive_int, default=None,
                   help="use the first N test samples only")

    p = sub.add_parser("predict", formatter_class=_Formatter,
                       help="classify PNG/JPEG digits or .npy arrays",
                       description="Print the digit and its probabilities for each input. "
                       "Images of any size are made MNIST-like: grayscale, inverted when the "
                       "background is light, cropped, scaled into 20x20 and centred by mass "
                       "in 28x28. An .npy file may hold (784,), (28, 28), (n, 784) or "
                       "(n, 28, 28) pixels (uint8 0..255 or floats 0..1).")
    p.add_argument("model", metavar="MODEL", help="a .npz model file or a run folder")
    p.add_argument("inputs", metavar="IMAGE", nargs="+", help="PNG/JPEG image or .npy array")

    q = sub.add_parser("plot", formatter_class=_Formatter,
                       help="PNG plots: learning curves, confusion matrix, misclassified digits",
                       description="Write loss.png, accuracy.png, confusion.png and "
                       "misclassified.png for a run folder.")
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("--model", default=None, help="model file (default RUN_DIR/model.npz)")
    q.add_argument("--out", default=None, help="folder for the PNGs (default RUN_DIR)")
    q.add_argument("--limit", type=_positive_int, default=None,
                   help="use the first N test samples only")

    s = sub.add_parser("sweep", formatter_class=_Formatter,
                       help="grid or random search over train options on Dask distributed",
                       description="Run one `fastnet train` per trial of SPEC (a TOML file "
                       "with [sweep] method/out, [base] fixed train options and [grid] or "
                       "[random] swept ones; see fastnet.sweepspec) in parallel on Dask, each "
                       "into its own run folder, skipping trials finished earlier. Writes "
                       "results.csv and sweep.png into the sweep folder. Needs "
                       'pip install "fastnet[sweep]".')
    s.add_argument("spec", metavar="SPEC.toml")
    s.add_argument("--out", default=None,
                   help="sweep folder (default: [sweep] out, else runs/<SPEC name>)")
    s.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="submit to this Dask scheduler instead of starting a local cluster")
    s.add_argument("--workers", type=_positive_int, default=None,
                   help="local cluster workers, one Numba thread each (default: one per "
                        "core)")
    s.add_argument("--dry-run", action="store_true",
                   help="list the trials and whether they are finished; run nothing")
    _output_flags(s)
    c = sub.add_parser("compile", formatter_class=_Formatter,
                       help="compile and cache the kernels a typical run uses",
                       description="Compile every kernel a typical run calls (float32 "
                       "networks of any activation, loss and optimizer; uint8 or float "
                       "inputs) into Numba's cache, in parallel: for a Docker image, a CI "
                       "cache or each node of a cluster (NUMBA_CACHE_DIR picks the folder). "
                       "A float64 network still compiles on its first run.")
    c.add_argument("--workers", type=_positive_int, default=None,
                   help="compile in this many processes at once (default: one per core)")
    add_learn_commands(sub)
    return parser


def _train_arguments(parser):
    """The options of `fastnet train`: the table runs.TRAIN_OPTIONS, then the output ones."""
    groups = {}
    for option in runs.TRAIN_OPTIONS.values():
        default = option.default   # a list as its text: --help shows 784,256,10
        if isinstance(default, list):
            default = ",".join(map(str, default))
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(option.group)
        groups[option.group].add_argument(option.flag, type=_argtype(option.parse),
                                          default=default, help=option.help,
                                          metavar=option.metavar)
    g = groups["training"]
    g.add_argument("--threads", type=_positive_int, default=None,
                   help="Numba threads (default: NUMBA_NUM_THREADS or all cores)")
    g = parser.add_argument_group("output")
    g.add_argument("--out", default=None, metavar="RUN_DIR",
                   help="run folder (default runs/<date-time>)")
    g.add_argument("--force", action="store_true",
                   help="overwrite a run folder that already holds a run")
    _output_flags(g)


def _output_flags(group):
    group.add_argument("--no-progress", action="store_true",
                       help="no progress bar (one line per epoch only)")
    group.add_argument("--quiet", action="store_true", help="no progress bar, no epoch lines")


# ---------------------------------------------------------------- commands
def _model_path(path):
    path = Path(path)
    return path / "model.npz" if path.is_dir() else path


def _load_model(path):
    net = load(_model_path(path))
    if net.n_inputs != runs.MNIST_PIXELS:
        raise RunError(f"{path}: the model takes {net.n_inputs} inputs; MNIST images have "
                       f"{runs.MNIST_PIXELS}")
    return net


def _test_set(limit):
    _, _, X, y = runs.load_data()
    return (X[:limit], y[:limit]) if limit else (X, y)


def train(args):
    options = {name: getattr(args, name) for name in runs.TRAIN_OPTIONS}
    return runs.train(options, out=args.out, threads=args.threads, force=args.force,
                      quiet=args.quiet, progress=not args.no_progress)


def resume(args):
    return runs.resume(args.run_dir, threads=args.threads, quiet=args.quiet,
                       progress=not args.no_progress)


def evaluate(args):
    net = _load_model(args.model)
    X, y = _test_set(args.limit)
    result = net.evaluate(X, runs.targets(net, y))
    pred = net.predict(X)
    if pred.ndim == 2:
        pred = net.predict_proba(X).argmax(axis=1)
    k = max(net.n_outputs, 10)
    cm = plots.confusion_matrix(y, pred, k)
    print(f"{_model_path(args.model)}: {len(y)} MNIST test images")
    print(f"loss {result['loss']:.4f}   accuracy {100 * np.trace(cm) / cm.sum():.2f}%\n")
    print(f"{'class':>5} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for c in range(k):
        tp, col, row = cm[c, c], cm[:, c].sum(), cm[c].sum()
        prec = tp / col if col else 0.0
        rec = tp / row if row else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        print(f"{c:>5} {prec:>9.4f} {rec:>7.4f} {f1:>6.4f} {row:>7}")
    print("\nconfusion matrix (rows: true class, columns: predicted)")
    print("      " + "".join(f"{j:>6}" for j in range(k)))
    for i in range(k):
        print(f"{i:>6}" + "".join(f"{cm[i, j]:>6}" for j in range(k)))
    return 0


def predict(args):
    net = _load_model(args.model)
    for path in args.inputs:
        X = load_inputs(path, net.n_inputs)
        proba = net.predict_proba(X)
        for r, p in enumerate(proba):
            name = path if len(proba) == 1 else f"{path}[{r}]"
            digit = int(np.argmax(p))
            probs = " ".join(f"{c}:{v:.3f}" for c, v in enumerate(p))
            print(f"{name}: {digit}  (p={p[digit]:.3f})   {probs}")
    return 0


def plot(args):
    run = Path(args.run_dir)
    if not (run / "history.csv").is_file():
        raise RunError(f"{run} is not a run folder (no history.csv)")
    out = Path(args.out or run)
    out.mkdir(parents=True, exist_ok=True)
    history = read_history_csv(run / "history.csv")
    written = [plots.plot_curves(history, out / "loss.png", "loss")]
    if "accuracy" in history:
        written.append(plots.plot_curves(history, out / "accuracy.png", "accuracy"))
    net = _load_model(args.model or run / "model.npz")
    X, y = _test_set(args.limit)
    proba = net.predict_proba(X)
    pred = proba.argmax(axis=1)
    written.append(plots.plot_confusion(plots.confusion_matrix(y, pred, net.n_outputs),
                                        out / "confusion.png"))
    written.append(plots.plot_misclassified(X, y, pred, out / "misclassified.png"))
    print("wrote " + " ".join(str(p) for p in written))
    return 0


def sweep(args):
    if args.dry_run:
        out, _, trials = sweeps.plan(args.spec, args.out)
        for trial in trials:
            state = "finished" if sweeps.finished(out / trial.name, trial) else "to run"
            print(f"{state:>8}  {sweeps.shown(out / trial.name)}  {' '.join(trial.argv)}")
        return 0
    try:
        sweeps.sweep(args.spec, out=args.out, scheduler=args.scheduler, workers=args.workers,
                     progress=not (args.quiet or args.no_progress), verbose=not args.quiet)
    except ConnectionError as e:
        raise RunError(str(e)) from None
    except KeyboardInterrupt:
        print("\nfastnet: sweep interrupted; finished trials are kept and the same command "
              "runs the others", file=sys.stderr)
        return 130
    return 0


def compile_kernels(args):
    seconds = precompile.compile_typical(args.workers)
    print(f"fastnet: kernels compiled and cached in {seconds:.1f} s" if seconds else
          "fastnet: every kernel was already cached")
    return 0


COMMANDS = {"train": train, "resume": resume, "evaluate": evaluate, "predict": predict,
            "plot": plot, "sweep": sweep, "compile": compile_kernels}


def main(argv=None):
    """Run the command line; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error argparse already printed
        return e.code if isinstance(e.code, int) else 2
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("fastnet: interrupted", file=sys.stderr)
        return 130
    except (RunError, ValueError, TypeError, FileNotFoundError, ImportError) as e:
        print(f"fastnet: error: {e}", file=sys.stderr)
        return 1


# ---------------------------------------------------------------- learn what it computes
def add_learn_commands(sub):
    """`fastnet explain` (fastnet.explain) and `fastnet landscape` (fastnet.landscape)."""
    x = sub.add_parser("explain", formatter_class=_Formatter,
                       help="print one training step as equations with numbers",
                       description="Print one SGD step on one sample: per layer u = W x + b "
                       "and z = f(u), the loss, the output δ, the δ rule downwards, ∂W, ∂b, "
                       "∂x, the update, and a finite-difference check of each gradient. "
                       "Without MODEL: a small seeded 4-3-2 network on a toy sample; with "
                       "MODEL: that model on an MNIST test image.")
    x.add_argument("model", metavar="MODEL", nargs="?", default=None,
                   help="a .npz model file or a run folder (default: a 4-3-2 network)")
    x.add_argument("--sample", type=_argtype(runs.integer(0)), default=0, help="which sample (MNIST test index)")
    x.add_argument("--lr", type=_argtype(runs.real(0, low_open=True)), default=0.1, help="learning rate η of the update")
    x.add_argument("--activation", default="tanh", choices=catalogue.HIDDEN_ACTIVATIONS, help="hidden activation of the 4-3-2 net")
    x.add_argument("--loss", default="softmax_cross_entropy", choices=catalogue.LOSS_NAMES,
                   help="loss of the 4-3-2 net")
    x.add_argument("--seed", type=_argtype(runs.integer(0)), default=0, help="seeds the 4-3-2 net and its sample")
    g = sub.add_parser("landscape", formatter_class=_Formatter,
                       help="loss surface around a model along two random directions",
                       description="Evaluate the MNIST test loss on a STEPS x STEPS grid "
                       "around the model's weights along two random filter-normalised "
                       "directions (Li et al. 2018); write OUT/landscape.npz and "
                       "OUT/landscape.png (contour and 3-D surface; needs matplotlib).")
    g.add_argument("model", metavar="MODEL", help="a .npz model file or a run folder")
    g.add_argument("--out", default=".", help="folder for landscape.png and landscape.npz")
    g.add_argument("--steps", type=_positive_int, default=51, help="grid points per axis")
    g.add_argument("--span", type=_argtype(runs.real(0, low_open=True)), default=1.0, help="the grid covers [-SPAN, SPAN]²")
    g.add_argument("--limit", type=_positive_int, default=None,
                   help="use the first N test samples only")
    g.add_argument("--seed", type=_argtype(runs.integer(0)), default=0, help="seeds the two directions")


def explain_command(args):
    import numpy as np

    from .explain import explain, toy_problem
    if args.model is None:
        net, X, d = toy_problem(args.activation, args.loss, args.seed)
    else:
        net = _load_model(args.model)
        _, _, X, y = runs.load_data()
        d = runs.targets(net, y)
        X = X.astype(np.float64) / 255
    if not 0 <= args.sample < len(X):
        raise RunError(f"--sample must be in [0, {len(X)}), got {args.sample}")
    print(explain(net, X[args.sample], d[args.sample], lr=args.lr))
    return 0


def landscape_command(args):
    from .landscape import loss_landscape, plot_landscape
    net = _load_model(args.model)
    X, y = _test_set(args.limit)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    land = loss_landscape(net, X, runs.targets(net, y), steps=args.steps, span=args.span,
                          seed=args.seed)
    land.save(out / "landscape.npz")
    print(f"{args.steps}x{args.steps} grid over {len(X)} test samples in {land.seconds:.1f} s: "
          f"loss {land.centre:.4f} at the model, {land.loss.min():.4f} to "
          f"{land.loss.max():.4g} within ±{args.span:g}")
    print(f"wrote {out / 'landscape.npz'} {plot_landscape(land, out / 'landscape.png')}")
    return 0


COMMANDS.update(explain=explain_command, landscape=landscape_command)


if __name__ == "__main__":
    sys.exit(main())
