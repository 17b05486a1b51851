"""Shared set-up of the examples: import fastnet from this checkout, the --out argument,
and matplotlib imported lazily with a clear message when it is missing."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing


def parser(doc, png_name, epochs=None, noise=None):
    """An ArgumentParser described by the script's docstring, with --out and --seed, and
    --epochs / --noise when a default is given."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--out", default=os.path.join(HERE, png_name),
                   help=f"PNG path (default examples/{png_name})")
    p.add_argument("--seed", type=int, default=0, help="seeds data and weights (default 0)")
    if epochs is not None:
        p.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default {epochs})")
    if noise is not None:
        p.add_argument("--noise", type=float, default=noise, help=f"noise std (default {noise})")
    return p


def data_rng(seed):
    """The data's random stream: independent of the weights' (Network(seed=seed)), so the
    data are not correlated with the initial weights."""
    import numpy as np
    return np.random.default_rng([seed, 1])


def pyplot():
    """matplotlib's pyplot with a file-only backend, or exit with what to install."""
    try:
        import matplotlib
    except ImportError:
        sys.exit("this script needs matplotlib: pip install matplotlib  (or pip install -e '.[plot]')")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def training_curve(ax, losses, ylabel):
    """The per-epoch training loss on a log scale."""
    ax.semilogy(range(1, len(losses) + 1), losses, color="C0", label="network")
    ax.set(xlabel="epoch", ylabel=ylabel, title="training curve")
    ax.grid(True, which="both", alpha=0.3)


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")
