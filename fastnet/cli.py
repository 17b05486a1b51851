"""Command line: ``fastnet train|resume|evaluate|predict|plot|sweep|compile|explain|landscape|export``
(or ``python -m fastnet``).

``main(argv)`` returns the exit code (0 ok, 1 error, 2 usage, 130 interrupted) instead
of calling ``sys.exit`` and keeps no global state (besides Numba's thread count). The
train options, building and running a run live in ``fastnet.runs``; this module parses
arguments, prints results and dispatches the commands.
"""
import argparse
import csv
import gc
import json
import os
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import catalogue, datasets, metrics, passes, plots, precompile, runs, sweeps
from .callbacks import read_history_csv
from .images import load_inputs
from .inputs import as_input, encode_targets, scaled
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
        description="Train and use feed-forward networks on MNIST or your own data "
                    "(--data) with Numba loop kernels.",
        epilog="examples:\n"
               "  fastnet train --epochs 5 --out runs/mlp\n"
               "  fastnet train --data train.csv --target species --out runs/mine\n"
               "  fastnet resume runs/mlp            # after Ctrl-C or a crash\n"
               "  fastnet evaluate runs/mlp/best.npz\n"
               "  fastnet predict runs/mlp/model.npz digit.png\n"
               "  fastnet plot runs/mlp\n"
               "  fastnet sweep sweep.toml           # hyper-parameter sweep on Dask\n"
               "  fastnet compile                    # cache the kernels (Docker, CI)\n"
               "  fastnet explain                    # one training step as equations\n"
               "  fastnet landscape runs/mlp --out runs/mlp   # loss surface plot\n"
               "  fastnet export runs/mlp mlp.onnx   # ONNX graph\n\n"
               "`fastnet COMMAND --help` lists the options of each command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", formatter_class=_Formatter,
                       help="train an MLP on MNIST or --data into a run folder",
                       description="Train an MLP on MNIST or your own --data (shapes, task "
                       "and scaling from the data). Writes RUN_DIR/config.json, "
                       "history.csv, checkpoint.npz (every epoch), best.npz (best "
                       "validation accuracy), model.npz (final), test.json (the test set, "
                       "evaluated once at the end) and timing.json (compile time). Ctrl-C "
                       "or SIGTERM saves a "
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
                       help="metrics of a model on its test data or --data",
                       description="Evaluate a model: per-class precision/recall/F1 and the "
                       "confusion matrix (classifiers), accuracy/precision/recall/F1/ROC AUC "
                       "(binary), RMSE/MAE/R² (regression). Default data: the test data its "
                       "run recorded (MNIST's test set for MNIST models).")
    e.add_argument("model", metavar="MODEL", help="a .npz model file or a run folder")
    _data_flags(e)

    p = sub.add_parser("predict", formatter_class=_Formatter,
                       help="classify PNG/JPEG digits, .npy arrays or CSV rows",
                       description="Print the class (its name, for models trained on string "
                       "labels) and the probabilities, or the regression values, for each "
                       "input row. A CSV file holds feature rows with a header. "
                       "Images of any size are made MNIST-like: grayscale, inverted when the "
                       "background is light, cropped, scaled into 20x20 and centred by mass "
                       "in 28x28. An .npy file may hold (784,), (28, 28), (n, 784) or "
                       "(n, 28, 28) pixels (uint8 0..255 or floats 0..1).")
    p.add_argument("model", metavar="MODEL", help="a .npz model file or a run folder")
    p.add_argument("inputs", metavar="FILE", nargs="+",
                   help="PNG/JPEG image, .npy array, or CSV of feature rows with a header")
    p.add_argument("--show", default=None, metavar="DIR",
                   help="write the 28x28 input the model saw for each image to DIR")

    q = sub.add_parser("plot", formatter_class=_Formatter,
                       help="PNG plots: learning curves, confusion matrix, misclassified digits",
                       description="Write loss.png, accuracy.png, confusion.png and "
                       "misclassified.png for a run folder.")
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("--model", default=None, help="model file (default RUN_DIR/model.npz)")
    q.add_argument("--out", default=None, help="folder for the PNGs (default RUN_DIR)")
    _data_flags(q)

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
                   help="compile in this many processes at once (default: "
                        "FASTNET_COMPILE_WORKERS, else one per core)")
    add_learn_commands(sub)
    add_export_command(sub)
    return parser


def _data_flags(parser):
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="evaluate on this data (CSV, .npz, .npy, IDX folder; default: "
                             "the run's test data, MNIST's for MNIST models)")
    parser.add_argument("--target", default=None, metavar="NAME",
                        help="the target column of a CSV (default: the run's, or label)")
    parser.add_argument("--limit", type=_positive_int, default=None,
                        help="use the first N samples only")


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


def _load_model(path, mnist=False):
    """The model file (or a run folder's model.npz); ``mnist``: it must take MNIST images."""
    net = load(_model_path(path))
    if mnist and net.n_inputs != runs.MNIST_PIXELS:
        raise RunError(f"{path}: the model takes {net.n_inputs} inputs; MNIST images have "
                       f"{runs.MNIST_PIXELS}")
    return net


def _run_config(model_path):
    """config.json of the run folder holding ``model_path`` (None if there is none)."""
    cfg = Path(model_path).parent / "config.json"
    try:
        return json.loads(cfg.read_text()) if cfg.is_file() else None
    except (ValueError, UnicodeDecodeError):
        return None


def _evaluating_on(data, what):
    print(f"note: evaluating on {data}, the run's {what} data", file=sys.stderr)


def _eval_set(args, net):
    """(X, y, name) to evaluate ``net`` on: --data, else the test data its run recorded
    (MNIST's test set for MNIST models); class names mapped to the model's ids."""
    path = _model_path(args.model)
    data, target = getattr(args, "data", None), getattr(args, "target", None)
    cfg = _run_config(path)
    target = target or (cfg or {}).get("target")
    if data is None and cfg is not None and cfg.get("data"):
        data = cfg.get("test_data") or cfg["data"]
        split = "train" if cfg.get("test_data") or data.lower().endswith((".csv", ".npy")) \
            else "test"
        if split == "train":
            _evaluating_on(data, "test" if cfg.get("test_data") else "training (no test set)")
    elif data is not None:   # an .npz or folder: its test part when it has one
        split = "train" if data.lower().endswith((".csv", ".npy")) else "test"
    if data is None:
        if net.n_inputs != runs.MNIST_PIXELS:
            raise RunError(f"{path}: the model takes {net.n_inputs} inputs and its run's "
                           "data is unknown; give --data PATH")
        _, _, X, y = runs.load_data()
        name = "MNIST test images"
    else:
        try:
            ds = datasets.load(data, target=target or "label", split=split)
        except ValueError:
            if split != "test":
                raise
            ds = datasets.load(data, target=target or "label")   # no test part: all of it
            if getattr(args, "data", None) is None:
                _evaluating_on(data, "training (no test set)")
        X, y, name = ds.X, ds.y, f"samples of {ds.source}"
        X = runs.same_features(X, ds.features, getattr(net, "features", None), ds.source)
        classes = getattr(net, "classes", None)
        if ds.classes is not None:
            if classes is None:
                raise RunError(f"{data}: string labels, but the model has no class names")
            unknown = sorted(set(ds.classes) - set(classes))
            if unknown:
                raise RunError(f"{data}: labels {unknown[:5]} are not the model's classes")
            y = np.array([classes.index(c) for c in ds.classes], np.int64)[y]
        if not net.is_classifier:
            y = y.astype(np.float32)
    if args.limit:
        X, y = X[:args.limit], y[:args.limit]
    return X, y, name


def _class_names(net, k):
    classes = getattr(net, "classes", None)
    return list(classes) if classes else [str(c) for c in range(k)]


def train(args):
    options = {name: getattr(args, name) for name in runs.TRAIN_OPTIONS}
    return runs.train(options, out=args.out, threads=args.threads, force=args.force,
                      quiet=args.quiet, progress=not args.no_progress)


def resume(args):
    return runs.resume(args.run_dir, threads=args.threads, quiet=args.quiet,
                       progress=not args.no_progress)


class Scored(NamedTuple):
    """One pass of a model over labelled data (``_scored``)."""
    loss: float
    accuracy: float | None   # None for regression
    outputs: np.ndarray      # (n, K): probabilities, or regression values
    predicted: np.ndarray    # class ids 0..k-1 (classifiers), the outputs (regression)
    k: int                   # classes: 2 for one sigmoid output, 0 for regression


def _scored(net, X, y, batch_size=1024):
    """``net`` over (X, y) in one forward pass: loss, accuracy, outputs and predictions
    (P(class 1) > 0.5 for one sigmoid output, the largest output for several)."""
    X, scale = as_input(net, X)
    n = X.shape[0]
    out = np.empty((n, net.n_outputs), net.dtype)
    loss_sum, correct = passes.totals(net, X, scale, encode_targets(net, runs.targets(net, y), n),
                                      batch_size, out=out)
    if not net.is_classifier:
        return Scored(loss_sum / n, None, out, out, 0)
    if net.n_outputs == 1:
        return Scored(loss_sum / n, correct / n, out, (out[:, 0] > 0.5).astype(np.int64), 2)
    return Scored(loss_sum / n, correct / n, out, out.argmax(axis=1), net.n_outputs)


def evaluate(args):
    net = _load_model(args.model)
    X, y, name = _eval_set(args, net)
    loss, accuracy, out, pred, k = _scored(net, X, y)
    print(f"{_model_path(args.model)}: {len(y)} {name}")
    if not net.is_classifier:
        m = metrics.regression(y, out)
        print(f"loss {loss:.4f}   RMSE {m['rmse']:.4g}   MAE {m['mae']:.4g}   "
              f"R² {m['r2']:.4f}")
        return 0
    if net.n_outputs == 1:
        m = metrics.binary(y, out)
        print(f"loss {loss:.4f}   accuracy {100 * m['accuracy']:.2f}%   precision "
              f"{m['precision']:.4f}   recall {m['recall']:.4f}   F1 {m['f1']:.4f}   "
              f"ROC AUC {m['roc_auc']:.4f}\n")
    names = _class_names(net, k)
    cm = metrics.confusion_matrix(y, pred, k)
    if net.n_outputs > 1:
        # the kernels' count of correct rows, the accuracy train reports
        print(f"loss {loss:.4f}   accuracy {100 * accuracy:.2f}%\n")
    w = max(5, *(len(n) for n in names))
    precision, recall, f1, support = metrics.per_class(cm)
    print(f"{'class':>{w}} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for c in range(k):
        print(f"{names[c]:>{w}} {precision[c]:>9.4f} {recall[c]:>7.4f} {f1[c]:>6.4f} "
              f"{support[c]:>7}")
    print("\nconfusion matrix (rows: true class, columns: predicted)")
    cw = max(6, w + 1)
    print(" " * w + "".join(f"{n:>{cw}}" for n in names))
    for i in range(k):
        print(f"{names[i]:>{w}}" + "".join(f"{cm[i, j]:>{cw}}" for j in range(k)))
    return 0


LOW_CONFIDENCE = 0.5


def _rows(path, net, show_dir, target=None):
    """The inputs of one FILE: CSV rows (every column a feature, but the run's ``target``
    column when the file has it), or images/.npy (0..1 floats given as 0..255 pixels to a
    model whose scaler was fitted on pixels, e.g. centred ones)."""
    if Path(path).suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
        has_target = target is not None and target in [h.strip() for h in header]
        ds = datasets.load(path, target=target if has_target else None)
        return runs.same_features(ds.X, ds.features, getattr(net, "features", None), path)
    if Path(path).suffix.lower() == ".npy":   # memory-mapped: a large file streams
        X = datasets.npy_rows(path, net.n_inputs)
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            X = load_inputs(path, net.n_inputs, show_dir=show_dir)
        for w in caught:
            print(f"fastnet: warning: {w.message}", file=sys.stderr)
    scaler = getattr(net, "scaler", None)
    if X.dtype != np.uint8 and scaler is not None and scaler.takes_pixels:
        X = X * np.float32(255)
    return X


def predict(args):
    net = _load_model(args.model)
    target = (_run_config(_model_path(args.model)) or {}).get("target")
    for path in args.inputs:
        X = _rows(path, net, args.show, target)
        proba = net.predict_proba(X)
        for r, p in enumerate(proba):
            name = path if len(proba) == 1 else f"{path}[{r}]"
            if not net.is_classifier:
                print(f"{name}: " + " ".join(f"{v:.6g}" for v in p))
                continue
            if net.n_outputs == 1:   # one sigmoid output: P(class 1)
                p = np.array([1 - p[0], p[0]])
            names = _class_names(net, len(p))
            c = int(np.argmax(p))
            probs = " ".join(f"{names[j]}:{v:.3f}" for j, v in enumerate(p))
            print(f"{name}: {names[c]}  (p={p[c]:.3f})   {probs}")
            if p[c] < LOW_CONFIDENCE:
                print(f"fastnet: warning: {name}: low confidence (top probability "
                      f"{p[c]:.3f} < {LOW_CONFIDENCE}); the input may not look like the "
                      "training data", file=sys.stderr)
    return 0


def plot(args):
    run = Path(args.run_dir)
    if not (run / "history.csv").is_file():
        raise RunError(f"{run} is not a run folder (no history.csv)")
    out = Path(args.out or run)
    out.mkdir(parents=True, exist_ok=True)
    history = read_history_csv(run / "history.csv")
    if not history["epoch"]:
        raise RunError(f"{run}: no epoch finished yet, so there is nothing to plot; "
                       f"continue the run with `fastnet resume {run}`")
    written = [plots.plot_curves(history, out / "loss.png", "loss")]
    if "accuracy" in history:
        written.append(plots.plot_curves(history, out / "accuracy.png", "accuracy"))
    args.model = args.model or run / "model.npz"
    net = _load_model(args.model)
    if net.is_classifier:
        X, y, _ = _eval_set(args, net)
        scored = _scored(net, X, y)
        pred, k = scored.predicted, scored.k
        written.append(plots.plot_confusion(metrics.confusion_matrix(y, pred, k),
                                            out / "confusion.png", _class_names(net, k)))
        if net.n_inputs == runs.MNIST_PIXELS and not getattr(net, "classes", None):
            written.append(plots.plot_misclassified(np.asarray(X), y, pred,
                                                    out / "misclassified.png"))
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
    except BrokenPipeError:   # the reader of stdout left (`| head`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # the exit's flush
        return 141   # 128 + SIGPIPE
    # OSError: a missing file, disk full, read-only folder, permissions
    except (RunError, ValueError, TypeError, OSError, ImportError) as e:
        print(f"fastnet: error: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("fastnet: error: out of memory", file=sys.stderr)
        return 1


def console():
    """The ``fastnet`` command and ``python -m fastnet``: ``main``, then ``gc.freeze()``.
    The interpreter's exit would otherwise collect over every object Numba made (0.1-0.2 s
    after a run); frozen, they are freed with the process."""
    code = main()
    gc.freeze()
    return code


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
    from .explain import explain, toy_problem
    if args.model is None:
        net, X, d = toy_problem(args.activation, args.loss, args.seed)
    else:
        net = _load_model(args.model, mnist=True)
        _, _, X, y = runs.load_data()
        d = runs.targets(net, y)
        X = scaled(net, X)   # as the model's first layer sees them (its scaler, or / 255)
    if not 0 <= args.sample < len(X):
        raise RunError(f"--sample must be in [0, {len(X)}), got {args.sample}")
    print(explain(net, X[args.sample], d[args.sample], lr=args.lr))
    return 0


def landscape_command(args):
    from .landscape import loss_landscape, plot_landscape
    net = _load_model(args.model, mnist=True)
    _, _, X, y = runs.load_data()
    X, y = X[:args.limit], y[:args.limit]
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


# ---------------------------------------------------------------- export
def add_export_command(sub):
    """`fastnet export MODEL OUT.onnx` (fastnet.export; needs the export extra)."""
    x = sub.add_parser("export", formatter_class=_Formatter,
                       help="write a model as an ONNX graph (ONNX Runtime, ...)",
                       description="Write MODEL as an ONNX graph computing its "
                       "probabilities: Gemm + activation per layer, softmax/sigmoid output. "
                       "With --input-dtype uint8 the graph takes raw 0-255 pixels and "
                       "scales them by 1/255 as fastnet does. Needs: pip install "
                       "\"fastnet[export]\".")
    x.add_argument("model", metavar="MODEL", help="a .npz model file or a run folder")
    x.add_argument("out", metavar="OUT", help="the .onnx file to write")
    x.add_argument("--input-dtype", choices=("float32", "uint8"), default="float32",
                   help="the graph's input: float32 features, or uint8 pixels (MNIST runs)")


def export_command(args):
    from .export import export_onnx
    net = _load_model(args.model)
    print(f"wrote {export_onnx(net, args.out, args.input_dtype)}")
    return 0


COMMANDS = {"train": train, "resume": resume, "evaluate": evaluate, "predict": predict,
            "plot": plot, "sweep": sweep, "compile": compile_kernels,
            "explain": explain_command, "landscape": landscape_command,
            "export": export_command}


if __name__ == "__main__":
    sys.exit(main())
