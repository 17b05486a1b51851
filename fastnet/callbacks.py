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

import numpy as np

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
        if int(patience) < 0:
            raise ValueError(f"patience must be >= 0, got {patience!r}")
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


def read_history_csv(path):
    """{column: list of floats} from a history.csv (epoch as int; empty cells -> NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = {}
    for c in HISTORY_COLUMNS:
        vals = [r.get(c, "") for r in rows]
        if any(vals):
            cols[c] = [int(v) if c == "epoch" else (float(v) if v else math.nan) for v in vals]
    return cols


class RunDirectory(Callback):
    """Write a run folder as training goes:

    ``history.csv``     one row per epoch (HISTORY_COLUMNS), rewritten atomically each epoch
    ``best.npz``        the model of the best epoch on ``monitor`` (default val_accuracy,
                        else val_loss, accuracy, loss: the first present)
    ``checkpoint.npz``  model + optimizer state + epoch + RNG state + history, after every
                        epoch and on Ctrl-C (with the position inside the epoch)
    ``model.npz``       the final model, when training ends

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
        fio.save(state.net, self.path("checkpoint.npz"), optimizer=state.optimizer,
                 training=state.training_meta(), arrays=state.arrays())
        fio.write_text(self.path("history.csv"), history_csv(state.history))

    def on_train_end(self, state):
        if not self.path("checkpoint.npz").exists():   # e.g. epochs=0
            self.on_checkpoint(state)
        fio.save(state.net, self.path("model.npz"), optimizer=state.optimizer,
                 training=state.training_meta())


def load_checkpoint(path):
    """(net, resume) from a checkpoint.npz: pass ``resume`` to ``fit(resume=...)`` and
    ``net.optimizer`` as its optimizer."""
    net, meta, arrays = fio.load(path, return_meta=True)
    training = meta.get("training")
    if not isinstance(training, dict) or "rng" not in training:
        raise ValueError(f"{path}: holds a model but no training state to resume from")
    if not hasattr(net, "optimizer"):
        raise ValueError(f"{path}: holds no optimizer state to resume from")
    resume = dict(training)
    if "extra.order" in arrays:
        resume["order"] = np.asarray(arrays["extra.order"])
    elif resume.get("position"):
        raise ValueError(f"{path}: checkpoint taken mid-epoch lacks the sample order")
    return net, resume
