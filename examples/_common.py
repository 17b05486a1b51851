"""Shared set-up of the examples: import fastnet from this checkout, the --out argument,
and matplotlib imported lazily with a clear message when it is missing."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing


def parser(doc, png_name, epochs=None, noise=None, options=()):
    """An ArgumentParser described by the script's docstring, with --out and --seed,
    --epochs / --noise when a default is given, and the script's own ``options``:
    (flag, type, default, help) each, the default appended to the help."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--out", default=os.path.join(HERE, png_name),
                   help=f"PNG path (default examples/{png_name})")
    p.add_argument("--seed", type=int, default=0, help="seeds data and weights (default 0)")
    if epochs is not None:
        p.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default {epochs})")
    if noise is not None:
        p.add_argument("--noise", type=float, default=noise, help=f"noise std (default {noise})")
    for flag, kind, default, text in options:
        p.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")
    return p


def start(doc, png_name, argv, options=(), **defaults):
    """(args, pyplot): the command line parsed by ``parser(doc, png_name, **defaults,
    options=options)``, then matplotlib imported, so that a missing one stops the
    script before any work."""
    args = parser(doc, png_name, options=options, **defaults).parse_args(argv)
    return args, pyplot()


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
    """Lay the figure out (unless it has a layout engine of its own) and write it."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")
