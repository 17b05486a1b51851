"""The training loop (``fit``), running the passes of ``fastnet.passes``:

    for each epoch:
        shuffle the training indices (seeded)
        for each minibatch:
            gather                 x, t  ← X[idx], T[idx]
            forward                z_l = f_l(W_l z_{l-1} + b_l)
            loss                   ℓ, δ_L = ∂L/∂u_L
            backward-and-update    δ_l = f'_l(u_l) ⊙ (δ_{l+1} W_{l+1}), ∇W, ∇b;
                                   params ← optimizer(params, grads), layer by layer
            record                 running loss and accuracy
        evaluate on the validation data, record the history, call the callbacks

Its arguments are a network (duck-typed: this module does not import ``network``)
and arrays; ``TrainState`` is what a checkpoint saves of a run.
"""
import contextlib
import math
import signal
import sys
import threading
import time

import numpy as np

from . import checks, compiler, inputs, passes
from .kernels.metrics import count_correct
from .kernels.optim import optimizer_update
from .monitor import GradientMonitor, plot_monitor
from .optimizers import SGD, make_optimizer
from .plots import plot_history
from .scaling import warn_unscaled


class DivergenceError(FloatingPointError):
    """The training loss or a weight became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM arrived during ``fit(handle_sigint=True)``: the current
    step was finished and the callbacks' ``on_checkpoint`` ran before this was raised.
    ``signum`` is the signal's number (a command exits with 128 + signum)."""

    def __init__(self, state, signum=signal.SIGINT):
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name} in epoch {state.epoch + 1}/{state.epochs} "
                         f"after {state.position} of {state.n} samples")
        self.state, self.signum = state, int(signum)


NAN_POLICIES = ("stop", "skip", "halve")
MAX_HALVINGS = 40


def fit(net, X, y, epochs=10, batch_size=32, optimizer=None, validation_split=0.0,
        validation_data=None, seed=0, shuffle=True, verbose=True, callbacks=(),
        on_nan="stop", progress=False, handle_sigint=False, resume=None, sample_weight=None,
        class_weight=None, record=()):
    """Train ``net`` on (X, y) with minibatch gradient descent.

    Parameters
    ----------
    X : (n, n_inputs) array; uint8 images are scaled by 1/255 as they are gathered. With
        ``net.scaler`` (a ``fastnet.scaling.Scaler``; an unfitted one is fitted here, on
        the training part) each batch is scaled as it is gathered: X is never copied, and
        a float ``np.memmap`` (``np.load(path, mmap_mode="r")``) streams from disk.
    y : class ids (n,), one-hot / binary / regression targets (n, K).
    epochs, batch_size : int. The last batch of an epoch may be smaller.
    optimizer : Optimizer, name or dict (default SGD(lr=0.01, momentum=0.9)).
    validation_split : fraction of (X, y) held out (random, seeded; stratified by class
        for classifiers) for validation.
    validation_data : (X_val, y_val) evaluated after each epoch instead.
    seed : seeds the shuffling, the validation split and RReLU's slopes.
    callbacks : objects with any of ``on_train_begin(state)``, ``on_epoch_end(net, epoch,
        logs)`` (returning True stops), ``on_checkpoint(state)`` (after each epoch and on
        interrupt: the moment to save), ``on_train_end(state)``; see ``fastnet.callbacks``.
    on_nan : what to do when the loss or a weight becomes NaN/inf: "stop" (raise
        DivergenceError), "skip" (undo the step, drop that batch), "halve" (undo the step,
        halve the learning rate, retry the batch; at most MAX_HALVINGS halvings).
    progress : show a tqdm bar per epoch (running loss, samples/s) if tqdm is installed.
    handle_sigint : in the main thread, make Ctrl-C (SIGINT) and SIGTERM finish the current
        step, run the callbacks' ``on_checkpoint`` and raise ``TrainingInterrupted``.
    resume : a checkpoint's training state (``TrainState.training_meta()`` plus 'order')
        to continue from; the result equals an uninterrupted run.
    sample_weight : (n,) non-negative weights of the samples of (X, y).
    class_weight : {class id: weight} (classes not named weigh 1) or "balanced"
        (n / (k · count of the class), k the number of classes present), for classifiers;
        multiplies ``sample_weight``. With weights, a batch's loss and gradient are the
        weighted mean Σ w ℓ / Σ w (PyTorch's ``reduction='mean'`` with class weights), and
        the history's training loss averages those batch means; validation is unweighted.
    record : names of ``monitor.RECORDS`` ("grad_norm", "activation_stats") to record per
        layer before training and after each epoch on a probe of (X, y), into
        ``history.records`` (see ``fastnet.monitor``; ``History.plot_records`` draws them).

    Returns a ``History`` with loss, accuracy, val_loss, val_accuracy, lr, seconds (per
    epoch, without compiling) and ``compile_seconds``: the time spent compiling kernels
    before the first step (0.0 when Numba's cache had them; printed to stderr when verbose).
    Raises DivergenceError when an epoch ends with NaN/inf weights or a non-finite loss
    (whatever ``on_nan``), before the callbacks see that epoch: the last checkpoint saved
    is the last finite one.
    """
    epochs, batch_size, validation_split = checks.fit_arguments(
        epochs, batch_size, validation_split, seed, callbacks)
    shuffle = checks.boolean("shuffle", shuffle)
    if on_nan not in NAN_POLICIES:
        raise ValueError(f"on_nan must be one of {NAN_POLICIES}, got {on_nan!r}")
    opt = make_optimizer(optimizer) if optimizer is not None else SGD(0.01, momentum=0.9)
    opt.bind(net.params)
    X = inputs.check_input(net, X)
    T = inputs.encode_targets(net, y, X.shape[0])
    monitor = GradientMonitor(X, y, record=record, to_history=True) if record else None
    if monitor is not None:   # the monitor scales its probe rows as fit gathers them
        callbacks = [*callbacks, monitor]
    weights = sample_weights(net, T, sample_weight, class_weight)
    rng = np.random.default_rng(seed)
    train_idx, validation = _held_out(net, X, T, validation_split, validation_data, rng)
    _fit_scaler(net, X, train_idx)
    scale = inputs.input_scaling(net, X)
    if validation is not None:   # checked once; scaled as it is gathered, like X
        X_val, rows, T_val = validation
        validation = (X_val, inputs.input_scaling(net, X_val), rows, T_val)
    n = len(train_idx)
    state = TrainState(net, opt, rng, epochs, n, batch_size, seed)
    if resume is not None:
        state.restore(resume)
    net.optimizer = opt
    backup = _Backup(net, opt) if on_nan != "stop" else None
    if backup is not None:
        backup.save()
    batch_sizes = {min(batch_size, n), n % batch_size or batch_size}   # full, last
    # compile (or load) every kernel now, so that no epoch's seconds include a compile
    calls = passes.planned_calls(net, X, scale, T, opt.kind,
                                 None if validation is None else validation[:2],  # X_val, scale
                                 weighted=weights is not None, clips=opt.clips,
                                 batch_sizes=batch_sizes)
    if monitor is not None:   # its probe: a forward and the gradient alone, on its own batch
        calls += passes.planned_calls(net, X, scale, T, None, batch_sizes={len(monitor.X)})
    state.history.compile_seconds = compiler.warm(calls, verbose)
    # and make what the steps write, so that no epoch's seconds fault its pages in
    opt.build(net.params)
    for size in batch_sizes:
        passes.workspace(net, size).zero()
    _call(callbacks, "on_train_begin", state)
    with _sigint_flag(handle_sigint) as interrupted:
        while not state.finished:
            epoch = state.epoch
            opt.set_epoch(epoch)
            if state.position == 0:
                state.begin_epoch(train_idx[rng.permutation(n)] if shuffle else train_idx)
            t0 = time.perf_counter()
            bar = _progress_bar(progress, state)
            while state.position < n:
                s = state.position
                idx = state.order[s:s + batch_size]
                ws = passes.workspace(net, len(idx))
                passes.gather(ws, X, T, idx, scale)                      # gather
                if weights is not None:
                    np.take(weights, idx, out=ws.w)
                batch_loss = _train_step(net, opt, ws, rng, backup, on_nan,   # forward, loss,
                                         (epoch, s, len(idx), n),             # backward-update
                                         weights is not None)
                state.record(batch_loss, ws, len(idx))                    # record
                _show(bar, state, len(idx))
                if interrupted():
                    state.seconds += time.perf_counter() - t0
                    if bar is not None:
                        bar.close()
                    _call(callbacks, "on_checkpoint", state)
                    raise TrainingInterrupted(state, interrupted())
            if bar is not None:
                bar.close()
            logs = _epoch_logs(state, validation, on_nan)
            _check_finite(net, logs)
            state.seconds += time.perf_counter() - t0
            logs["seconds"] = state.seconds
            state.history.append(logs)
            state.epoch, state.position = epoch + 1, 0
            if verbose:
                print(format_logs(epoch, epochs, logs), flush=True)
            state.stopped = _call(callbacks, "on_epoch_end", net, epoch, logs)
            _call(callbacks, "on_checkpoint", state)
    _call(callbacks, "on_train_end", state)
    return state.history


def _train_step(net, opt, ws, rng, backup, on_nan, where, weighted=False):
    """One minibatch, gathered into ``ws``: forward, loss, backward-and-update. Returns
    the summed loss, or None if the batch was skipped. Raises DivergenceError
    (on_nan='stop', or after MAX_HALVINGS).

    ``backup`` holds the weights from before the last update. A weight turning NaN/inf
    in this update undoes this update. A NaN/inf loss *before* the update means the
    previous update left finite but useless weights (e.g. 1e30): it is undone once and
    the batch retried; if the loss is still not finite, the batch itself overflows and
    is skipped (a smaller step cannot help it)."""
    undone, halvings = False, 0
    while True:
        passes.forward(net, ws, training=True, rng=rng)
        batch_loss = passes.loss(net, ws, weighted)
        finite_loss = math.isfinite(batch_loss)
        if finite_loss:
            if backup is not None:
                backup.save()
            # back-propagation with each layer's update fused into its gradient kernel,
            # which also counts the parameters it left NaN or inf
            if _backward_update(net, opt, ws) == 0:
                return batch_loss
            what = "a weight became NaN/inf after the update"
        else:
            what = f"the loss is {batch_loss}"
        epoch, s, size, n = where
        where_text = (f"at epoch {epoch + 1}, samples {s}..{s + size} of {n} "
                      f"(learning rate {opt.current_lr:g})")
        if on_nan == "stop":
            raise DivergenceError(f"training diverged: {what} {where_text}; lower the learning "
                                  "rate or use on_nan='skip'/'halve' (--on-nan)")
        if not finite_loss:
            if undone:
                print(f"fastnet: skipped a batch: {what} {where_text} even with the previous "
                      "weights", file=sys.stderr)
                return None
            undone = True
            print(f"fastnet: {what} {where_text}; undid the previous update", file=sys.stderr)
        backup.restore()
        if not finite_loss and on_nan == "skip":
            continue
        if on_nan == "skip":
            print(f"fastnet: skipped a batch: {what} {where_text}", file=sys.stderr)
            return None
        if halvings == MAX_HALVINGS:
            raise DivergenceError(f"training diverged: {what} {where_text} even after "
                                  f"{MAX_HALVINGS} halvings of the learning rate")
        halvings += 1
        opt.lr *= 0.5
        opt.set_epoch(epoch)
        print(f"fastnet: {what} {where_text}; halving the learning rate to {opt.current_lr:g}",
              file=sys.stderr)


def sample_weights(net, T, sample_weight=None, class_weight=None):
    """The (n,) weights of the samples with targets T (``fit``'s sample_weight times
    class_weight), in the network's dtype; None without either."""
    n = T.shape[0]
    if sample_weight is None and class_weight is None:
        return None
    w = np.ones(n)
    if sample_weight is not None:
        w = inputs.as_array(sample_weight, "sample_weight")
        if w.dtype.kind not in "uifb" or w.shape != (n,):
            raise ValueError(f"sample_weight must be {n} numbers (one per sample), got "
                             f"shape {w.shape} dtype {w.dtype}")
        w = w.astype(np.float64)
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("sample_weight must be finite and >= 0")
    if class_weight is not None:
        ids = inputs.class_labels(net, T)
        if ids is None:
            raise TypeError("class_weight needs a classifier with softmax outputs or one "
                            "sigmoid output; use sample_weight")
        if isinstance(class_weight, str):
            if class_weight != "balanced":
                raise ValueError(f"class_weight must be a dict or 'balanced', got "
                                 f"{class_weight!r}")
            counts = np.bincount(ids)
            present = np.count_nonzero(counts)
            table = np.where(counts > 0, n / (present * np.maximum(counts, 1)), 1.0)
        elif isinstance(class_weight, dict):
            table = np.ones(max([int(ids.max()) + 1] + [int(k) + 1 for k in class_weight]))
            for k, v in class_weight.items():
                if int(k) != k or k < 0 or not np.isfinite(v) or v < 0:
                    raise ValueError(f"class_weight must map class ids >= 0 to finite "
                                     f"weights >= 0, got {k!r}: {v!r}")
                table[int(k)] = v
        else:
            raise TypeError(f"class_weight must be a dict {{class id: weight}} or "
                            f"'balanced', got {type(class_weight).__name__}")
        w = w * table[ids]
    if not w.any():
        raise ValueError("sample_weight/class_weight give every sample weight 0")
    return w.astype(net.dtype)


def _backward_update(net, opt, ws):
    """Back-propagation and the optimizer step; returns how many parameters it left
    NaN/inf. Clipping needs every gradient before the first update: the gradient pass
    runs alone, then the clip and the optimizer's flat update."""
    update = opt.begin_step(net.params, net.grads)
    if not opt.clips:
        return passes.backward(net, ws, update)
    passes.backward(net, ws)
    opt.clip(net.grads, net._segments)
    kind, h, s1, s2 = update
    return optimizer_update(net.params, s1, s2, net.grads, h, kind)


def _held_out(net, X, T, validation_split, validation_data, rng):
    """(training indices, validation): validation is (X_val, rows, T_val), the rows
    ``rows`` (None: all) of checked inputs X_val and their encoded targets T_val, split
    off (X, T) (``inputs.split_indices``, stratified by class for classifiers, drawn from
    ``rng`` before any shuffling: the one split of a run) or checked from
    ``validation_data``; None without one. A split-off validation set stays in X: its
    rows are gathered from there, never copied."""
    labels = inputs.class_labels(net, T) if validation_split else None
    train_idx, val_idx = inputs.split_indices(T.shape[0], validation_split, rng, labels)
    if validation_data is not None:
        if validation_split:
            raise ValueError("give validation_split or validation_data, not both")
        X_val, T_val = inputs.validation_data(net, validation_data)
        return train_idx, (X_val, None, T_val)
    if len(val_idx):
        return train_idx, (X, val_idx, T[val_idx])
    return train_idx, None


def _fit_scaler(net, X, train_idx):
    """Fit an unfitted ``net.scaler`` on the training rows of X (all of X without a
    validation split), in one streaming pass; without a scaler, warn if X looks
    unscaled. (An 'auto' one that comes out as x / 255 stays: it says that later
    inputs come as 0..255 pixels, and uint8 ones keep the gather kernels' x / 255 path.)"""
    scaler = getattr(net, "scaler", None)
    if scaler is None:
        warn_unscaled(X)
    elif scaler.shift is None and scaler.mode != "none":
        scaler.fit(X, None if len(train_idx) == X.shape[0] else train_idx)


def _evaluate(net, validation, batch_size=1024):
    """``Network.evaluate``'s metrics on the checked validation rows."""
    X_val, scale, rows, T_val = validation
    loss_sum, correct = passes.totals(net, X_val, scale, T_val, batch_size, rows)
    result = {"loss": loss_sum / T_val.shape[0]}
    if net.is_classifier:
        result["accuracy"] = correct / T_val.shape[0]
    return result


def _epoch_logs(state, validation, on_nan):
    """The finished epoch's metrics (all but 'seconds'); raises DivergenceError when
    every batch was skipped."""
    net, n = state.net, state.n
    if state.skipped >= n:
        raise DivergenceError(f"training diverged: every batch of epoch {state.epoch + 1} "
                              "was skipped (on_nan='skip'); lower the learning rate")
    trained = max(n - state.skipped, 1)
    logs = {"epoch": state.epoch + 1, "loss": state.loss_sum / trained}
    if net.is_classifier:
        logs["accuracy"] = state.correct / trained
    if validation is not None:
        for k, v in _evaluate(net, validation).items():
            logs["val_" + k] = v
    logs["lr"] = state.optimizer.current_lr
    if on_nan != "stop":   # every epoch, so the history's columns stay aligned
        logs["skipped_samples"] = state.skipped
    return logs


def _check_finite(net, logs):
    """Raise DivergenceError if the epoch left NaN/inf weights or a non-finite loss."""
    bad = [k for k in ("loss", "val_loss") if k in logs and not math.isfinite(logs[k])]
    if not np.isfinite(net.params).all():
        bad.insert(0, "weights")
    if bad:
        raise DivergenceError(
            f"training diverged: epoch {logs['epoch']} ended with non-finite "
            f"{', '.join(bad)} ({', '.join(f'{k} {logs[k]}' for k in bad if k in logs)}); "
            "the last finite checkpoint is kept; lower the learning rate")


def _show(bar, state, size):
    """Advance the progress bar (if any) by ``size`` samples, with the running loss."""
    if bar is not None:
        bar.update(size)
        bar.set_postfix(loss=f"{state.loss_sum / max(state.position - state.skipped, 1):.4f}",
                        refresh=False)


def format_logs(epoch, epochs, logs):
    parts = [f"epoch {epoch + 1:>{len(str(epochs))}}/{epochs}", f"loss {logs['loss']:.4f}"]
    if "accuracy" in logs:
        parts.append(f"acc {100 * logs['accuracy']:.2f}%")
    if "val_loss" in logs:
        parts.append(f"val_loss {logs['val_loss']:.4f}")
    if "val_accuracy" in logs:
        parts.append(f"val_acc {100 * logs['val_accuracy']:.2f}%")
    parts.append(f"{logs['seconds']:.2f} s")
    return "  ".join(parts)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Signals that ``fit(handle_sigint=True)`` turns into a checkpoint and TrainingInterrupted
(SIGTERM is what Dask, Slurm, Kubernetes and ``docker stop`` send)."""


@contextlib.contextmanager
def _sigint_flag(enabled):
    """Yield a function giving the number of the stop signal received (0: none); a
    second one aborts at once."""
    hit = []
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield lambda: 0
        return

    def handler(signum, frame):
        if hit:
            raise KeyboardInterrupt
        hit.append(signum)
        print(f"\nfastnet: {signal.Signals(signum).name} received; finishing this step and "
              "saving a checkpoint (press Ctrl-C again to abort without saving)",
              file=sys.stderr, flush=True)

    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield lambda: hit[0] if hit else 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _progress_bar(enabled, state):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=state.n, initial=state.position, unit="samples", unit_scale=True,
                desc=f"epoch {state.epoch + 1}/{state.epochs}", leave=False, file=sys.stderr,
                mininterval=0.2, dynamic_ncols=True)


def _call(callbacks, hook, *args):
    """Call ``hook`` on every callback that has it; True if any returned True."""
    results = [getattr(cb, hook)(*args) for cb in callbacks if hasattr(cb, hook)]
    return any(bool(r) for r in results)


class TrainState:
    """Everything that decides the rest of a run, as a checkpoint stores it.

    ``epoch`` is the current (0-based) epoch, ``position`` the number of samples of its
    shuffled ``order`` already trained on (0 at an epoch boundary); ``loss_sum``,
    ``correct``, ``skipped`` (samples), ``seconds`` are the running totals of that epoch; ``rng``
    is the Generator driving shuffling and RReLU; ``history`` the finished epochs.
    """

    def __init__(self, net, optimizer, rng, epochs, n, batch_size, seed):
        self.net, self.optimizer, self.rng = net, optimizer, rng
        self.epochs, self.n, self.batch_size, self.seed = epochs, n, batch_size, seed
        self.epoch, self.position, self.order = 0, 0, None
        self.loss_sum, self.correct, self.skipped, self.seconds = 0.0, 0, 0, 0.0
        self.history = History()
        self.stopped = False

    def begin_epoch(self, order):
        """Start an epoch over the samples in ``order``: the running totals back to 0."""
        self.order = order
        self.loss_sum, self.correct, self.skipped, self.seconds = 0.0, 0, 0, 0.0

    def record(self, batch_loss, ws, size):
        """Add a trained batch of ``size`` samples (its outputs and targets in ``ws``) to
        the running totals; ``batch_loss`` None: the batch was skipped."""
        if batch_loss is None:
            self.skipped += size
        else:
            self.loss_sum += batch_loss
            if self.net.is_classifier:
                self.correct += count_correct(ws.z[-1], ws.t, self.net.loss_kind)
        self.position += size

    @property
    def finished(self):
        return self.stopped or self.epoch >= self.epochs

    def training_meta(self):
        """JSON-able dict for a checkpoint's metadata (the order goes in an array)."""
        return {"epoch": self.epoch, "epochs": self.epochs, "position": self.position,
                "batch_size": self.batch_size, "n_train": self.n, "seed": self.seed,
                "loss_sum": self.loss_sum, "correct": self.correct, "skipped": self.skipped,
                "seconds": self.seconds, "stopped": self.stopped, "finished": self.finished,
                "rng": self.rng.bit_generator.state, "history": dict(self.history)}

    def arrays(self):
        return {"order": self.order} if self.position else {}

    def restore(self, resume):
        """Continue from ``training_meta()`` (+ 'order' when saved mid-epoch)."""
        for key in ("batch_size", "n_train"):
            have = self.batch_size if key == "batch_size" else self.n
            if resume.get(key, have) != have:
                raise ValueError(f"resume: the checkpoint was taken with {key}="
                                 f"{resume[key]}, this run has {have}")
        self.epoch, self.position = int(resume["epoch"]), int(resume["position"])
        self.loss_sum, self.correct = float(resume["loss_sum"]), int(resume["correct"])
        self.skipped, self.seconds = int(resume["skipped"]), float(resume["seconds"])
        self.stopped = bool(resume.get("stopped", False))
        self.rng.bit_generator.state = resume["rng"]
        self.history = History({k: list(v) for k, v in resume["history"].items()})
        if self.position:
            self.order = np.asarray(resume["order"], np.int64)
            if self.order.shape != (self.n,):
                raise ValueError(f"resume: saved sample order has shape {self.order.shape}, "
                                 f"expected ({self.n},)")


class _Backup:
    """Parameters and optimizer state from before a step (for on_nan='skip'/'halve')."""

    def __init__(self, net, opt):
        self.net, self.opt = net, opt
        self.params, self.state, self.t = np.empty_like(net.params), {}, 0

    def save(self):
        np.copyto(self.params, self.net.params)
        self.t = self.opt.t
        for k, v in self.opt.state.items():
            if k not in self.state or self.state[k].shape != v.shape:
                self.state[k] = np.empty_like(v)
            np.copyto(self.state[k], v)

    def restore(self):
        np.copyto(self.net.params, self.params)
        self.opt.t = self.t
        for k, v in self.opt.state.items():
            if k in self.state:
                np.copyto(v, self.state[k])
            else:           # state created by the update being undone
                v[...] = 0


class History(dict):
    """Per-epoch metrics: ``history["loss"][e]`` etc. (Keras-style ``.history`` too), and
    ``compile_seconds``: what ``fit`` spent compiling kernels before the first step."""

    compile_seconds = 0.0
    records = None   # fit(record=...): {"epoch": (E,), field: (E, n_layers)}

    @property
    def history(self):
        return self

    def append(self, logs):
        for k, v in logs.items():
            self.setdefault(k, []).append(v)

    def plot(self, metrics=None):
        """A matplotlib Figure of each metric (default loss, and accuracy if recorded)
        against epoch, training and validation on the same axes; in a notebook it shows
        itself. Needs matplotlib (``pip install "fastnet[plot]"``)."""
        return plot_history(self, metrics)

    def plot_records(self, path, title=""):
        """A PNG at ``path`` of ``records`` over the epochs (``monitor.plot_monitor``)."""
        if not self.records:
            raise ValueError("no records: train with fit(..., record=('grad_norm', ...))")
        return plot_monitor(self.records, path, title)
