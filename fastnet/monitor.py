"""A per-layer record during training, cheap enough to leave on: ``GradientMonitor``.

At the start of training and at the end of every epoch it runs one forward and backward
pass (``net.loss_and_gradient``) on a fixed probe batch and records, per layer l:

    grad_norm   ‖∂L/∂W_l‖_F, the size of the weight gradient (vanishing: tiny near the input)
    mean, std   mean and standard deviation of the activations z_l over batch and units
    dead        fraction of units with f'(u) < 1e-3 on every probe sample (a ReLU that
                never fires, a saturated sigmoid or tanh); NaN at a softmax output

The activations come from small copies of the network cut after layer l (its last layer
made 'identity' to expose u_l), run by fastnet's forward kernels.
"""
import numpy as np

from .callbacks import Callback
from .explain import activate, derivative, output_activation
from .layers import Dense
from .network import Network

DEAD_BELOW = 1e-3
FIELDS = ("grad_norm", "mean", "std", "dead")


class GradientMonitor(Callback):
    """``net.fit(X, y, callbacks=[GradientMonitor(X, y)])``; then ``monitor.history``:
    {"epoch": (E,), "grad_norm" | "mean" | "std" | "dead": (E, n_layers)}, epoch 0 being
    the weights before training. ``probe`` samples (default 256) of (X, y) are drawn
    once with ``seed``."""

    def __init__(self, X, y, probe=256, seed=0):
        n = len(X)
        idx = np.arange(n) if n <= probe else np.sort(
            np.random.default_rng(seed).choice(n, probe, replace=False))
        self.X, self.y = np.asarray(X)[idx], np.asarray(y)[idx]
        self.epochs, self.rows = [], {f: [] for f in FIELDS}
        self._cuts = None

    def on_train_begin(self, state):
        if not self.epochs:
            self.record(state.net, 0)

    def on_epoch_end(self, net, epoch, logs):
        self.record(net, epoch + 1)
        return False

    @property
    def history(self):
        return {"epoch": np.array(self.epochs), **{f: np.array(v) for f, v in self.rows.items()}}

    def _cut(self, net, l):
        """The network up to layer l with that layer 'identity': its output is u_l."""
        configs = [layer.config() for layer in net.layers[:l + 1]]
        configs[-1]["activation"] = "identity"
        return Network([Dense(**c) for c in configs], loss="sum_of_squares", dtype=net.dtype)

    def record(self, net, epoch):
        """Append one row of every field for ``net`` now, labelled ``epoch``."""
        if self._cuts is None:
            self._cuts = [self._cut(net, l) for l in range(len(net.layers))]
        net.loss_and_gradient(self.X, self.y)
        grad = [float(np.linalg.norm(layer.dW)) for layer in net.layers]
        mean, std, dead = [], [], []
        last = len(net.layers) - 1
        for l, cut in enumerate(self._cuts):
            for src, dst in zip(net.layers[:l + 1], cut.layers):
                dst.W[...] = src.W
                dst.b[...] = src.b
                if dst.activation == "prelu":
                    dst.a[...] = src.a
            u = cut.predict_proba(self.X).astype(np.float64)
            name = output_activation(net) if l == last else net.layers[l].activation
            slope = np.asarray(net.layers[l].a, np.float64).reshape(-1)
            z = activate(name, u, slope)
            mean.append(float(z.mean()))
            std.append(float(z.std()))
            if name == "softmax":
                dead.append(float("nan"))
            else:
                active = np.abs(derivative(name, u, z, slope)) >= DEAD_BELOW
                dead.append(float(1 - active.any(axis=0).mean()))
        self.epochs.append(epoch)
        for f, v in zip(FIELDS, (grad, mean, std, dead)):
            self.rows[f].append(v)


def plot_monitor(history, path, title=""):
    """A PNG of the four records over the epochs, one line per layer (``history`` as
    ``GradientMonitor.history``)."""
    from .plots import _figure
    fig = _figure(11, 7)
    axes = fig.subplots(2, 2, sharex=True)
    labels = {"grad_norm": "‖∂L/∂W_l‖ (log)", "mean": "activation mean",
              "std": "activation std", "dead": "fraction of dead units"}
    for ax, f in zip(axes.flat, FIELDS):
        values = history[f]
        for l in range(values.shape[1]):
            ax.plot(history["epoch"], values[:, l], marker=".", label=f"layer {l + 1}")
        if f == "grad_norm":
            ax.set_yscale("log")
        ax.set(ylabel=labels[f])
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch (0 = before training)")
    axes[0, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
    return path
