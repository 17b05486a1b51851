"""Grid: fastnet against its peers (NumPy-BLAS, PyTorch, JAX) over layer widths, depths,
batch sizes and inputs, in one process.

A configuration is a width W and depth D (784-W-...-W-10: D hidden ReLU layers of W, softmax
cross-entropy), a batch size B and an input: ``raw`` MNIST pixels (uint8, scaled by 1/255
as they are gathered; 81 % zeros, which fastnet's first layer skips) or ``standard``
(float32, each pixel minus its mean over the training rows, over its standard deviation:
dense). Each epoch is a pass over the first min(N, --steps x B) MNIST training images
(``samples``), so that wide configurations take seconds and batch 1 does not take minutes:
N is --limit, raised for narrow networks until an epoch holds --min-gflop of arithmetic
(6 flops a weight a sample, forward and backward), so that their epochs are not a few
milliseconds, which one preemption of this process on a shared machine would double.
From batch 32 up a configuration also gets more timed epochs a round (``epochs``), up to
--max-epochs, until each implementation trains --round-gflop: one epoch of 784-1024-1024-10
at batch 128 on 2048 images read 111-150 ms from epoch to epoch in one process.

For each configuration every implementation trains the same network from the same initial
weights on the same minibatches with compare.py's recipe (SGD momentum 0.9, lr 0.1, weight
decay 2e-4, cosine over --epochs; lr 0.01 on standardised inputs, where |x| reaches 40 and
lr 0.1 diverges; both scaled down with batches below 32, ``learning_rate``: a diverging
network's saturated outputs and dead units are not a training run worth timing), taking
turns epoch by epoch with untimed pauses and untimed warm-up steps first
(``_peers.run_interleaved``, as compare.py does). The grid runs --rounds times (each
configuration once per round, so a machine whose speed drifts weighs on every
configuration alike); the table gives each implementation's median seconds per epoch over
all rounds, the fastest peer and fastnet's time over the fastest peer's, flagged
``SLOWER`` when above 1.0, and ``worst round``: the largest of the rounds' own ratios
(fastnet's median epoch in that round over the fastest peer's in the same round), so a
configuration that won on the medians but lost a round shows it. Above the table: date,
CPU, threads and versions.

    python benchmarks/tools/grid.py        # the default grid, 64 configurations: long
    python benchmarks/tools/grid.py --widths 2048,4096 --depths 2 --batches 256 --inputs standard
    python benchmarks/tools/grid.py --widths 256 --depths 1 --batches 8 --limit 256 --rounds 1
"""
import argparse
import datetime
import importlib.metadata
import itertools
import math
import platform
import sys
import warnings

import _common

_common.limit_threads_from_argv()  # --threads: before NumPy, Numba and JAX are imported
import numba  # noqa: E402
import numpy as np  # noqa: E402

import _peers  # noqa: E402
import fastnet  # noqa: E402
from benchmarks import common  # noqa: E402

INPUTS = ("raw", "standard")
LR = {"raw": 0.1, "standard": 0.01}  # learning rates that train (module doc)
SMALL_BATCH = 32   # below it the rate is scaled down with the batch


def learning_rate(kind, batch):
    """The recipe's rate for inputs ``kind`` at ``batch``: LR, and below SMALL_BATCH samples
    LR · batch / SMALL_BATCH (the linear scaling rule: at batch 1, 784-256-256-10 diverged
    within 100 steps at lr 0.01 on standardised inputs, 784-1024-1024-10 within 40 at 0.1
    on raw pixels)."""
    return LR[kind] * min(batch, SMALL_BATCH) / SMALL_BATCH


def input_list(text):
    """argparse type: comma-separated names from INPUTS, e.g. 'raw,standard'."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in INPUTS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated names from {', '.join(INPUTS)}, got {text!r}")
    return names


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", type=_common.int_list, default=[256, 1024, 2048, 4096],
                   metavar="W,W", help="hidden layer widths (default 256,1024,2048,4096)")
    p.add_argument("--depths", type=_common.int_list, default=[1, 2], metavar="D,D",
                   help="numbers of hidden layers (default 1,2; e.g. 1,2,3,4 for the whole "
                        "range)")
    p.add_argument("--batches", type=_common.int_list, default=[1, 32, 128, 512],
                   metavar="B,B", help="batch sizes (default 1,32,128,512)")
    p.add_argument("--inputs", type=input_list, default=list(INPUTS), metavar="raw,standard",
                   help="raw MNIST pixels and/or standardised (dense) ones (default both)")
    p.add_argument("--limit", type=_common.positive_int, default=2048, metavar="N",
                   help="training images per epoch (default 2048; see --min-gflop)")
    p.add_argument("--min-gflop", type=float, default=8.0, metavar="G",
                   help="raise --limit, up to --max-samples, so that an epoch is at least G "
                        "GFLOP in whole batches (default 8: 784-256-10 at batch 512 gets 6656 "
                        "images, 784-1024-10 the limit); 0 keeps --limit")
    p.add_argument("--max-samples", type=_common.positive_int, default=8192, metavar="N",
                   help="the most training images --min-gflop may raise an epoch to "
                        "(default 8192)")
    p.add_argument("--steps", type=_common.positive_int, default=256,
                   help="at most this many steps per epoch: small batches use fewer images "
                        "(default 256)")
    p.add_argument("--epochs", type=_common.positive_int, default=1,
                   help="timed epochs per implementation, configuration and round, at least "
                        "(see --round-gflop); also the length of the cosine schedule "
                        "(default 1)")
    p.add_argument("--round-gflop", type=float, default=60.0, metavar="G",
                   help="from batch 32 up, more epochs (up to --max-epochs) until each "
                        "implementation trains G GFLOP per configuration and round (default "
                        "60: 784-1024-1024-10 gets 3 epochs, 784-4096-4096-10 1); 0: --epochs")
    p.add_argument("--max-epochs", type=_common.positive_int, default=5,
                   help="the most epochs --round-gflop may give a configuration (default 5)")
    p.add_argument("--rounds", type=_common.positive_int, default=3,
                   help="run the whole grid this many times; medians over all rounds "
                        "(default 3)")
    p.add_argument("--threads", type=_common.positive_int, default=None,
                   help="threads for Numba, the BLAS, PyTorch and JAX (default: every core "
                        "this process may use)")
    p.add_argument("--skip-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--skip-jax", action="store_true", help="leave JAX out")
    p.add_argument("--seed", type=int, default=0, help="seeds weights and shuffling (default 0)")
    return p.parse_args(argv)


def sample_flops(layers):
    """Flops of training on one sample: 6 a weight (forward, δ and gradient products)."""
    return 6 * sum(a * b for a, b in zip(layers, layers[1:]))


def samples(layers, batch, args):
    """Training images per epoch of a configuration (module doc): at most --steps
    batches, at least --limit images or whole batches of --min-gflop of work (up to
    --max-samples)."""
    by_work = min(args.max_samples,
                  math.ceil(args.min_gflop * 1e9 / sample_flops(layers) / batch) * batch)
    return min(args.steps * batch, max(args.limit, by_work))


def epochs(layers, batch, n, args):
    """Timed epochs of a configuration per round (module doc): --epochs, or from batch
    SMALL_BATCH up as many as --round-gflop of work over n images takes, up to --max-epochs.
    (Below it an epoch is hundreds of steps, long already.)"""
    if batch < SMALL_BATCH:
        return args.epochs
    per_epoch = sample_flops(layers) * n
    return max(args.epochs, min(args.max_epochs, math.ceil(args.round_gflop * 1e9 / per_epoch)))


def layer_sizes(width, depth):
    """784-width-...-width-10 with ``depth`` hidden layers."""
    return (784,) + (width,) * depth + (10,)


def standardised(X):
    """float32 (X - mean) / std per pixel over the rows of X (std 1 where a pixel is
    constant)."""
    X = X.astype(np.float32)
    mean, std = X.mean(axis=0), X.std(axis=0)
    return (X - mean) / np.where(std > 0, std, 1).astype(np.float32)


def package_version(name):
    """The installed version of distribution ``name``, or 'not installed'."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def print_header(args, threads, peers, notes):
    print(f"date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"CPU: {common.cpu_model()} ({common.cores()} cores usable), {platform.machine()}")
    users = ["Numba"] + [{"pytorch": "PyTorch", "jax": "JAX/XLA"}[name]
                         for name, _ in peers if name in ("pytorch", "jax")]
    print(f"threads: {threads} ({', '.join(users)}); NumPy BLAS: "
          f"{_common.blas_description()}")
    print(f"versions: fastnet {fastnet.__version__} (commit {_common.git_commit()}), python "
          f"{platform.python_version()}, numba {numba.__version__}, numpy {np.__version__}, "
          f"torch {package_version('torch')}, jax {package_version('jax')}")
    print(f"implementations: fastnet, {', '.join(name for name, _ in peers)}; "
          f"{args.epochs} epoch(s) a round, from batch {SMALL_BATCH} up as many as "
          f"{args.round_gflop:g} GFLOP take (at most {args.max_epochs}); {args.rounds} "
          f"round(s), taking turns epoch by epoch")
    for note in notes:
        print(note)
    print(flush=True)


def worst_round(rounds, peers):
    """The largest per-round ratio of fastnet's median epoch to the fastest peer's;
    rounds: [{name: [s/epoch, ...]}], one dict a round."""
    return max(_common.median(r["fastnet"]) / min(_common.median(r[p]) for p in peers)
               for r in rounds)


def print_table(rows, names):
    """rows: [(layers, batch, input, samples, {name: median s/epoch}, worst round)]."""
    peers = names[1:]
    print(f"{'layers':<24} {'batch':>5} {'input':<8} {'samples':>7} "
          + " ".join(f"{n:>10}" for n in names)
          + f"  {'fastest peer':<12} fastnet/fastest  worst round")
    slower = lost = 0
    for layers, batch, kind, samples, seconds, worst in rows:
        best = min(peers, key=seconds.get)
        ratio = seconds["fastnet"] / seconds[best]
        slower += ratio > 1.0
        lost += worst > 1.0
        print(f"{layers:<24} {batch:>5} {kind:<8} {samples:>7} "
              + " ".join(f"{seconds[n]:>10.5f}" for n in names)
              + f"  {best:<12} {ratio:>15.2f}  {worst:>11.2f}"
              + ("  SLOWER" if ratio > 1.0 else ""))
    print(f"(seconds per epoch, medians over the rounds; fastnet/fastest > 1.0 is flagged "
          f"SLOWER: {slower} of {len(rows)} configuration(s); fastnet slower in at least one "
          f"round: {lost})")


def main(argv=None):
    args = parse_args(argv)
    threads = common.threads()
    notes = [n for n in (_peers.torch_skipped(args.skip_torch),
                         _peers.jax_skipped(args.skip_jax)) if n]
    peers = [("numpy-blas", _peers.NumpyMLP)]
    if not _peers.torch_skipped(args.skip_torch):
        peers.append(("pytorch", lambda w, r: _peers.TorchMLP(w, r, threads)))
    if not _peers.jax_skipped(args.skip_jax):
        peers.append(("jax", lambda w, r: _peers.JaxMLP(w, r, threads)))
    print_header(args, threads, peers, notes)
    # standardised pixels reach |x| ~ 16 (pixels that are almost always 0): by design here
    warnings.filterwarnings("ignore", message="X has features up to")

    configs = list(itertools.product(args.widths, args.depths, args.batches, args.inputs))
    n_images = {c: samples(layer_sizes(c[0], c[1]), c[2], args) for c in configs}
    (X, y), _ = _peers.mnist(max(n_images.values()))
    n_images = {c: min(n, len(X)) for c, n in n_images.items()}  # MNIST has 60 000
    n_epochs = {c: epochs(layer_sizes(c[0], c[1]), c[2], n, args) for c, n in n_images.items()}
    data = {"raw": X, "standard": standardised(X) if "standard" in args.inputs else None}
    rounds = {config: [] for config in configs}  # per configuration: {name: s/epoch} a round
    for r in range(args.rounds):
        for i, (width, depth, batch, kind) in enumerate(configs):
            print(f"round {r + 1}/{args.rounds}, configuration {i + 1}/{len(configs)}",
                  file=sys.stderr, flush=True)
            n = n_images[width, depth, batch, kind]
            n_ep = n_epochs[width, depth, batch, kind]
            recipe = _peers.Recipe(hidden=width, depth=depth, batch_size=batch,
                                   lr=learning_rate(kind, batch), schedule_epochs=n_ep,
                                   seed=args.seed)
            result = _peers.run_interleaved(recipe, ((data[kind][:n], y[:n]), None), n_ep,
                                            peers)
            rounds[width, depth, batch, kind].append(
                {name: epoch_seconds for name, (epoch_seconds, _) in result.items()})
    rows = []
    names = ["fastnet"] + [name for name, _ in peers]
    for (width, depth, batch, kind), per_round in rounds.items():
        layers = "-".join(map(str, layer_sizes(width, depth)))
        medians = {name: _common.median([t for r in per_round for t in r[name]])
                   for name in names}
        rows.append((layers, batch, kind, n_images[width, depth, batch, kind], medians,
                     worst_round(per_round, names[1:])))
    print_table(rows, names)


if __name__ == "__main__":
    main()
