"""A run of ``fastnet train``: its options, the network and optimizer they build, the
MNIST data it trains on, and training or resuming a run folder.

A run's options are one dict, the ``config.json`` of its folder: every option of
``TRAIN_OPTIONS`` with its defaults filled in by ``resolve``, plus ``out``, ``threads`` and
``fastnet_version``. The command line (``fastnet.cli``) and sweeps (``fastnet.sweeps``,
``fastnet.sweepspec``) call this module and never each other.

Options left out take their defaults from ``fastnet.catalogue``, except that the default
optimizer is the MNIST recipe ``RECIPE`` (momentum 0.9, learning rate 0.1, weight decay
2e-4, cosine schedule: about 98 % test accuracy in 10 epochs).
"""
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from . import checks
from . import io as fio
from ._version import __version__
from .callbacks import EarlyStopping, RunDirectory, load_checkpoint
from .catalogue import HIDDEN_ACTIVATIONS, LOSS_NAMES, OPTIMIZERS, SCHEDULES
from .datasets import load_mnist
from .layers import Dense
from .network import Network
from .optimizers import make_optimizer
from .train import NAN_POLICIES, DivergenceError, TrainingInterrupted

MNIST_PIXELS, MNIST_CLASSES = 784, 10
RECIPE = {"optimizer": "momentum", "lr": 0.1, "weight_decay": 2e-4}
"""The optimizer of ``fastnet train`` without options, and the hyper-parameters it sets."""
HYPER = ("lr", "momentum", "weight_decay", "beta1", "beta2", "rho", "eps")
"""The optimizer options; each applies to the optimizers whose catalogue entry has it."""
RUN_FILES = ("config.json", "history.csv", "checkpoint.npz", "best.npz", "model.npz",
             "timing.json")


class RunError(ValueError):
    """A user error (bad options, a folder that is not a run): ``fastnet: error: ...``."""


# ---------------------------------------------------------------- option parsers
# Each takes the option's text and returns its value, or raises ValueError with a message
# that does not name the option (the caller does: argparse, or the sweep spec's key).
def integer(minimum):
    """A parser of whole numbers >= ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def real(low, high=None, low_open=False, high_open=False):
    """A parser of finite numbers in the interval from ``low`` to ``high`` (None: no bound)."""
    interval = (f"{'>' if low_open else '>='} {low:g}" if high is None else
                f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}")

    def parse(text):
        value = float(text)
        ok = math.isfinite(value) and (value > low if low_open else value >= low)
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise ValueError(f"expected a finite number {interval}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


def layer_sizes(text):
    """'784,256,10' -> [784, 256, 10]: at least two sizes, each an integer >= 1."""
    pieces = text.split(",")
    if len(pieces) < 2:
        raise ValueError(f"expected at least two comma-separated sizes, got {text!r}")
    sizes = []
    for i, piece in enumerate(pieces, 1):
        if not piece.strip():
            raise ValueError(f"size {i} of {text!r} is empty")
        try:
            sizes.append(integer(1)(piece))
        except ValueError as e:
            raise ValueError(f"size {i} of {text!r}: {e}") from None
    return sizes


def one_of(kind, names):
    """A parser of the names ``names`` (an unknown one is an error naming ``kind``)."""
    def parse(text):
        return checks.choice(kind, text, names)
    parse.__name__ = kind
    return parse


# ---------------------------------------------------------------- the options
@dataclass(frozen=True)
class Option:
    """One option of ``fastnet train``: ``parse(text)`` gives its value; a default of None
    is filled in by ``resolve``."""
    name: str
    parse: object
    default: object
    help: str
    group: str
    metavar: str = None

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")


def _names(names):
    return ", ".join(names)


def _defaults(key):
    """'momentum 0.1 (MNIST recipe), sgd 0.01, ...': the defaults of optimizer option
    ``key`` for each optimizer that has it."""
    recipe = RECIPE["optimizer"]
    text = [f"{recipe} {RECIPE.get(key, OPTIMIZERS[recipe][key]):g} (the MNIST recipe)"]
    text += [f"{name} {spec[key]:g}" for name, spec in OPTIMIZERS.items()
             if key in spec and name != recipe]
    return ", ".join(text)


_FRACTION = real(0.0, 1.0, high_open=True)
TRAIN_OPTIONS = {o.name: o for o in [
    Option("layers", layer_sizes, [MNIST_PIXELS, 256, MNIST_CLASSES],
           "layer sizes, input first (784 pixels), classes last (10)", "network", "SIZES"),
    Option("activation", one_of("activation", HIDDEN_ACTIVATIONS), "relu",
           f"hidden-layer activation: {_names(HIDDEN_ACTIVATIONS)}", "network", "NAME"),
    Option("loss", one_of("loss", LOSS_NAMES), "softmax_cross_entropy",
           f"loss: {_names(LOSS_NAMES)}", "network", "NAME"),
    Option("optimizer", one_of("optimizer", tuple(OPTIMIZERS)), RECIPE["optimizer"],
           f"optimizer: {_names(OPTIMIZERS)}", "optimizer", "NAME"),
    Option("lr", real(0.0, low_open=True), None,
           f"base learning rate (default: {_defaults('lr')})", "optimizer"),
    Option("momentum", _FRACTION, None, f"momentum μ (default: {_defaults('momentum')})",
           "optimizer"),
    Option("weight_decay", real(0.0), None,
           f"L2 penalty λ (default: {_defaults('weight_decay')})", "optimizer"),
    Option("beta1", _FRACTION, None, f"Adam β1 (default {OPTIMIZERS['adam']['beta1']:g})",
           "optimizer"),
    Option("beta2", _FRACTION, None, f"Adam β2 (default {OPTIMIZERS['adam']['beta2']:g})",
           "optimizer"),
    Option("rho", _FRACTION, None, f"RMSProp decay ρ (default {OPTIMIZERS['rmsprop']['rho']:g})",
           "optimizer"),
    Option("eps", real(0.0, low_open=True), None,
           f"AdaGrad/RMSProp/Adam ε (default {OPTIMIZERS['adam']['eps']:g})", "optimizer"),
    Option("schedule", one_of("schedule", tuple(SCHEDULES)), "cosine",
           f"learning-rate schedule over the epochs: {_names(SCHEDULES)}", "optimizer", "NAME"),
    Option("step_size", integer(1), None,
           "epochs per decay of --schedule step (default epochs/3)", "optimizer"),
    Option("gamma", real(0.0, low_open=True), SCHEDULES["step"]["gamma"],
           "decay factor of --schedule step", "optimizer"),
    Option("epochs", integer(0), 10, "epochs to train", "training"),
    Option("batch_size", integer(1), 128, "samples per step", "training"),
    Option("validation_split", _FRACTION, 0.0,
           "fraction of the training set held out; 0 reports the test set each epoch",
           "training"),
    Option("early_stopping", integer(0), 0,
           "stop when val_loss has not improved for PATIENCE epochs (0: off)", "training",
           "PATIENCE"),
    Option("on_nan", one_of("on_nan", NAN_POLICIES), "stop",
           "when the loss or a weight becomes NaN/inf: stop with an error, skip the batch, "
           "or halve the learning rate and retry", "training", "POLICY"),
    Option("seed", integer(0), 0, "seeds weights, shuffling and splits", "training"),
    Option("limit", integer(1), None, "train on the first N samples only", "training", "N"),
]}
"""The options of ``fastnet train`` that define a run (the keys a sweep spec may set)."""


def parse_argv(argv):
    """The options of ``['--name=value', ...]`` (a sweep trial's argv) as a dict."""
    options = {}
    for item in argv:
        flag, sep, text = item.partition("=")
        name = flag.removeprefix("--").replace("-", "_")
        if not sep or not flag.startswith("--") or name not in TRAIN_OPTIONS:
            raise RunError(f"expected --option=value of a train option, got {item!r}")
        try:
            options[name] = TRAIN_OPTIONS[name].parse(text)
        except ValueError as e:
            raise RunError(f"{flag}: {e}") from None
    return options


def resolve(options):
    """The run's options: ``options`` (name -> parsed value; missing or None: default)
    with every default filled in and checked together. The optimizer's hyper-parameters
    that it does not use are None."""
    unknown = set(options) - set(TRAIN_OPTIONS)
    if unknown:
        raise RunError(f"unknown train options {sorted(unknown)}")
    given = {k: v for k, v in options.items() if v is not None}
    cfg = {name: given.get(name, o.default) for name, o in TRAIN_OPTIONS.items()}
    sizes = cfg["layers"]
    if sizes[0] != MNIST_PIXELS:
        raise RunError(f"--layers must start with {MNIST_PIXELS} (MNIST pixels), "
                       f"got {sizes[0]}")
    if sizes[-1] != MNIST_CLASSES:
        raise RunError(f"--layers must end with {MNIST_CLASSES} (MNIST classes), "
                       f"got {sizes[-1]}")
    name = cfg["optimizer"]
    recipe = RECIPE if name == RECIPE["optimizer"] else {}
    for key in HYPER:
        if key not in OPTIMIZERS[name]:
            if key in given:
                raise RunError(f"{TRAIN_OPTIONS[key].flag} does not apply to --optimizer "
                               f"{name}")
            cfg[key] = None
        elif key not in given:
            cfg[key] = recipe.get(key, OPTIMIZERS[name][key])
    if cfg["schedule"] == "step":
        cfg["step_size"] = cfg["step_size"] or max(1, cfg["epochs"] // 3)
    elif "step_size" in given:
        raise RunError("--step-size applies to --schedule step only")
    return cfg


# ---------------------------------------------------------------- building blocks
def build_network(cfg):
    """The Network of a run's options: Dense layers of ``layers``, ``activation`` on the
    hidden ones, ``loss``, weights seeded by ``seed``."""
    sizes = cfg["layers"]
    layers = [Dense(sizes[i], sizes[i + 1], activation=cfg["activation"])
              for i in range(len(sizes) - 2)]
    layers.append(Dense(sizes[-2], sizes[-1]))
    return Network(layers, loss=cfg["loss"], seed=cfg["seed"])


def build_optimizer(cfg):
    """The optimizer of a run's options, its schedule over ``epochs``."""
    epochs = max(1, cfg["epochs"])
    schedule = {"name": cfg["schedule"]}
    if cfg["schedule"] == "step":
        schedule.update(step_size=cfg["step_size"], gamma=cfg["gamma"])
    elif cfg["schedule"] == "cosine":
        schedule["total_epochs"] = epochs
    name = cfg["optimizer"]
    return make_optimizer({"name": name, "schedule": schedule,
                           **{k: cfg[k] for k in HYPER if k in OPTIMIZERS[name]}})


def set_threads(threads):
    """Use ``threads`` Numba threads (None: leave as is); returns the count in use."""
    if threads is not None:
        if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            raise RunError(f"--threads must be in [1, {numba.config.NUMBA_NUM_THREADS}], "
                           f"got {threads}")
        numba.set_num_threads(threads)
    return numba.get_num_threads()


def targets(net, y):
    """The targets ``net`` trains on for class ids ``y``: the ids for softmax, one-hot
    rows for the other losses."""
    if net.loss == "softmax_cross_entropy":
        return y
    return np.eye(net.n_outputs, dtype=np.float32)[y]


def load_data(limit=None):
    """(X, y, X_test, y_test) of MNIST, the training set cut to ``limit`` samples."""
    (X, y), (X_test, y_test) = load_mnist()
    if limit:
        X, y = X[:limit], y[:limit]
    return X, y, X_test, y_test


# ---------------------------------------------------------------- run folders
def train(options, out=None, threads=None, force=False, quiet=False, progress=True):
    """Train a new run of ``options`` (see ``resolve``) into folder ``out`` (default
    runs/<date-time>); returns the exit code (0, 1 diverged, 130 interrupted)."""
    cfg = resolve(options)
    out = Path(out or Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    if not force and any((out / f).exists() for f in ("config.json", "checkpoint.npz")):
        raise RunError(f"{out} already holds a run; continue it with `fastnet resume {out}`, "
                       "or pass --force to overwrite it, or choose another --out")
    cfg.update(out=str(out), threads=set_threads(threads), fastnet_version=__version__)
    net, opt = build_network(cfg), build_optimizer(cfg)   # checks them before writing
    out.mkdir(parents=True, exist_ok=True)
    for stale in RUN_FILES[1:]:
        (out / stale).unlink(missing_ok=True)
    fio.write_text(out / "config.json", json.dumps(cfg, indent=2) + "\n")
    return _run(cfg, net, opt, None, quiet, progress)


def resume(run_dir, threads=None, quiet=False, progress=True):
    """Continue the run in ``run_dir`` from its checkpoint; returns the exit code."""
    run = Path(run_dir)
    if not (run / "config.json").is_file():
        raise RunError(f"{run} is not a run folder (no config.json)")
    if not (run / "checkpoint.npz").is_file():
        raise RunError(f"{run} has no checkpoint.npz yet (interrupted before the first "
                       "epoch ended?); start again with `fastnet train --force --out "
                       f"{run}`")
    try:
        cfg = json.loads((run / "config.json").read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise RunError(f"{run / 'config.json'}: not valid JSON ({e})") from None
    cfg["out"] = str(run)
    net, state = load_checkpoint(run / "checkpoint.npz")
    if state.get("finished"):
        print(f"{run}: the run already finished ({state['epoch']} epochs); nothing to resume")
        return 0
    threads = set_threads(threads if threads is not None else
                          min(cfg.get("threads") or 1, numba.config.NUMBA_NUM_THREADS))
    if threads != cfg.get("threads"):
        print(f"note: resuming with {threads} threads, the run used {cfg.get('threads')}; "
              "results may differ in the last bits", file=sys.stderr)
    print(f"resuming {run} at epoch {state['epoch'] + 1}, sample {state['position']}")
    return _run(cfg, net, net.optimizer, state, quiet, progress)


def _run(cfg, net, opt, state, quiet, progress):
    """Train (fresh or resumed) into cfg['out']; print the test result."""
    out = Path(cfg["out"])
    X, y, X_test, y_test = load_data(cfg["limit"])
    if state is None:
        print(f"fastnet {cfg['fastnet_version']}: MNIST {X.shape[0]} train / "
              f"{X_test.shape[0]} test, layers {'-'.join(map(str, cfg['layers']))} "
              f"{cfg['activation']}, {numba.get_num_threads()} threads")
        print(f"optimizer {cfg['optimizer']} {opt!r}, batch {cfg['batch_size']}, "
              f"{cfg['epochs']} epochs, seed {cfg['seed']}, run folder {out}")
    callbacks = [RunDirectory(out)]
    if cfg.get("early_stopping"):
        callbacks.insert(0, EarlyStopping("val_loss", patience=cfg["early_stopping"]))
    val = None if cfg["validation_split"] else (X_test, targets(net, y_test))
    try:
        history = net.fit(
            X, targets(net, y), epochs=cfg["epochs"], batch_size=cfg["batch_size"],
            optimizer=opt, validation_split=cfg["validation_split"], validation_data=val,
            seed=cfg["seed"], verbose=not quiet, callbacks=callbacks,
            on_nan=cfg.get("on_nan", "stop"), progress=progress and not quiet,
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
    # the seconds this process spent compiling kernels before its first step (history.csv's
    # epoch seconds exclude them)
    fio.write_text(out / "timing.json",
                   json.dumps({"compile_seconds": round(history.compile_seconds, 3)}) + "\n")
    result = net.evaluate(X_test, targets(net, y_test))
    acc = f"  test accuracy {100 * result['accuracy']:.2f}%" if "accuracy" in result else ""
    print(f"test loss {result['loss']:.4f}{acc}")
    print(f"wrote {out}/: " + " ".join(n for n in RUN_FILES if (out / n).exists()))
    return 0
