"""PNG plots of a run (matplotlib, the ``plot`` extra): learning curves, confusion
matrix, misclassified digits. Uses ``matplotlib.figure.Figure`` directly, so no GUI
backend or global pyplot state is involved."""
import numpy as np


def _figure(*size):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('plots need matplotlib: pip install "fastnet[plot]"') from None
    return Figure(figsize=size, dpi=100, layout="constrained")


def plot_curves(history, path, metric):
    """Train (and validation) ``metric`` ('loss' or 'accuracy') against epoch."""
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    epochs = history["epoch"]
    for key, label in ((metric, "train"), ("val_" + metric, "validation")):
        if key in history and not np.all(np.isnan(history[key])):
            values = np.asarray(history[key], float) * (100 if metric == "accuracy" else 1)
            ax.plot(epochs, values, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("accuracy (%)" if metric == "accuracy" else "loss")
    ax.set_title(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path)
    return path


def plot_history(history, metrics=None):
    """A Figure with one panel per metric (default: loss, and accuracy if present):
    its training and ``val_`` values against epoch."""
    if metrics is None:
        metrics = [m for m in ("loss", "accuracy") if m in history]
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [m for m in metrics if m not in history and "val_" + m not in history]
    if missing:
        raise ValueError(f"metrics {missing} are not in the history; it holds "
                         f"{sorted(history)}")
    fig = _figure(5 * max(len(metrics), 1), 3.6)
    epochs = history.get("epoch") or list(range(1, len(history.get("loss", [])) + 1))
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        for key, label in ((metric, "train"), ("val_" + metric, "validation")):
            if key in history:
                ax.plot(epochs, history[key], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def plot_confusion(cm, path, names=None):
    fig = _figure(6, 5.4)
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues")
    k = cm.shape[0]
    ax.set_xticks(range(k), labels=names)
    ax.set_yticks(range(k), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {100 * acc:.2f} %)")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.colorbar(im, ax=ax)
    fig.savefig(path)
    return path


def plot_misclassified(images, y_true, y_pred, path, max_digits=36):
    """A grid of misclassified 28×28 digits titled 'true → predicted'."""
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))[:max_digits]
    cols = 6
    rows = max(1, -(-len(wrong) // cols))
    fig = _figure(cols * 1.3, rows * 1.45 + 0.4)
    fig.suptitle(f"misclassified: {np.sum(np.asarray(y_true) != np.asarray(y_pred))} "
                 f"of {len(y_true)} (first {len(wrong)}), true → predicted")
    for k, i in enumerate(wrong):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(np.asarray(images[i]).reshape(28, 28), cmap="gray_r")
        ax.set_title(f"{y_true[i]} → {y_pred[i]}", fontsize=9, color="firebrick")
        ax.axis("off")
    fig.savefig(path)
    return path


def plot_sweep(rows, keys, path, log=(), order=None):
    """Validation accuracy of each trial (``rows``: dicts with ``val_accuracy`` and the
    swept options) against each swept option ``keys``, one panel each. Numbers go on a
    numeric axis (logarithmic for ``log`` keys, or when they span 100x), anything else on
    categories in the order of ``order[key]`` (default: first appearance)."""
    cols = min(len(keys), 3)
    nrows = -(-len(keys) // cols)
    fig = _figure(4 * cols, 3.2 * nrows)
    acc = np.array([100 * r["val_accuracy"] for r in rows])
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, cols, i + 1)
        values = [r[key] for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            x = np.asarray(values, float)
            if key in log or (x.min() > 0 and x.max() >= 100 * x.min()):
                ax.set_xscale("log")
        else:
            text = [str(v) for v in values]
            cats = [str(v) for v in (order or {}).get(key, [])]
            cats += [t for t in dict.fromkeys(text) if t not in cats]
            x = np.array([cats.index(t) for t in text], float)
            ax.set_xticks(range(len(cats)), cats, rotation=20 if len(cats) > 3 else 0)
            ax.set_xlim(-0.5, len(cats) - 0.5)
        best = {v: acc[x == v].max() for v in np.unique(x)}
        ax.plot(list(best), list(best.values()), color="C1", alpha=0.6, label="best")
        ax.scatter(x, acc, color="C0", zorder=3, label="trial")
        ax.set_xlabel(key)
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
    fig.axes[0].legend()
    fig.suptitle(f"validation accuracy of the {len(rows)} finished trials")
    fig.savefig(path)
    return path
