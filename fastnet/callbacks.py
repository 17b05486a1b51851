"""Callbacks for ``Network.fit`` (Keras-style).

``fit`` calls, when a callback defines them:

    on_train_begin(state)             state: fastnet.train.TrainState (net, optimizer, rng,
                                      history, epoch, ...)
    on_epoch_end(net, epoch, logs)    logs: epoch, loss, accuracy, val_loss, val_accuracy,
                                      lr, seconds; return True to stop training
    on_checkpoint(state)              after every epoch (and on Ctrl-C with
                                      handle_sigint=True): the moment to save
    on_train_end(state)
"""
import csv
import io
import math
import numbers
import os

import numpy as np

from . import checks
from . import io as fio

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "lr")


class Callback:
    """Base class; override the hooks you need."""

    def on_train_begin(self, state):
        pass

    def on_epoch_end(self, net, epoch, logs):
        return False

    def on_checkpoint(self, state):
        pass

    def on_train_end(self, state):
        pass


class LambdaCallback(Callback):
    """``LambdaCallback(on_epoch_end=lambda net, epoch, logs: ...)``."""

    def __init__(self, on_epoch_end):
        self._fn = on_epoch_end

    def on_epoch_end(self, net, epoch, logs):
        return self._fn(net, epoch, logs)


def _better(mode, value, best, min_delta=0.0):
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _mode(monitor):
    return "max" if "acc" in monitor else "min"


class EarlyStopping(Callback):
    """Stop when ``monitor`` (default val_loss) has not improved by ``min_delta`` for
    ``patience`` epochs; with ``restore_best_weights`` put back the best epoch's weights.

    Its counters are recomputed from the history at ``on_train_begin``, so a resumed run
    stops where the uninterrupted one would.
    """

    def __init__(self, monitor="val_loss", patience=3, min_delta=0.0,
                 restore_best_weights=False):
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or \
                patience < 0:
            raise ValueError(f"patience must be a whole number of epochs >= 0, got "
                             f"{patience!r}")
        self.monitor, self.patience = monitor, int(patience)
        self.min_delta, self.restore_best_weights = float(min_delta), restore_best_weights
        self.mode = _mode(monitor)
        self.best, self.wait, self.best_epoch, self.best_params = None, 0, None, None
        self.stopped_epoch = None

    def on_train_begin(self, state):
        self.best, self.wait, self.best_epoch, self.stopped_epoch = None, 0, None, None
        for e, value in enumerate(state.history.get(self.monitor, [])):
            self._update(e, value, None)

    def _update(self, epoch, value, net):
        if _better(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if net is not None and self.restore_best_weights:
                self.best_params = net.params.copy()
        else:
            self.wait += 1

    def on_epoch_end(self, net, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r} but the logs hold "
                             f"{sorted(logs)}; give validation data or monitor='loss'")
        self._update(epoch, logs[self.monitor], net)
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            if self.restore_best_weights and self.best_params is not None:
                net.params[...] = self.best_params
            return True
        return False


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by
    ``min_delta`` for ``patience`` epochs (Keras's callback): lr ← max(lr · factor,
    min_lr), then ``cooldown`` epochs in which no epoch counts as a bad one. The next
    epoch trains with the new rate (its ``lr`` in the history shows it); with a schedule,
    the schedule's factor applies on top of the reduced base rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4,
                 cooldown=0, min_lr=0.0, verbose=False):
        self.factor = checks.real("factor", factor, 0.0, 1.0)
        if not 0 < self.factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.monitor, self.mode = monitor, _mode(monitor)
        self.patience = checks.integer("patience", patience, 0)
        self.min_delta = checks.real("min_delta", min_delta, 0.0)
        self.cooldown = checks.integer("cooldown", cooldown, 0)
        self.min_lr = checks.real("min_lr", min_lr, 0.0)
        self.verbose = verbose
        self.best, self.wait, self.cooldown_counter, self.optimizer = None, 0, 0, None

    def on_train_begin(self, state):
        self.optimizer = state.optimizer
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, net, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"ReduceLROnPlateau monitors {self.monitor!r} but the logs hold "
                             f"{sorted(logs)}; give validation data or monitor='loss'")
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if _better(self.mode, logs[self.monitor], self.best, self.min_delta):
            self.best, self.wait = logs[self.monitor], 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)
                self.cooldown_counter, self.wait = self.cooldown, 0
        return False

    def _reduce(self, epoch):
        opt = self.optimizer
        old = opt.current_lr
        if old <= self.min_lr:
            return
        new = max(old * self.factor, self.min_lr)
        opt.lr *= new / old        # the next epoch's set_epoch gives current_lr = new
        opt.current_lr = new
        if self.verbose:
            print(f"epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:g}")


def history_csv(history):
    """The history as CSV text with the HISTORY_COLUMNS header (empty cells if absent)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HISTORY_COLUMNS)
    for i in range(len(history.get("loss", []))):
        w.writerow([_cell(history.get(c, [None] * (i + 1))[i]) for c in HISTORY_COLUMNS])
    return out.getvalue()


def _cell(v):
    if v is None:
        return ""
    return repr(float(v)) if isinstance(v, float) else str(v)


MAX_HISTORY_BYTES = 64 << 20


def read_history_csv(path):
    """{column: list of floats} from a history.csv (epoch as int; empty cells -> NaN).

    'epoch' and 'loss' are always there (empty lists for a run interrupted in its first
    epoch); other columns only if they hold a value. A file that is not such a CSV
    raises ValueError naming the file, the row and the column.
    """
    size = os.path.getsize(path)
    if size > MAX_HISTORY_BYTES:
        raise ValueError(f"{path}: {size} bytes is more than a history.csv may hold "
                         f"({MAX_HISTORY_BYTES})")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not a history.csv ({type(e).__name__}: {e})") from None
    missing = [c for c in ("epoch", "loss") if c not in header]
    if missing:
        raise ValueError(f"{path}: not a history.csv: the header {header} lacks {missing} "
                         f"(expected {','.join(HISTORY_COLUMNS)})")
    for i, r in enumerate(rows):
        if None in r or None in r.values():
            raise ValueError(f"{path}: row {i + 1} does not have the header's {len(header)} "
                             "cells (cut or edited?)")
    cols = {}
    for c in HISTORY_COLUMNS:
        vals = [r.get(c) or "" for r in rows]
        if c in ("epoch", "loss") or any(vals):
            cols[c] = [_parse_cell(path, i, c, v) for i, v in enumerate(vals)]
    return cols


def _parse_cell(path, row, column, text):
    try:
        if column == "epoch":
            return int(text)
        return float(text) if text else math.nan
    except ValueError:
        raise ValueError(f"{path}: row {row + 1}, column {column!r}: {text!r} is not "
                         f"{'an integer' if column == 'epoch' else 'a number'}") from None


class RunDirectory(Callback):
    """Write a run folder as training goes:

    ``history.csv``     one row per epoch (HISTORY_COLUMNS), rewritten atomically each epoch
    ``best.npz``        the model of the best epoch on ``monitor`` (default val_accuracy,
                        else val_loss, accuracy, loss: the first present)
    ``checkpoint.npz``  model + optimizer state + epoch + RNG state + history, after every
                        epoch and on Ctrl-C (with the position inside the epoch)
    ``model.npz``       the final model, written just before the checkpoint that marks the
                        run finished (so a finished checkpoint implies a model.npz)

    Every file is replaced atomically (temp file, fsync, rename).
    """

    def __init__(self, directory, monitor=None):
        from pathlib import Path
        self.directory = Path(directory)
        self.monitor = monitor
        self.best = None

    def path(self, name):
        return self.directory / name

    def on_train_begin(self, state):
        self.directory.mkdir(parents=True, exist_ok=True)
        self.best = None
        monitor = self._monitor(state.history)
        for value in state.history.get(monitor, []) if monitor else []:
            if _better(_mode(monitor), value, self.best):
                self.best = value

    def _monitor(self, logs):
        if self.monitor:
            return self.monitor
        for m in ("val_accuracy", "val_loss", "accuracy", "loss"):
            if m in logs:
                return m
        return None

    def on_epoch_end(self, net, epoch, logs):
        monitor = self._monitor(logs)
        value = logs[monitor]
        if math.isfinite(value) and _better(_mode(monitor), value, self.best):
            self.best = value
            fio.save(net, self.path("best.npz"),
                     training={"epoch": epoch + 1, "monitor": monitor, "value": value})
        return False

    def on_checkpoint(self, state):
        if state.finished:   # model.npz first: a checkpoint saying "finished" implies it
            self._save_model(state)
        fio.save(state.net, self.path("checkpoint.npz"), optimizer=state.optimizer,
                 training=state.training_meta(), arrays=state.arrays())
        fio.write_text(self.path("history.csv"), history_csv(state.history))

    def on_train_end(self, state):
        if not self.path("checkpoint.npz").exists():   # e.g. epochs=0
            self.on_checkpoint(state)
        elif not self.path("model.npz").exists():      # resumed a finished run lacking it
            self._save_model(state)

    def _save_model(self, state):
        fio.save(state.net, self.path("model.npz"), optimizer=state.optimizer,
                 training=state.training_meta())


def load_checkpoint(path, n_samples=None):
    """(net, resume) from a checkpoint.npz: pass ``resume`` to ``fit(resume=...)`` and
    ``net.optimizer`` as its optimizer.

    Every value of the training state is checked before use (epochs and positions in
    range, counts consistent, the RNG state and history well formed, the saved sample
    order distinct indices); with ``n_samples``, the number of rows of the training data
    ``fit`` will get, the order must also index into it. Raises ValueError naming the
    file and the field.
    """
    net, meta, arrays = fio.load(path, return_meta=True)
    training = meta.get("training")
    if not isinstance(training, dict) or "rng" not in training:
        raise ValueError(f"{path}: holds a model but no training state to resume from")
    if not hasattr(net, "optimizer"):
        raise ValueError(f"{path}: holds no optimizer state to resume from")
    if n_samples is not None:
        n_samples = checks.integer("n_samples", n_samples, 1)
    resume = _checked_training(path, training, net, n_samples)
    if resume["position"]:
        if "extra.order" not in arrays:
            raise ValueError(f"{path}: checkpoint taken mid-epoch lacks the sample order")
        resume["order"] = _checked_order(path, arrays["extra.order"], resume["n_train"],
                                         n_samples)
    return net, resume


def _bad_field(path, key, value, expected):
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return ValueError(f"{path}: checkpoint field 'training.{key}' is {text}, expected "
                      f"{expected}")


def _int_field(path, training, key, low, high=None):
    v = training.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < low or \
            (high is not None and v > high):
        where = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise _bad_field(path, key, v, f"an integer {where}")
    return v


def _real_field(path, training, key, low=None):
    v = training.get(key)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or \
            (low is not None and v < low):
        raise _bad_field(path, key, v, "a finite number" + (f" >= {low}" if low is not None
                                                           else ""))
    return float(v)


def _checked_training(path, training, net, n_samples):
    """A copy of the checkpoint's training dict, every field checked."""
    t = dict(training)
    epochs = _int_field(path, t, "epochs", 0)
    epoch = _int_field(path, t, "epoch", 0, epochs)
    n_train = _int_field(path, t, "n_train", 1, n_samples)
    _int_field(path, t, "batch_size", 1)
    position = _int_field(path, t, "position", 0, 0 if epoch == epochs else n_train)
    done = position or n_train   # at an epoch boundary the totals of the finished epoch
    _int_field(path, t, "correct", 0, done)
    _int_field(path, t, "skipped", 0, done)
    _real_field(path, t, "loss_sum")
    _real_field(path, t, "seconds", 0)
    if t.get("seed") is not None:
        _int_field(path, t, "seed", 0)
    t.setdefault("stopped", False)                # absent from older checkpoints
    t.setdefault("finished", t["stopped"] or epoch >= epochs)
    for key in ("stopped", "finished"):
        if not isinstance(t[key], bool):
            raise _bad_field(path, key, t[key], "true or false")
    if t["finished"] != (t["stopped"] or epoch >= epochs):
        raise _bad_field(path, "finished", t["finished"],
                         f"{t['stopped'] or epoch >= epochs} (stopped={t['stopped']}, "
                         f"epoch {epoch} of {epochs})")
    try:
        np.random.default_rng().bit_generator.state = t["rng"]
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
        raise _bad_field(path, "rng", t["rng"], f"a PCG64 state ({type(e).__name__}: "
                                                  f"{e})") from None
    history = t.get("history")
    if not isinstance(history, dict):
        raise _bad_field(path, "history", history, "an object of per-epoch lists")
    for key, values in history.items():
        if not isinstance(values, list) or len(values) > epoch or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise _bad_field(path, f"history.{key}", values,
                             f"a list of at most {epoch} numbers (one per finished epoch)")
    return t


def _checked_order(path, order, n_train, n_samples):
    """The saved sample order: n_train distinct indices >= 0 (and < n_samples)."""
    order = np.asarray(order)
    if order.shape != (n_train,) or order.dtype.kind not in "iu":
        raise ValueError(f"{path}: checkpoint array 'order' is {order.dtype}{order.shape}, "
                         f"expected {n_train} integers")
    low, high = int(order.min()), int(order.max())
    if low < 0:
        raise ValueError(f"{path}: checkpoint array 'order' holds the sample index {low}; "
                         "indices are >= 0")
    if high >= (n_samples if n_samples is not None else 2**63):
        raise ValueError(f"{path}: checkpoint array 'order' holds the sample index {high}, "
                         f"but the training data has {n_samples or 'fewer'} samples")
    order = order.astype(np.int64)
    if len(np.unique(order)) != n_train:
        raise ValueError(f"{path}: checkpoint array 'order' repeats sample indices; it "
                         "must be a permutation of the training samples")
    return order
