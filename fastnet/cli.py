"""Command line: ``fastnet train|resume|evaluate|predict|plot|sweep`` (or ``python -m fastnet``).

``main(argv)`` returns the exit code (0 ok, 1 error, 2 usage, 130 interrupted) instead
of calling ``sys.exit``, keeps no global state (besides Numba's thread count) and can be
called in-process, e.g. by a sweep running many ``main(["train", "--out", DIR, ...])``.
"""
import argparse
import functools
import json
import sys
import time
from pathlib import Path

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.01,
              "rmsprop": 0.001, "adam": 0.001, "adamw": 0.001}
LOSSES = ["softmax_cross_entropy", "binary_cross_entropy", "sum_of_squares"]


class CLIError(Exception):
    """A user error: printed as ``fastnet: error: ...``, exit code 1."""


def _int_list(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"need at least two positive sizes, got {text!r}")
    return sizes


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


_Formatter = argparse.ArgumentDefaultsHelpFormatter


def build_parser():
    parser = argparse.ArgumentParser(
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
    add_learn_commands(sub)
    return parser


@functools.lru_cache(maxsize=1)
def train_options():
    """{dest: argparse action} of every `fastnet train` option (e.g. 'batch_size')."""
    parser = argparse.ArgumentParser(add_help=False)
    _train_arguments(parser)
    return {a.dest: a for a in parser._actions if a.option_strings}


def _train_arguments(t):
    """The options of `fastnet train` (the keys a sweep spec may set, too)."""
    g = t.add_argument_group("network")
    g.add_argument("--layers", type=_int_list, default="784,256,10",
                   help="layer sizes, input first, classes last")
    g.add_argument("--activation", default="relu",
                   help="hidden-layer activation (relu, leaky_relu, prelu, rrelu, elu, tanh, "
                        "sigmoid, swish, ...)")
    g.add_argument("--loss", default="softmax_cross_entropy", choices=LOSSES)
    g = t.add_argument_group("optimizer")
    g.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    g.add_argument("--lr", type=float, default=None,
                   help="base learning rate (default: 0.1 for sgd/momentum/nesterov, 0.01 "
                        "adagrad, 0.001 rmsprop/adam/adamw)")
    g.add_argument("--momentum", type=float, default=0.9, help="momentum μ (sgd family)")
    g.add_argument("--weight-decay", type=float, default=2e-4, help="L2 penalty λ")
    g.add_argument("--beta1", type=float, default=0.9, help="Adam β1")
    g.add_argument("--beta2", type=float, default=0.999, help="Adam β2")
    g.add_argument("--rho", type=float, default=0.9, help="RMSProp decay ρ")
    g.add_argument("--eps", type=float, default=1e-8, help="AdaGrad/RMSProp/Adam ε")
    g.add_argument("--schedule", default="cosine", choices=["constant", "step", "cosine"],
                   help="learning-rate schedule over the epochs")
    g.add_argument("--step-size", type=_positive_int, default=None,
                   help="epochs per decay of --schedule step (default epochs/3)")
    g.add_argument("--gamma", type=float, default=0.1, help="decay factor of --schedule step")
    g = t.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--batch-size", type=_positive_int, default=128)
    g.add_argument("--validation-split", type=float, default=0.0,
                   help="fraction of the training set held out; 0 reports the test set "
                        "each epoch")
    g.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE",
                   help="stop when val_loss has not improved for PATIENCE epochs (0: off)")
    g.add_argument("--on-nan", default="stop", choices=["stop", "skip", "halve"],
                   help="when the loss or a weight becomes NaN/inf: stop with an error, "
                        "skip the batch, or halve the learning rate and retry")
    g.add_argument("--seed", type=int, default=0, help="seeds weights, shuffling and splits")
    g.add_argument("--threads", type=_positive_int, default=None,
                   help="Numba threads (default: NUMBA_NUM_THREADS or all cores)")
    g.add_argument("--limit", type=_positive_int, default=None,
                   help="train on the first N samples only")
    g = t.add_argument_group("output")
    g.add_argument("--out", default=None, metavar="RUN_DIR",
                   help="run folder (default runs/<date-time>)")
    g.add_argument("--force", action="store_true",
                   help="overwrite a run folder that already holds a run")
    _output_flags(g)


def _output_flags(group):
    group.add_argument("--no-progress", action="store_true",
                       help="no progress bar (one line per epoch only)")
    group.add_argument("--quiet", action="store_true", help="no progress bar, no epoch lines")


# ---------------------------------------------------------------- building blocks
def _optimizer(cfg):
    from . import optimizers as O
    epochs = max(1, cfg["epochs"])
    schedule = {"constant": {"name": "constant"},
                "step": {"name": "step", "step_size": cfg["step_size"] or max(1, epochs // 3),
                         "gamma": cfg["gamma"]},
                "cosine": {"name": "cosine", "total_epochs": epochs}}[cfg["schedule"]]
    name = cfg["optimizer"]
    spec = dict(name=name, lr=cfg["lr"], weight_decay=cfg["weight_decay"], schedule=schedule)
    if name in ("sgd", "momentum", "nesterov"):
        spec["momentum"] = cfg["momentum"]
    if name in ("adam", "adamw"):
        spec.update(beta1=cfg["beta1"], beta2=cfg["beta2"], eps=cfg["eps"])
    if name == "rmsprop":
        spec.update(rho=cfg["rho"], eps=cfg["eps"])
    if name == "adagrad":
        spec["eps"] = cfg["eps"]
    return O.make_optimizer(spec)


def _network(cfg):
    from . import Dense, Network
    sizes = cfg["layers"]
    layers = [Dense(sizes[i], sizes[i + 1], activation=cfg["activation"])
              for i in range(len(sizes) - 2)]
    layers.append(Dense(sizes[-2], sizes[-1]))
    return Network(layers, loss=cfg["loss"], seed=cfg["seed"])


def _set_threads(threads):
    import numba
    if threads is not None:
        if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            raise CLIError(f"--threads must be in [1, {numba.config.NUMBA_NUM_THREADS}], "
                           f"got {threads}")
        numba.set_num_threads(threads)
    return numba.get_num_threads()


def _targets(net, y):
    """Class ids for softmax; one-hot rows for the other losses."""
    import numpy as np
    if net.loss == "softmax_cross_entropy":
        return y
    return np.eye(net.n_outputs, dtype=np.float32)[y]


def _mnist(cfg_limit=None):
    from . import load_mnist
    (X, y), (X_test, y_test) = load_mnist()
    if cfg_limit:
        X, y = X[:cfg_limit], y[:cfg_limit]
    return X, y, X_test, y_test


def _model_path(path):
    path = Path(path)
    return path / "model.npz" if path.is_dir() else path


def _load_model(path):
    from . import load
    net = load(_model_path(path))
    if net.n_inputs != 784:
        raise CLIError(f"{path}: the model takes {net.n_inputs} inputs; MNIST images have 784")
    return net


# ---------------------------------------------------------------- commands
def train(args):
    from . import __version__, io
    if args.epochs < 0:
        raise CLIError(f"--epochs must be >= 0, got {args.epochs}")
    if args.layers[0] != 784:
        raise CLIError(f"--layers must start with 784 (MNIST pixels), got {args.layers[0]}")
    if args.layers[-1] != 10:
        raise CLIError(f"--layers must end with 10 (MNIST classes), got {args.layers[-1]}")
    out = Path(args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    if not args.force and any((out / f).exists() for f in ("config.json", "checkpoint.npz")):
        raise CLIError(f"{out} already holds a run; continue it with `fastnet resume {out}`, "
                       "or pass --force to overwrite it, or choose another --out")
    threads = _set_threads(args.threads)
    cfg = {k: v for k, v in vars(args).items() if k not in ("command", "force", "quiet",
                                                             "no_progress")}
    cfg.update(out=str(out), threads=threads, fastnet_version=__version__,
               lr=args.lr if args.lr is not None else DEFAULT_LR[args.optimizer])
    net, opt = _network(cfg), _optimizer(cfg)   # validates the options before writing
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("checkpoint.npz", "best.npz", "model.npz", "history.csv"):
        (out / stale).unlink(missing_ok=True)
    io.write_text(out / "config.json", json.dumps(cfg, indent=2) + "\n")
    return _run(cfg, net, opt, None, args)


def resume(args):
    from .callbacks import load_checkpoint
    run = Path(args.run_dir)
    if not (run / "config.json").is_file():
        raise CLIError(f"{run} is not a run folder (no config.json)")
    if not (run / "checkpoint.npz").is_file():
        raise CLIError(f"{run} has no checkpoint.npz yet (interrupted before the first "
                       "epoch ended?); start again with `fastnet train --force --out "
                       f"{run}`")
    try:
        cfg = json.loads((run / "config.json").read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise CLIError(f"{run / 'config.json'}: not valid JSON ({e})") from None
    cfg["out"] = str(run)
    net, state = load_checkpoint(run / "checkpoint.npz")
    if state.get("finished"):
        print(f"{run}: the run already finished ({state['epoch']} epochs); nothing to resume")
        return 0
    threads = _set_threads(args.threads if args.threads is not None else
                           min(cfg.get("threads") or 1, _max_threads()))
    if threads != cfg.get("threads"):
        print(f"note: resuming with {threads} threads, the run used {cfg.get('threads')}; "
              "results may differ in the last bits", file=sys.stderr)
    print(f"resuming {run} at epoch {state['epoch'] + 1}, sample {state['position']}")
    return _run(cfg, net, net.optimizer, state, args)


def _max_threads():
    import numba
    return numba.config.NUMBA_NUM_THREADS


def _run(cfg, net, opt, state, args):
    """Train (fresh or resumed) into cfg['out']; print the test result."""
    import numba

    from .callbacks import EarlyStopping, RunDirectory
    from .train import DivergenceError, TrainingInterrupted
    out = Path(cfg["out"])
    X, y, X_test, y_test = _mnist(cfg["limit"])
    if state is None:
        print(f"fastnet {cfg['fastnet_version']}: MNIST {X.shape[0]} train / "
              f"{X_test.shape[0]} test, layers {'-'.join(map(str, cfg['layers']))} "
              f"{cfg['activation']}, {numba.get_num_threads()} threads")
        print(f"optimizer {opt!r}, batch {cfg['batch_size']}, {cfg['epochs']} epochs, "
              f"seed {cfg['seed']}, run folder {out}")
    callbacks = [RunDirectory(out)]
    if cfg.get("early_stopping"):
        callbacks.insert(0, EarlyStopping("val_loss", patience=cfg["early_stopping"]))
    val = None if cfg["validation_split"] else (X_test, _targets(net, y_test))
    try:
        net.fit(X, _targets(net, y), epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                optimizer=opt, validation_split=cfg["validation_split"], validation_data=val,
                seed=cfg["seed"], verbose=not args.quiet, callbacks=callbacks,
                on_nan=cfg.get("on_nan", "stop"), progress=not (args.quiet or args.no_progress),
                handle_sigint=True, resume=state)
    except TrainingInterrupted as e:
        print(f"\nfastnet: {e}; checkpoint saved in {out / 'checkpoint.npz'}\n"
              f"continue with:  fastnet resume {out}", file=sys.stderr)
        return 130
    except DivergenceError as e:
        ckpt = out / "checkpoint.npz"
        kept = (f"the last good checkpoint is {ckpt}" if ckpt.exists()
                else "no epoch finished, so there is no checkpoint")
        print(f"fastnet: error: {e}\n{kept}; see --on-nan", file=sys.stderr)
        return 1
    result = net.evaluate(X_test, _targets(net, y_test))
    acc = f"  test accuracy {100 * result['accuracy']:.2f}%" if "accuracy" in result else ""
    print(f"test loss {result['loss']:.4f}{acc}")
    names = ("config.json", "history.csv", "checkpoint.npz", "best.npz", "model.npz")
    print(f"wrote {out}/: " + " ".join(n for n in names if (out / n).exists()))
    return 0


def evaluate(args):
    import numpy as np

    from .plots import confusion_matrix
    net = _load_model(args.model)
    _, _, X, y = _mnist()
    if args.limit:
        X, y = X[:args.limit], y[:args.limit]
    result = net.evaluate(X, _targets(net, y))
    pred = net.predict(X)
    if pred.ndim == 2:
        pred = net.predict_proba(X).argmax(axis=1)
    k = max(net.n_outputs, 10)
    cm = confusion_matrix(y, pred, k)
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
    import numpy as np

    from .images import load_inputs
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
    from . import plots
    from .callbacks import read_history_csv
    run = Path(args.run_dir)
    if not (run / "history.csv").is_file():
        raise CLIError(f"{run} is not a run folder (no history.csv)")
    out = Path(args.out or run)
    out.mkdir(parents=True, exist_ok=True)
    history = read_history_csv(run / "history.csv")
    written = [plots.plot_curves(history, out / "loss.png", "loss")]
    if "accuracy" in history:
        written.append(plots.plot_curves(history, out / "accuracy.png", "accuracy"))
    net = _load_model(args.model or run / "model.npz")
    _, _, X, y = _mnist()
    if args.limit:
        X, y = X[:args.limit], y[:args.limit]
    proba = net.predict_proba(X)
    pred = proba.argmax(axis=1)
    written.append(plots.plot_confusion(plots.confusion_matrix(y, pred, net.n_outputs),
                                        out / "confusion.png"))
    written.append(plots.plot_misclassified(X, y, pred, out / "misclassified.png"))
    print("wrote " + " ".join(str(p) for p in written))
    return 0


def sweep(args):
    from . import sweeps
    if args.dry_run:
        out, _, trials = sweeps.plan(args.spec, args.out)
        for trial in trials:
            state = "finished" if sweeps.finished(out / trial.name, trial) else "to run"
            print(f"{state:>8}  {sweeps._shown(out / trial.name)}  {' '.join(trial.argv)}")
        return 0
    try:
        sweeps.sweep(args.spec, out=args.out, scheduler=args.scheduler, workers=args.workers,
                     progress=not (args.quiet or args.no_progress), verbose=not args.quiet)
    except ConnectionError as e:
        raise CLIError(str(e)) from None
    except KeyboardInterrupt:
        print("\nfastnet: sweep interrupted; finished trials are kept and the same command "
              "runs the others", file=sys.stderr)
        return 130
    return 0


COMMANDS = {"train": train, "resume": resume, "evaluate": evaluate, "predict": predict,
            "plot": plot, "sweep": sweep}


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
    except (CLIError, ValueError, TypeError, FileNotFoundError, ImportError) as e:
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
    x.add_argument("--sample", type=int, default=0, help="which sample (MNIST test index)")
    x.add_argument("--lr", type=float, default=0.1, help="learning rate η of the update")
    x.add_argument("--activation", default="tanh", help="hidden activation of the 4-3-2 net")
    x.add_argument("--loss", default="softmax_cross_entropy", choices=LOSSES,
                   help="loss of the 4-3-2 net")
    x.add_argument("--seed", type=int, default=0, help="seeds the 4-3-2 net and its sample")
    g = sub.add_parser("landscape", formatter_class=_Formatter,
                       help="loss surface around a model along two random directions",
                       description="Evaluate the MNIST test loss on a STEPS x STEPS grid "
                       "around the model's weights along two random filter-normalised "
                       "directions (Li et al. 2018); write OUT/landscape.npz and "
                       "OUT/landscape.png (contour and 3-D surface; needs matplotlib).")
    g.add_argument("model", metavar="MODEL", help="a .npz model file or a run folder")
    g.add_argument("--out", default=".", help="folder for landscape.png and landscape.npz")
    g.add_argument("--steps", type=_positive_int, default=51, help="grid points per axis")
    g.add_argument("--span", type=float, default=1.0, help="the grid covers [-SPAN, SPAN]²")
    g.add_argument("--limit", type=_positive_int, default=None,
                   help="use the first N test samples only")
    g.add_argument("--seed", type=int, default=0, help="seeds the two directions")


def explain_command(args):
    import numpy as np

    from .explain import explain, toy_problem
    if args.model is None:
        net, X, d = toy_problem(args.activation, args.loss, args.seed)
    else:
        net = _load_model(args.model)
        _, _, X, y = _mnist()
        d = _targets(net, y)
        X = X.astype(np.float64) / 255
    if not 0 <= args.sample < len(X):
        raise CLIError(f"--sample must be in [0, {len(X)}), got {args.sample}")
    print(explain(net, X[args.sample], d[args.sample], lr=args.lr))
    return 0


def landscape_command(args):
    from .landscape import loss_landscape, plot_landscape
    net = _load_model(args.model)
    _, _, X, y = _mnist(None)
    X, y = X[:args.limit], y[:args.limit]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    land = loss_landscape(net, X, _targets(net, y), steps=args.steps, span=args.span,
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
