"""A per-layer record during training, cheap enough to leave on: ``GradientMonitor``, or
``fit(..., record=("grad_norm", "activation_stats"))`` which runs one into
``history.records``.

At the start of training and at the end of every epoch it runs one forward and backward
pass on a fixed probe batch (fastnet's own passes, inference slopes) and records, per
layer l:

    grad_norm         ‖∂L/∂W_l‖_F, the size of the weight gradient (vanishing: tiny near
                      the input)
    activation_stats  mean, std: mean and standard deviation of the activations z_l over
                      batch and units; dead: fraction of units with f'(u) < 1e-3 on every
                      probe sample (a ReLU that never fires, a saturated sigmoid or tanh);
                      NaN at a softmax output

The probe has a workspace of its own, outside the network's cache of training and
prediction workspaces (``passes.workspace``), so recording never evicts those.
"""
import numpy as np

from . import passes
from .inputs import as_input, encode_targets
from .kernels import activations as A
from .kernels.reference import derivative_ref

DEAD_BELOW = 1e-3
RECORDS = {"grad_norm": ("grad_norm",), "activation_stats": ("mean", "std", "dead")}
FIELDS = tuple(f for fields in RECORDS.values() for f in fields)


def check_record(record):
    """``record`` as a tuple of names of RECORDS (a single name is allowed)."""
    names = (record,) if isinstance(record, str) else tuple(record)
    for name in names:
        if name not in RECORDS:
            raise ValueError(f"record must name some of {tuple(RECORDS)}, got {name!r}")
    return names


class GradientMonitor:
    """``net.fit(X, y, callbacks=[GradientMonitor(X, y)])``; then ``monitor.history``:
    {"epoch": (E,), field: (E, n_layers)} for the fields of ``record`` (default: all),
    epoch 0 being the weights before training. ``probe`` samples (default 256) of (X, y)
    are drawn once with ``seed``. With ``to_history``, ``on_train_end`` also stores the
    record in the training history's ``records`` (as ``fit(record=...)`` does). A callback
    by its hooks (``fastnet.callbacks``; not a subclass: ``train`` imports this module)."""

    def __init__(self, X, y, probe=256, seed=0, record=tuple(RECORDS), to_history=False):
        n = len(X)
        idx = np.arange(n) if n <= probe else np.sort(
            np.random.default_rng(seed).choice(n, probe, replace=False))
        self.X, self.y = np.asarray(X)[idx], np.asarray(y)[idx]
        self.fields = tuple(f for name in check_record(record) for f in RECORDS[name])
        self.to_history = to_history
        self.epochs, self.rows = [], {f: [] for f in self.fields}
        self._ws = self._net = self._gather = None   # the probe as _probe prepares it

    def on_train_begin(self, state):
        if not self.epochs:
            self.record(state.net, state.epoch)

    def on_epoch_end(self, net, epoch, logs):
        self.record(net, epoch + 1)
        return False

    def on_train_end(self, state):
        if self.to_history:
            state.history.records = self.history

    @property
    def history(self):
        return {"epoch": np.array(self.epochs), **{f: np.array(v) for f, v in self.rows.items()}}

    def _probe(self, net):
        """The probe's own workspace, holding its inputs and targets (made once per net)."""
        if self._net is not net:
            X, scale = as_input(net, self.X)
            T = encode_targets(net, self.y, X.shape[0])
            self._ws = passes.Workspace(net, X.shape[0])
            self._gather = (X, T, np.arange(X.shape[0]), scale)
            self._net = net
        return self._ws

    def record(self, net, epoch):
        """Append one row of every field for ``net`` now, labelled ``epoch``."""
        ws = self._probe(net)
        passes.gather(ws, *self._gather)
        passes.forward(net, ws)
        row = {}
        if "grad_norm" in self.fields:
            passes.loss(net, ws)
            passes.backward(net, ws)
            row["grad_norm"] = [float(np.linalg.norm(layer.dW)) for layer in net.layers]
        if "mean" in self.fields:
            last = len(net.layers) - 1
            row["mean"], row["std"], row["dead"] = [], [], []
            for l, layer in enumerate(net.layers):
                u, z = (np.asarray(a, np.float64) for a in (ws.u[l], ws.z[l]))
                act = net.output_act if l == last else layer.act
                row["mean"].append(float(z.mean()))
                row["std"].append(float(z.std()))
                if act == A.SOFTMAX:
                    row["dead"].append(float("nan"))
                else:
                    slope = np.asarray(layer.a, np.float64).reshape(-1)
                    active = np.abs(derivative_ref(u, act, slope)) >= DEAD_BELOW
                    row["dead"].append(float(1 - active.any(axis=0).mean()))
        self.epochs.append(epoch)
        for f in self.fields:
            self.rows[f].append(row[f])


def plot_monitor(history, path, title=""):
    """A PNG of the records over the epochs, one panel per field, one line per layer
    (``history`` as ``GradientMonitor.history`` or a training history's ``records``)."""
    from .plots import _figure
    fig = _figure(11, 7)
    fields = [f for f in FIELDS if f in history]
    axes = fig.subplots((len(fields) + 1) // 2, min(len(fields), 2), sharex=True, squeeze=False)
    labels = {"grad_norm": "‖∂L/∂W_l‖ (log)", "mean": "activation mean",
              "std": "activation std", "dead": "fraction of dead units"}
    for ax, f in zip(axes.flat, fields):
        values = history[f]
        for l in range(values.shape[1]):
            ax.plot(history["epoch"], values[:, l], marker=".", label=f"layer {l + 1}")
        if f == "grad_norm":
            ax.set_yscale("log")
        ax.set(ylabel=labels[f])
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch (0 = before training)")
    axes[0, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
    return path
