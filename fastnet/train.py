"""The training loop: plain Python driving the kernels.

    for each epoch:
        shuffle the training indices (seeded)
        for each minibatch:
            gather rows            x, d  ← X[idx], T[idx]
            forward                z_l = f_l(W_l z_{l-1} + b_l)
            backward               δ_L = ∂L/∂u_L, δ_l = f'_l(u_l) ⊙ (δ_{l+1} W_{l+1}), ∇W, ∇b
            update                 params ← optimizer(params, grads)
        evaluate on the validation data, record the history, call the callbacks
"""
import time

import numpy as np

from . import checks
from .kernels.data import gather_rows
from .kernels.metrics import count_correct
from .kernels.losses import BINARY_CROSS_ENTROPY
from .optimizers import SGD, make_optimizer


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite."""


class History(dict):
    """Per-epoch metrics: ``history["loss"][e]`` etc. (Keras-style ``.history`` too)."""

    @property
    def history(self):
        return self

    def append(self, logs):
        for k, v in logs.items():
            self.setdefault(k, []).append(v)


def _split(n, validation_split, rng):
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    n_val = int(round(n * validation_split))
    if validation_split and not 0 < n_val < n:
        raise ValueError(f"validation_split={validation_split} leaves no samples for "
                         f"training or validation out of {n}")
    perm = rng.permutation(n) if n_val else np.arange(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


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


def fit(net, X, y, epochs=10, batch_size=32, optimizer=None, validation_split=0.0,
        validation_data=None, seed=0, shuffle=True, verbose=True, callbacks=()):
    """Train ``net`` on (X, y) with minibatch gradient descent.

    Parameters
    ----------
    X : (n, n_inputs) array; uint8 images are scaled by 1/255 as they are gathered.
    y : class ids (n,), one-hot / binary / regression targets (n, K).
    epochs, batch_size : int. The last batch of an epoch may be smaller.
    optimizer : Optimizer, name or dict (default SGD(lr=0.01, momentum=0.9)).
    validation_split : fraction of (X, y) held out (random, seeded) for validation.
    validation_data : (X_val, y_val) evaluated after each epoch instead.
    seed : seeds the shuffling, the validation split and RReLU's slopes.
    callbacks : objects with ``on_epoch_end(net, epoch, logs)``; returning True stops.

    Returns a ``History`` with loss, accuracy, val_loss, val_accuracy, lr, seconds.
    """
    epochs, batch_size, validation_split = checks.fit_arguments(
        epochs, batch_size, validation_split, seed, callbacks)
    opt = make_optimizer(optimizer) if optimizer is not None else SGD(0.01, momentum=0.9)
    X, scale = net._as_input(X)
    T = net._encode_targets(y, X.shape[0])
    rng = np.random.default_rng(seed)
    train_idx, val_idx = _split(X.shape[0], validation_split, rng)
    if validation_data is not None:
        if validation_split:
            raise ValueError("give validation_split or validation_data, not both")
        X_val, y_val = net._validation_data(validation_data)
    elif len(val_idx):
        X_val, y_val = X[val_idx], T[val_idx]
    else:
        X_val = y_val = None

    n = len(train_idx)
    per_sample = net.n_outputs if net.loss_kind == BINARY_CROSS_ENTROPY else 1
    history = History()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        opt.set_epoch(epoch)
        order = train_idx[rng.permutation(n)] if shuffle else train_idx
        loss_sum, correct = 0.0, 0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            ws = net._workspace(len(idx))
            gather_rows(ws.x, X, idx, scale)
            gather_rows(ws.t, T, idx, 1.0)
            net._forward(ws, training=True, rng=rng)
            net._backward(ws)
            batch_loss = float(ws.losses.sum(dtype=np.float64))
            if not np.isfinite(batch_loss):
                raise DivergenceError(
                    f"training diverged: loss is {batch_loss} at epoch {epoch + 1}, sample "
                    f"{s} of {n}; lower the learning rate (now {opt.current_lr:g})")
            opt.step(net.params, net.grads)
            loss_sum += batch_loss
            if net.is_classifier:
                correct += count_correct(ws.z[-1], ws.t, net.loss_kind)
        logs = {"epoch": epoch + 1, "loss": loss_sum / n}
        if net.is_classifier:
            logs["accuracy"] = correct / (n * per_sample)
        if X_val is not None:
            for k, v in net.evaluate(X_val, y_val).items():
                logs["val_" + k] = v
        logs["lr"] = opt.current_lr
        logs["seconds"] = time.perf_counter() - t0
        history.append(logs)
        if verbose:
            print(format_logs(epoch, epochs, logs), flush=True)
        if any(cb.on_epoch_end(net, epoch, logs) for cb in callbacks):
            break
    net.optimizer = opt
    return history
