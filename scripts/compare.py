"""Compare fastnet with a NumPy-BLAS MLP and PyTorch on MNIST, in one process.

All implementations train the same network (784-256-10 ReLU, softmax cross-entropy) from
the same initial weights (fastnet's, copied into the peers) on the same minibatches in the
same order, with fastnet's CLI recipe: SGD momentum 0.9, lr 0.1, weight decay 2e-4, cosine
schedule over the epochs. Each implementation takes one untimed warm-up step first (for
fastnet: one small fit, which compiles the kernels or loads them from Numba's cache), so
no JIT compile is timed. The whole sequence runs ``--rounds`` times (each round a new
training from the same initial weights) and the per-epoch times are medians over the
epochs of all rounds: a shared machine whose speed drifts within minutes then weighs on
every implementation alike.

Then each dense kernel of one batch-128 step is timed against np.matmul of the same shape
(float32, best of 7 rounds) and both are printed in GFLOP/s; the first layer's two
kernels also as ``Network`` runs them (W stored transposed), on random x and on MNIST
images, whose all-zero blocks they skip (GFLOP/s counted for the dense product). Last:
thread counts, CPU, versions, date and the process's peak RSS.

Within a round the implementations run in the order fastnet, NumPy, PyTorch. PyTorch is
imported only after fastnet's first round (the import alone adds ~180 MB to the peak RSS,
so fastnet's peak RSS is read before it); from the second round on, PyTorch's idle
OpenMP threads exist alongside the others (they sleep when idle).

    python scripts/compare.py                      # 3 epochs, batches 32 and 128
    python scripts/compare.py --threads 1 --skip-torch
    python scripts/compare.py --epochs 1 --limit 2000 --batches 128   # a quick check
"""
import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys

import _common

_common.limit_threads_from_argv()  # --threads: before NumPy and Numba are imported
import numba  # noqa: E402
import numpy as np  # noqa: E402

import _peers  # noqa: E402
import fastnet  # noqa: E402
from benchmarks import common  # noqa: E402

# Ratio fastnet/peer the issue sets for each (batch, peer): "≤ target" is met.
TARGETS = {(128, "pytorch"): 0.5, (128, "numpy-blas"): 0.75,
           (32, "pytorch"): 0.3, (32, "numpy-blas"): 0.8}
GFLOPS_TARGET = 0.7  # forward and weight gradient vs sgemm of the same shape
RSS_TARGET_MB = 400
SLOW_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Timings on a shared machine are noisy: compare runs made at a quiet moment, "
               "or repeat and take the lower numbers.")
    p.add_argument("--epochs", type=_common.positive_int, default=3,
                   help="epochs per implementation and batch size; also the length of the "
                        "cosine schedule (default 3)")
    p.add_argument("--batches", type=_common.int_list, default=[32, 128], metavar="B,B",
                   help="comma-separated batch sizes (default 32,128)")
    p.add_argument("--rounds", type=_common.positive_int, default=2,
                   help="repeat the fastnet, NumPy, PyTorch sequence this many times and "
                        "take the medians over all rounds, so that a machine whose speed "
                        "drifts weighs on every implementation alike (default 2)")
    _common.peer_arguments(p)
    return p.parse_args(argv)


def peak_rss_mb():
    """This process's peak resident set size so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def git_commit():
    """``git describe --always --dirty`` of this checkout, or 'unknown'."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=_common.HERE,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def blas_description():
    """'openblas 0.3.x, N threads' of NumPy's BLAS, via threadpoolctl when installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to see it)"
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    blas = [i for i in blas if "numpy" in i.get("filepath", "")] or blas  # NumPy's own
    return ", ".join(f"{i['internal_api']} {i.get('version')}, {i['num_threads']} threads"
                     for i in blas) or "none found"


def median(xs):
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else 0.5 * (xs[mid - 1] + xs[mid])


def run_fastnet(recipe, data, epochs):
    """Train fastnet; returns (initial weights, per-epoch seconds, test accuracy)."""
    (X, y), (X_test, y_test) = data
    common.warm_up(recipe.batch_size, recipe.hidden)
    net = recipe.network()
    weights = _peers.initial_weights(net)
    history = net.fit(X, y, epochs=epochs, batch_size=recipe.batch_size,
                      optimizer=recipe.optimizer(), seed=recipe.seed, verbose=False)
    return weights, history["seconds"], net.evaluate(X_test, y_test)["accuracy"]


def run_peer(make, recipe, data, epochs):
    """Train a peer built by ``make()``; returns (per-epoch seconds, test accuracy)."""
    (X, y), (X_test, y_test) = data
    _peers.warm_up(make(), X, y, recipe)
    model = make()
    seconds = _peers.train(model, X, y, epochs, recipe)
    return seconds, model.accuracy(X_test, y_test)


def print_table(rows, batches):
    print(f"{'batch':>5}  {'implementation':<14} {'s/epoch':>8}  {'(min-max)':<15} "
          f"{'test acc':>8}  {'fastnet/this':>12}  target")
    for batch in batches:
        ours = median(rows[(batch, "fastnet")][0])
        for (b, impl), (seconds, acc) in rows.items():
            if b != batch:
                continue
            med = median(seconds)
            spread = f"({min(seconds):.3f}-{max(seconds):.3f})"
            ratio = target = ""
            if impl != "fastnet":
                ratio = f"{ours / med:.2f}"
                goal = TARGETS.get((batch, impl))
                if goal is not None:
                    target = f"<= {goal:.2f} {'met' if ours / med <= goal else 'NOT met'}"
            print(f"{batch:>5}  {impl:<14} {med:>8.3f}  {spread:<15} {100 * acc:>7.2f}%  "
                  f"{ratio:>12}  {target}")


def print_gflops(hidden):
    """Each dense kernel of a batch-128 step next to np.matmul of the same shape."""
    layer1 = common.dense_case(128, 784, hidden)
    layer2 = common.dense_case(128, hidden, 10)
    first = common.dense_case(128, 784, hidden, first=True)
    images = common.dense_case(128, 784, hidden, first=True, images=True)
    cases = [("forward", "", layer1), ("forward", "", layer2), ("weight_grad", "", layer1),
             ("weight_grad", "", layer2), ("hidden_delta", "", layer2),
             ("forward", " (a)", first), ("weight_grad", " (a)", first),
             ("forward", " (b)", images), ("weight_grad", " (b)", images)]
    print(f"{'kernel':<17} {'shape':<22} {'fastnet GFLOP/s':>15} {'np.matmul GFLOP/s':>17} "
          f"{'fastnet/sgemm':>13}")
    for kind, note, c in cases:
        B, C, OC = c.batch, c.fan_in, c.fan_out
        shape = {"forward": f"{B}x{C} -> {OC}", "weight_grad": f"{OC}x{B} . {B}x{C}",
                 "hidden_delta": f"{B}x{OC} -> {C}"}[kind]
        ours = common.flops(c) / common.best_time(common.KERNELS[kind], c) / 1e9
        blas = common.flops(c) / common.best_time(common.MATMUL[kind], c) / 1e9
        goal = ""
        if kind != "hidden_delta" and not note:
            met = "met" if ours >= GFLOPS_TARGET * blas else "NOT met"
            goal = f"  target >= {GFLOPS_TARGET:.0%} {met}"
        print(f"{kind + note:<17} {shape:<22} {ours:>15.1f} {blas:>17.1f} {ours / blas:>13.0%}"
              f"{goal}")
    print("(fastnet's forward also adds the bias and applies ReLU, its weight gradient also "
          "sums the bias gradient,\n its hidden δ also multiplies by ReLU'; np.matmul does "
          "the product alone.)\n"
          "(a) the first layer as Network stores it, Wᵀ (784, OC), on random (dense) x.\n"
          "(b) the same on 128 MNIST images: the kernels skip the all-zero 4x4 blocks of x, "
          "so these GFLOP/s\n    count the dense product's 2·B·C·OC flops (effective), "
          "not the ones done.")


def main(argv=None):
    args = parse_args(argv)
    for var in SLOW_BLAS_VARS:
        if os.environ.get(var):
            print(f"warning: {var}={os.environ[var]} is set; it can slow NumPy's BLAS and so "
                  f"flatter fastnet's ratios below. Unset it for a fair comparison.",
                  file=sys.stderr)
    threads = common.threads()
    skip_torch = _peers.torch_skipped(args.skip_torch)
    data = _peers.mnist(args.limit)
    (X, _), (X_test, _) = data
    recipe = _peers.Recipe(hidden=args.hidden, schedule_epochs=args.epochs, seed=args.seed)
    print(f"MNIST {len(X)} train / {len(X_test)} test images; {recipe.describe()}; "
          f"batches {args.batches}, {args.epochs} epochs x {args.rounds} rounds, "
          f"{threads} threads")
    print("Each implementation takes one untimed warm-up step first (fastnet: kernel JIT "
          f"compile / cache load); s/epoch is the median over the epochs of {args.rounds} "
          "round(s), each round running every implementation in turn.\n", flush=True)

    rows = {}
    initial = {}
    fastnet_rss = None
    peers = [("numpy-blas", lambda w, r: _peers.NumpyMLP(w, r))]
    if not skip_torch:
        peers.append(("pytorch", lambda w, r: _peers.TorchMLP(w, r, threads)))
    for _ in range(args.rounds):
        for batch in args.batches:
            recipe.batch_size = batch
            weights, seconds, acc = run_fastnet(recipe, data, args.epochs)
            initial[batch] = weights
            rows.setdefault((batch, "fastnet"), ([], acc))[0].extend(seconds)
        fastnet_rss = fastnet_rss or peak_rss_mb()  # before PyTorch is first imported
        for name, build in peers:
            for batch in args.batches:
                recipe.batch_size = batch
                seconds, acc = run_peer(lambda: build(initial[batch], recipe), recipe, data,
                                        args.epochs)
                rows.setdefault((batch, name), ([], acc))[0].extend(seconds)
    print_table(rows, args.batches)
    if skip_torch:
        print(skip_torch)

    print(f"\nGFLOP/s of the kernels of one batch-128 step, best of 7 rounds, {threads} threads:")
    print_gflops(args.hidden)

    print(f"\nthreads: Numba {threads}" + ("" if skip_torch else f", PyTorch {threads}")
          + f", NumPy BLAS: {blas_description()}")
    print(f"CPU: {common.cpu_model()} ({common.cores()} cores usable), {platform.machine()}")
    print(f"versions: fastnet {fastnet.__version__} (commit {git_commit()}), python "
          f"{platform.python_version()}, numba {numba.__version__}, numpy {np.__version__}, "
          f"torch {_peers.torch_version()}")
    print(f"date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"peak RSS: {fastnet_rss:.0f} MB after the fastnet runs (target <= {RSS_TARGET_MB} "
          f"MB; data included), {peak_rss_mb():.0f} MB for the whole process")


if __name__ == "__main__":
    main()
