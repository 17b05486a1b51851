"""A run of ``fastnet train``: its options, the network and optimizer they build, the
data it trains on (MNIST, or ``--data``: CSV, NPZ, NPY, IDX via ``fastnet.datasets.load``),
and training or resuming a run folder.

The validation set is a seeded 10 % of the training data (stratified by class); the test
set (MNIST's, ``--test-data``, or the test part of ``--data``) is evaluated once, at the
end, into ``test.json``, and never seen during training.

A run's options are one dict, the ``config.json`` of its folder: every option of
``TRAIN_OPTIONS`` with its defaults filled in by ``resolve``, plus ``out``, ``threads`` and
``fastnet_version``. The command line (``fastnet.cli``) and sweeps (``fastnet.sweeps``,
``fastnet.sweepspec``) call this module and never each other.

A run folder is claimed (``claim``: a ``flock`` on its ``.lock``, and a probe that it is
writable) by the one process training into it, after every option has been checked and
before any of its files is touched.

Options left out take their defaults from ``fastnet.catalogue``, except that the default
optimizer is the MNIST recipe ``RECIPE`` (momentum 0.9, learning rate 0.1, weight decay
2e-4, cosine schedule: about 98 % test accuracy in 10 epochs).
"""
import contextlib
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from . import checks
from . import io as fio
from ._version import __version__
from .callbacks import EarlyStopping, RunDirectory, load_checkpoint
from .catalogue import HIDDEN_ACTIVATIONS, LOSS_NAMES, OPTIMIZERS, SCHEDULES
from . import datasets, metrics
from .datasets import load_mnist
from .inputs import looks_sparse
from .layers import Dense
from .network import Network
from .optimizers import make_optimizer
from .scaling import MODES as SCALE_MODES
from .scaling import DARK_PIXELS, Scaler, warn_unscaled
from .train import NAN_POLICIES, DivergenceError, TrainingInterrupted

MNIST_PIXELS, MNIST_CLASSES = 784, 10
DEFAULT_HIDDEN = [256]
RECIPE = {"optimizer": "momentum", "lr": 0.1, "weight_decay": 2e-4}
"""The optimizer of ``fastnet train`` without options, and the hyper-parameters it sets."""
HYPER = ("lr", "momentum", "weight_decay", "beta1", "beta2", "rho", "eps")
"""The optimizer options; each applies to the optimizers whose catalogue entry has it."""
RUN_FILES = ("config.json", "history.csv", "checkpoint.npz", "best.npz", "model.npz",
             "test.json", "timing.json")
TASK_LOSS = {"classification": "softmax_cross_entropy", "binary": "binary_cross_entropy",
             "regression": "sum_of_squares"}
"""The loss of each task (its output activation: softmax, sigmoid, identity)."""
LOCK_FILE = ".lock"
"""Held (``fcntl.flock``) by the process that trains into a run or sweep folder."""
MAX_PARAMETERS = 1 << 28
"""The most weights a run's network may have (1 GiB of float32 each for the weights, their
gradients and two optimizer state vectors)."""
MAX_ACTIVATIONS = 1 << 27
"""The most hidden and output values (batch size × Σ layer widths) a training batch may hold."""


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


def hidden_sizes(text):
    """'256,128' -> [256, 128]: the hidden layers' sizes, each an integer >= 1."""
    return layer_sizes(text + ",1")[:-1] if text.strip() else []


def path_text(text):
    """A file or folder path (not checked here: the loader names what is wrong)."""
    if not text.strip():
        raise ValueError("expected a path, got an empty text")
    return text


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
    Option("data", path_text, None,
           "training data: a CSV with a header, an .npz (X/y or x_train/y_train), an .npy "
           "(X.npy beside y.npy) or a folder of .npy or MNIST-named IDX files (default: "
           "the shipped MNIST)", "data", "PATH"),
    Option("test_data", path_text, None,
           "test data, evaluated once after training (default: the test part of --data: "
           "an .npz's x_test/y_test, a folder's t10k/X_test files; none for a CSV)",
           "data", "PATH"),
    Option("target", path_text, "label", "the target column of a CSV", "data", "NAME"),
    Option("task", one_of("task", tuple(TASK_LOSS)), None,
           f"{_names(TASK_LOSS)} (default: from the targets: integers 0/1 binary, other "
           "integers or strings classes, fractions regression)", "data", "TASK"),
    Option("scale", one_of("scale", SCALE_MODES), "auto",
           "input scaling fitted on the training part: auto (uint8 pixels /255, centred "
           "when the background is light; else standard), none, unit (min-max to [0, 1]), "
           "standard (mean 0, std 1); stored in the model", "data", "MODE"),
    Option("layers", layer_sizes, None,
           "layer sizes, input first, outputs last (default: the data's features, "
           "--hidden, its classes or outputs; MNIST 784,256,10)", "network", "SIZES"),
    Option("hidden", hidden_sizes, None, "hidden layer sizes, between the data's "
           "inputs and outputs (default 256)", "network", "SIZES"),
    Option("activation", one_of("activation", HIDDEN_ACTIVATIONS), "relu",
           f"hidden-layer activation: {_names(HIDDEN_ACTIVATIONS)}", "network", "NAME"),
    Option("loss", one_of("loss", LOSS_NAMES), None,
           f"loss: {_names(LOSS_NAMES)} (default: the task's: "
           f"{_names(TASK_LOSS.values())})", "network", "NAME"),
    Option("dropout", _FRACTION, 0.0,
           "inverted dropout probability on the hidden layers' outputs while training",
           "network", "P"),
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
    Option("validation_split", _FRACTION, 0.1,
           "seeded fraction of the training data held out (stratified by class) for "
           "val_*, best.npz and early stopping; 0: train on everything, no validation",
           "training"),
    Option("early_stopping", integer(0), 0,
           "stop when val_loss has not improved for PATIENCE epochs and restore the best "
           "weights (0: off)", "training", "PATIENCE"),
    Option("class_weight", one_of("class_weight", ("none", "balanced")), "none",
           "weigh each class's samples: none, or balanced (n / (classes · count))",
           "training", "WEIGHTS"),
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
    if "layers" in given and "hidden" in given:
        raise RunError("give --layers or --hidden, not both")
    if cfg["data"] is None:
        if cfg["test_data"] is not None:
            raise RunError("--test-data needs --data (the training data)")
        if cfg["task"] not in (None, "classification"):
            raise RunError(f"--task {cfg['task']}: MNIST is a classification task")
        shape(cfg, MNIST_PIXELS, MNIST_CLASSES, "classification", "MNIST pixels",
              "MNIST classes")
    if cfg["early_stopping"] and not cfg["validation_split"]:
        raise RunError("--early-stopping needs a validation set (--validation-split > 0); "
                       "the test set is never used during training")
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
    _check_size(cfg)
    return cfg


def shape(cfg, n_inputs, n_outputs, task, inputs_are, outputs_are):
    """Fill in cfg's task, loss and layers from the data's shape (``--layers``, if given,
    must match it)."""
    cfg["task"] = task
    cfg["loss"] = cfg["loss"] or TASK_LOSS[task]
    if cfg["layers"] is None:
        hidden = cfg["hidden"] if cfg["hidden"] is not None else DEFAULT_HIDDEN
        cfg["layers"] = [n_inputs, *hidden, n_outputs]
    sizes = cfg["layers"]
    if sizes[0] != n_inputs:
        raise RunError(f"--layers must start with {n_inputs} ({inputs_are}), got {sizes[0]}")
    if sizes[-1] != n_outputs:
        raise RunError(f"--layers must end with {n_outputs} ({outputs_are}), got {sizes[-1]}")
    cfg["hidden"] = sizes[1:-1]
    _check_size(cfg)


SPARSE_IDS = 20   # integer targets up to this are class ids however few of them occur
FEW_PER_CLASS = 5   # past SPARSE_IDS, fewer samples than this per distinct value: a quantity


def infer_task(y, classes=None):
    """The task of targets y: strings (``classes``) or integers are classes (0/1 only:
    binary); anything else is regression. Integers past SPARSE_IDS that look like a
    quantity (a count, a score) are refused, asking for the task: most ids 0..max never
    occur, or each value occurs fewer than FEW_PER_CLASS times on average."""
    if y.dtype.kind == "f" or y.ndim != 1:
        return "regression"
    if classes is None and y.min() >= 0 and y.max() <= 1:
        return "binary"
    if classes is None and y.max() >= SPARSE_IDS:
        distinct = len(np.unique(y))
        if 2 * distinct < y.max() + 1 or len(y) < FEW_PER_CLASS * distinct:
            raise RunError(f"the targets are integers {int(y.min())}..{int(y.max())}: "
                           f"{distinct} distinct values in {len(y)} samples look like a "
                           "quantity more than class ids; give --task regression for a "
                           "quantity, or --task classification for class ids")
    return "binary" if classes is not None and len(classes) == 2 else "classification"


def n_outputs(task, y, classes):
    if task == "binary":
        return 1
    if task == "regression":
        return 1 if y.ndim == 1 else y.shape[1]
    return max(len(classes) if classes else int(y.max()) + 1, 2)


def _check_size(cfg):
    """Refuse a network or batch too large to allocate, before allocating it."""
    sizes = cfg["layers"]
    if sizes is None:   # filled in from the data by shape(), which checks again
        return
    n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if n_params > MAX_PARAMETERS:
        raise RunError(f"--layers {','.join(map(str, sizes))} has {n_params:,} weights, more "
                       f"than fastnet trains ({MAX_PARAMETERS:,})")
    values = cfg["batch_size"] * sum(sizes[1:])
    if values > MAX_ACTIVATIONS:
        raise RunError(f"--batch-size {cfg['batch_size']} with --layers "
                       f"{','.join(map(str, sizes))} needs {values:,} values per batch, more "
                       f"than fastnet allows ({MAX_ACTIVATIONS:,}); use smaller layers or "
                       "batches")


def _check_split(cfg, n):
    """The validation split of ``cfg`` must leave samples for training and validation."""
    split = cfg["validation_split"]
    n_val = int(round(n * split))
    if split and not 0 < n_val < n:
        raise RunError(f"--validation-split {split:g} leaves no samples for training or "
                       f"validation out of {n}")


# ---------------------------------------------------------------- building blocks
def build_network(cfg, sparse_inputs=True):
    """The Network of a run's options: Dense layers of ``layers``, ``activation`` on the
    hidden ones, ``loss``, weights seeded by ``seed``; ``sparse_inputs`` as the data looks
    (``inputs.looks_sparse``)."""
    sizes = cfg["layers"]
    layers = [Dense(sizes[i], sizes[i + 1], activation=cfg["activation"],
                    dropout=cfg.get("dropout", 0.0)) for i in range(len(sizes) - 2)]
    layers.append(Dense(sizes[-2], sizes[-1]))
    return Network(layers, loss=cfg["loss"], seed=cfg["seed"], sparse_inputs=sparse_inputs)


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
    """The targets ``net`` trains on for targets ``y``: class ids for softmax, 0/1 for one
    sigmoid output, regression values as they are; one-hot rows of class ids otherwise."""
    if net.loss == "softmax_cross_entropy" or y.dtype.kind == "f" or net.n_outputs == 1:
        return y
    return np.eye(net.n_outputs, dtype=np.float32)[y]


def load_data(limit=None):
    """(X, y, X_test, y_test) of MNIST, the training set cut to ``limit`` samples."""
    (X, y), (X_test, y_test) = load_mnist()
    if limit:
        X, y = X[:limit], y[:limit]
    return X, y, X_test, y_test


@dataclass
class RunData:
    """A run's data: training X, y (after --limit; the validation part is split off by
    ``fit``), the test set (None without one), class names, and what to call them."""
    X: object
    y: object
    X_test: object
    y_test: object
    classes: list
    name: str
    test_name: str
    features: list = None   # the training data's column names (a CSV's header), else None


def load_run_data(cfg):
    """The RunData of a run's options: MNIST, or ``data``/``test_data`` read by
    ``fastnet.datasets.load`` (string test labels mapped to the training set's classes)."""
    if cfg["data"] is None:
        X, y, X_test, y_test = load_data(cfg["limit"])
        return RunData(X, y, X_test, y_test, None, "MNIST", "MNIST test")
    train = datasets.load(cfg["data"], target=cfg["target"])
    X, y = train.X, train.y
    if cfg["limit"]:
        X, y = X[:cfg["limit"]], y[:cfg["limit"]]
    test, note = None, None
    try:
        if cfg["test_data"] is not None:
            test = datasets.load(cfg["test_data"], target=cfg["target"])
        elif Path(cfg["data"]).suffix.lower() != ".csv":
            test = datasets.load(cfg["data"], target=cfg["target"], split="test")
    except ValueError as e:
        if cfg["test_data"] is not None:
            raise
        note = str(e)
    if test is None:
        print(f"note: no test set ({note or 'a CSV holds one split'}); give one with "
              "--test-data", file=sys.stderr)
        return RunData(X, y, None, None, train.classes, train.source, None, train.features)
    if test.X.shape[1] != X.shape[1]:
        raise RunError(f"{test.source}: {test.X.shape[1]} features, but the training data "
                       f"{train.source} has {X.shape[1]}")
    X_test = same_features(test.X, test.features, train.features, test.source)
    y_test = _same_classes(test, train.classes)
    if (y_test.dtype.kind == "f") != (y.dtype.kind == "f"):
        raise RunError(f"{test.source}: its targets are {y_test.dtype}, the training data's "
                       f"{y.dtype}")
    return RunData(X, y, X_test, y_test, train.classes, train.source, test.source,
                   train.features)


def same_features(X, features, expected, source):
    """X's columns, named ``features``, in the order of the training data's ``expected``
    names: X itself when they agree (or either has no names), the columns reordered when
    the names are the same in another order, else a RunError naming the difference."""
    if features is None or expected is None or list(features) == list(expected):
        return X
    missing = [f for f in expected if f not in features]
    extra = [f for f in features if f not in expected]
    if missing or extra or len(set(features)) != len(features):
        raise RunError(f"{source}: its columns are not the training data's (missing "
                       f"{missing[:5]}, not in the training data {extra[:5]})")
    return np.ascontiguousarray(X[:, [list(features).index(f) for f in expected]])


def _same_classes(test, classes):
    """The test set's class ids in the training set's numbering of string labels."""
    if test.classes is None and classes is None:
        return test.y
    if test.classes is None or classes is None:
        raise RunError(f"{test.source}: its labels are {'strings' if test.classes else 'numbers'}"
                       f", the training data's are {'strings' if classes else 'numbers'}")
    unknown = sorted(set(test.classes) - set(classes))
    if unknown:
        raise RunError(f"{test.source}: labels {unknown[:5]} do not occur in the training data")
    ids = np.array([classes.index(c) for c in test.classes], np.int64)
    return ids[test.y]


def _prepare(cfg, data):
    """Fill in the task, loss and layers from ``data``; returns targets converted to the
    task (class ids, 0/1 or float values) for training and testing."""
    task = cfg["task"] or infer_task(data.y, data.classes)
    y, y_test = data.y, data.y_test
    if task == "regression":
        y = y.astype(np.float32)
        y_test = None if y_test is None else y_test.astype(np.float32)
    elif y.dtype.kind == "f" or y.ndim != 1:
        raise RunError(f"--task {task} needs integer or string class labels; {data.name} "
                       f"has {y.dtype} targets of shape {y.shape} (use --task regression)")
    elif task == "binary" and (y.min() < 0 or y.max() > 1):
        raise RunError(f"--task binary needs labels 0 and 1; {data.name} has "
                       f"{int(y.min())}..{int(y.max())} (use --task classification)")
    if cfg["data"] is not None:
        shape(cfg, data.X.shape[1], n_outputs(task, y, data.classes), task,
              f"the features of {data.name}", f"the outputs of task {task}")
    data.y, data.y_test = y, y_test
    if y_test is not None and task != "regression" and len(y_test) and \
            y_test.max() >= max(cfg["layers"][-1], 2):
        raise RunError(f"{data.test_name}: class {int(y_test.max())} does not occur in the "
                       f"training data ({cfg['layers'][-1]} outputs)")


def make_scaler(cfg):
    """The scaler of ``scale``, unfitted: ``fit`` fits it on the training part (the rows
    it keeps after its seeded validation split) in one streaming pass (``scaling.Scaler``
    has the rules; dark-background uint8 pixels keep the gather kernels' x / 255)."""
    return Scaler(cfg["scale"])


class _FreshRun:
    """Callback of a fresh run: once ``fit`` has split off the validation set (and fitted
    the scaler on the rest), record the split in config.json and describe the run."""

    def __init__(self, cfg, data, opt):
        self.cfg, self.data, self.opt = cfg, data, opt

    def on_train_begin(self, state):
        cfg, data = self.cfg, self.data
        cfg["split"] = {"n_train": state.n, "n_validation": len(data.X) - state.n,
                        "n_test": 0 if data.X_test is None else len(data.X_test),
                        "validation_split": cfg["validation_split"], "seed": cfg["seed"],
                        "stratified": cfg["task"] != "regression",
                        "train_source": data.name, "test_source": data.test_name}
        fio.write_text(Path(cfg["out"]) / "config.json", json.dumps(cfg, indent=2) + "\n")
        _describe(cfg, data, state.net)
        print(f"optimizer {cfg['optimizer']} {self.opt!r}, batch {cfg['batch_size']}, "
              f"{cfg['epochs']} epochs, seed {cfg['seed']}, run folder {cfg['out']}",
              flush=True)

    def on_epoch_end(self, net, epoch, logs):
        return False


# ---------------------------------------------------------------- run folders
@contextlib.contextmanager
def claim(folder, what="run"):
    """Hold ``folder`` (created if missing) for this process: an exclusive ``flock`` on
    ``folder/.lock`` (with our PID in it), released when the block ends or the process
    dies, so a lock left by a dead process is simply taken over, with the temporary files
    its writes left (``io.remove_temps``). Raises RunError if another
    process holds it, or if the folder is not writable (probed with a file created and
    removed: nothing may be trained that could not be saved)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunError(f"{folder} is a file, not a {what} folder; choose another --out")
    try:
        import fcntl
    except ImportError:          # not POSIX: no lock
        fcntl = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise RunError(f"{folder}: cannot write the {what} folder: {e.strerror or e}") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                raise RunError(f"{folder} is in use by another fastnet process (PID {holder}, "
                               f"lock {folder / LOCK_FILE}); wait for it to end or choose "
                               "another folder") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            probe = folder / f".write-test.{os.getpid()}"
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            os.unlink(probe)
            if fcntl is not None:   # ours alone: temporary files now are a killed writer's
                fio.remove_temps(folder)
        except OSError as e:
            raise RunError(f"{folder}: cannot write the {what} folder: {e.strerror or e}") \
                from None
        yield folder
    finally:
        os.close(fd)             # releases the flock


def check_out(out):
    """``--out`` must be a folder or not exist."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder; choose another --out")
    return out


def _holds_run(out):
    return [f for f in RUN_FILES if (out / f).exists()]


def train(options, out=None, threads=None, force=False, quiet=False, progress=True):
    """Train a new run of ``options`` (see ``resolve``) into folder ``out`` (default
    runs/<date-time>); returns the exit code (0, 1 diverged, 130/143 interrupted by
    SIGINT/SIGTERM). Every option is checked before anything in ``out`` is touched; a
    folder holding any run file is only overwritten with ``force``."""
    cfg = resolve(options)
    for key in ("data", "test_data"):   # config.json's paths work from any folder (resume)
        if cfg[key] is not None:
            cfg[key] = os.path.abspath(cfg[key])
    out = check_out(out or Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    if not force and _holds_run(out):
        raise RunError(f"{out} already holds a run ({', '.join(_holds_run(out))}); continue "
                       f"it with `fastnet resume {out}`, or pass --force to overwrite it, or "
                       "choose another --out")
    data = load_run_data(cfg)
    _prepare(cfg, data)
    _check_split(cfg, len(data.X))
    cfg.update(out=str(out), threads=set_threads(threads), fastnet_version=__version__)
    net = build_network(cfg, looks_sparse(data.X, cfg["scale"]))
    opt = build_optimizer(cfg)   # both checked before anything is written
    net.scaler = make_scaler(cfg)
    net.task, net.classes, net.features = cfg["task"], data.classes, data.features
    net.source = {"data": data.name, "test": data.test_name}
    with claim(out):
        if not force and _holds_run(out):       # written while we checked
            raise RunError(f"{out} already holds a run; pass --force to overwrite it")
        for stale in RUN_FILES[1:]:
            (out / stale).unlink(missing_ok=True)
        fio.write_text(out / "config.json", json.dumps(cfg, indent=2) + "\n")
        return _run(cfg, net, opt, None, data, quiet, progress)


def resume(run_dir, threads=None, quiet=False, progress=True):
    """Continue the run in ``run_dir`` from its checkpoint; returns the exit code. A
    finished run whose ``model.npz`` is missing (killed between the two) gets it written
    from the checkpoint."""
    run = Path(run_dir)
    if not (run / "config.json").is_file():
        raise RunError(f"{run} is not a run folder (no config.json)")
    if not (run / "checkpoint.npz").is_file():
        raise RunError(f"{run} has no checkpoint.npz yet (interrupted before the first "
                       "epoch ended?); start again with `fastnet train --force --out "
                       f"{run}`")
    with claim(run):
        try:
            cfg = json.loads((run / "config.json").read_text())
        except (ValueError, UnicodeDecodeError) as e:
            raise RunError(f"{run / 'config.json'}: not valid JSON ({e})") from None
        cfg["out"] = str(run)
        for name, option in TRAIN_OPTIONS.items():   # config.json of an older fastnet
            cfg.setdefault(name, option.default)
        data = load_run_data(cfg)
        _prepare(cfg, data)
        net, state = load_checkpoint(run / "checkpoint.npz", n_samples=len(data.X))
        if state.get("finished"):
            if not (run / "model.npz").exists():
                fio.save(net, run / "model.npz", optimizer=net.optimizer,
                         training={k: v for k, v in state.items() if k != "order"})
                print(f"{run}: the run had finished ({state['epoch']} epochs) but lacked "
                      "model.npz; wrote it from checkpoint.npz")
            else:
                print(f"{run}: the run already finished ({state['epoch']} epochs); nothing "
                      "to resume")
            return 0
        threads = set_threads(threads if threads is not None else
                              min(cfg.get("threads") or 1, numba.config.NUMBA_NUM_THREADS))
        if threads != cfg.get("threads"):
            print(f"note: resuming with {threads} threads, the run used {cfg.get('threads')}; "
                  "results may differ in the last bits", file=sys.stderr)
        print(f"resuming {run} at epoch {state['epoch'] + 1}, sample {state['position']}")
        return _run(cfg, net, net.optimizer, state, data, quiet, progress)


def _describe(cfg, data, net):
    """The first lines of a fresh run: data, split, task, scaling, network, optimizer."""
    split = cfg["split"]
    test = f" / {split['n_test']} test" if data.X_test is not None else ", no test set"
    name = "MNIST" if cfg["data"] is None else data.name
    print(f"fastnet {cfg['fastnet_version']}: {name} {split['n_train']} train / "
          f"{split['n_validation']} validation{test}, layers "
          f"{'-'.join(map(str, cfg['layers']))} {cfg['activation']}, "
          f"{numba.get_num_threads()} threads")
    if cfg["data"] is not None:
        classes = f" ({', '.join(data.classes[:10])}{', ...' if len(data.classes) > 10 else ''})" \
            if data.classes else ""
        scaling = DARK_PIXELS if net.scaler is None else net.scaler.describe()
        print(f"task {cfg['task']}{classes}, loss {cfg['loss']}, "
              f"{data.X.shape[1]} features scaled {scaling}")
    if data.test_name and cfg["data"] is not None:
        print(f"test set {data.test_name}: evaluated once, after training")


def _stop_message(es, history):
    """Why early stopping stopped, and which weights the model holds."""
    monitor = es.monitor
    best = history[monitor][es.best_epoch]
    restored = (f"restored the weights of epoch {es.best_epoch + 1}" if es.best_params is not None
                else f"best.npz holds epoch {es.best_epoch + 1}")
    return (f"early stopping after epoch {es.stopped_epoch + 1}: {monitor} has not improved "
            f"for {es.patience} epochs since epoch {es.best_epoch + 1} ({monitor} "
            f"{best:.4f}); {restored}")


def _run(cfg, net, opt, state, data, quiet, progress):
    """Train (fresh or resumed) into cfg['out']; test once at the end, into test.json."""
    out = Path(cfg["out"])
    X, y = data.X, data.y
    ckpt = out / "checkpoint.npz"
    if cfg["scale"] == "none":   # as they are (uint8 too: no 1/255)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warn_unscaled(X, cfg["data"] or "MNIST", pixels=False)
        for w in caught:
            print(f"fastnet: warning: {w.message}", file=sys.stderr)
    es = None
    callbacks = [RunDirectory(out, monitor="val_loss" if cfg.get("early_stopping") else None)]
    if cfg.get("early_stopping"):
        es = EarlyStopping("val_loss", patience=cfg["early_stopping"],
                           restore_best_weights=True)
        callbacks.insert(0, es)
    if state is None:
        callbacks.insert(0, _FreshRun(cfg, data, opt))
    try:
        history = net.fit(X, targets(net, y), epochs=cfg["epochs"],
                          batch_size=cfg["batch_size"], optimizer=opt,
                          validation_split=cfg["validation_split"],
                          seed=cfg["seed"], verbose=not quiet, callbacks=callbacks,
                          on_nan=cfg.get("on_nan", "stop"), progress=progress and not quiet,
                          handle_sigint=True, resume=state,
                          class_weight="balanced" if cfg.get("class_weight") == "balanced"
                          else None)
    except TrainingInterrupted as e:
        print(f"\nfastnet: {e}; checkpoint saved in {ckpt}\n"
              f"continue with:  fastnet resume {out}", file=sys.stderr)
        return 128 + e.signum
    except DivergenceError as e:
        kept = (f"the last good checkpoint is {ckpt}" if ckpt.exists()
                else "no epoch finished, so there is no checkpoint")
        print(f"fastnet: error: {e}\n{kept}; see --on-nan", file=sys.stderr)
        return 1
    except OSError as e:          # disk full, read-only, permissions: files are atomic
        kept = (f"the last good checkpoint {ckpt} is intact; free the space or fix the "
                f"permissions, then `fastnet resume {out}`" if ckpt.exists()
                else "no epoch finished, so there is no checkpoint")
        raise RunError(f"cannot write the run folder {out}: {e}; {kept}") from None
    # the seconds this process spent compiling kernels before its first step (history.csv's
    # epoch seconds exclude them)
    fio.write_text(out / "timing.json",
                   json.dumps({"compile_seconds": round(history.compile_seconds, 3)}) + "\n")
    if es is not None and es.stopped_epoch is not None:
        print(_stop_message(es, history))
    if not cfg["validation_split"] and (out / "model.npz").exists():
        fio.write_bytes(out / "best.npz", (out / "model.npz").read_bytes())  # best = final
    if data.X_test is not None:
        result = score_test_set(net, data.X_test, data.y_test)
        fio.write_text(out / "test.json", json.dumps(
            {"source": data.test_name, "n": len(data.X_test), **result}, indent=2) + "\n")
        if "accuracy" in result:
            print(f"test loss {result['loss']:.4f}  test accuracy "
                  f"{100 * result['accuracy']:.2f}%")
        else:
            print(f"test loss {result['loss']:.4f}  test RMSE {result['rmse']:.4g}  "
                  f"R² {result['r2']:.4f}")
    print(f"wrote {out}/: " + " ".join(n for n in RUN_FILES if (out / n).exists()))
    return 0


def score_test_set(net, X, y):
    """The test set's loss and accuracy (classifiers) or RMSE, MAE and R² (regression)."""
    result = net.evaluate(X, targets(net, y))
    if not net.is_classifier:
        result.update(metrics.regression(y, net.predict(X)))
    return {k: float(v) for k, v in result.items()}
