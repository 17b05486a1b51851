"""Compare fastnet with a NumPy-BLAS MLP, PyTorch and JAX on MNIST, in one process.

All implementations train the same network (784-256-10 ReLU, softmax cross-entropy) from
the same initial weights (fastnet's, copied into the peers) on the same minibatches in the
same order, with fastnet's CLI recipe: SGD momentum 0.9, lr 0.1, weight decay 2e-4, cosine
schedule over the epochs. Each implementation takes one untimed warm-up step first (for
fastnet: one small fit, which compiles the kernels or loads them from Numba's cache), so
no JIT compile is timed.

The implementations take turns epoch by epoch: fastnet's epoch 1, NumPy's epoch 1,
PyTorch's epoch 1, JAX's epoch 1, fastnet's epoch 2, ... (fastnet calls the peers from its epoch-end
callback, outside its timed epoch; JAX's whole train step is one ``jax.jit`` function,
compiled in its warm-up). A shared machine whose speed drifts within seconds
then weighs on every implementation alike, instead of on whichever ran during a slow
spell. Between two turns the script sleeps, untimed, until the threads of the
implementation that just ran (OpenBLAS's and OpenMP's spin while they wait for work) are
asleep, 0.3 s at most (``_common.pause``), before the next one starts. The whole training
runs ``--rounds`` times (each a new training from the same initial weights) and the
per-epoch times are medians over the epochs of all rounds.

Then each dense kernel of one batch-128 step is timed against np.matmul of the same shape
(float32, best of ``--kernel-rounds`` (7) rounds of at least 50 ms; the two take turns
round by round, with an untimed BLAS_PAUSE after each np.matmul round so that OpenBLAS's
threads, which spin for ~0.1 s after a call, do not share the cores with ours) and both are
printed in GFLOP/s (the weight gradient is ``dense_gradient``, without the optimizer step);
the first layer's two kernels also as ``Network`` runs them (W stored transposed), on random
x and on MNIST images, whose all-zero blocks they skip (GFLOP/s counted for the dense product).
Last: thread counts, CPU, versions, date and peak RSS: of a separate ``fastnet train
--epochs 1`` process (this one also holds PyTorch and JAX, ~180 MB for PyTorch's import
alone) and of this one.

PyTorch and JAX are optional (pip install -e ".[peers]"): a missing one is left out with a
one-line note. For other layer sizes, depths and inputs see grid.py.

    python benchmarks/tools/compare.py                      # 3 epochs, batches 32 and 128
    python benchmarks/tools/compare.py --threads 1 --skip-torch --skip-jax
    python benchmarks/tools/compare.py --epochs 1 --limit 2000 --batches 128   # a quick check
"""
import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import tempfile

import _common

_common.limit_threads_from_argv()  # --threads: before NumPy and Numba are imported
import numba  # noqa: E402
import numpy as np  # noqa: E402

import _peers  # noqa: E402
import fastnet  # noqa: E402
from benchmarks import common  # noqa: E402

# Ratio fastnet/peer the issues set for each (batch, peer): "≤ target" is met (batch 128:
# the performance issue's 0.45 × PyTorch and 0.5 × JAX).
TARGETS = {(128, "pytorch"): 0.45, (128, "numpy-blas"): 0.75, (128, "jax"): 0.5,
           (32, "pytorch"): 0.3, (32, "numpy-blas"): 0.8}
GFLOPS_TARGET = 0.7  # forward and weight gradient vs sgemm of the same shape
RSS_TARGET_MB = 400
SLOW_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
BLAS_PAUSE = 0.15  # after a round of np.matmul: OpenBLAS's idle threads spin ~0.1 s


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
                   help="repeat the fastnet, NumPy, PyTorch, JAX sequence this many times and "
                        "take the medians over all rounds, so that a machine whose speed "
                        "drifts weighs on every implementation alike (default 2)")
    p.add_argument("--kernel-rounds", type=_common.positive_int, default=7,
                   help="rounds of the GFLOP/s table, each kernel's best kept (default 7)")
    _common.peer_arguments(p, jax=True)
    return p.parse_args(argv)


def peak_rss_mb():
    """This process's peak resident set size so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


# Run `fastnet train` and print the process's own peak RSS: VmHWM of a new process (the
# rusage of a child would report the parent's size too, as Linux keeps it across exec).
RSS_CHILD = """import sys
from fastnet.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as f:
    print(next(line.split()[1] for line in f if line.startswith("VmHWM:")))
sys.exit(code)
"""


def fastnet_train_rss(args, threads):
    """'N MB': the peak RSS of a new process running ``fastnet train --epochs 1`` at batch
    32 (data, test evaluation and checkpoints included); Linux only."""
    if not os.path.exists("/proc/self/status"):
        return "unknown (Linux only)"
    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [sys.executable, "-c", RSS_CHILD, "train", "--epochs", "1", "--batch-size", "32",
               "--threads", str(threads), "--out", run_dir, "--force", "--quiet",
               "--no-progress", "--layers", f"784,{args.hidden},10"]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        out = subprocess.run(cmd, cwd=_common.ROOT, capture_output=True,
                             text=True)
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or ["no message"])[-1]
        return f"unknown (`fastnet train` exited with {out.returncode}: {why})"
    return f"{int(out.stdout.split()[-1]) / 2**10:.0f} MB"


def print_table(rows, batches):
    print(f"{'batch':>5}  {'implementation':<14} {'s/epoch':>8}  {'(min-max)':<15} "
          f"{'test acc':>8}  {'fastnet/this':>12}  target")
    for batch in batches:
        ours = _common.median(rows[(batch, "fastnet")][0])
        for (b, impl), (seconds, acc) in rows.items():
            if b != batch:
                continue
            med = _common.median(seconds)
            spread = f"({min(seconds):.3f}-{max(seconds):.3f})"
            ratio = target = ""
            if impl != "fastnet":
                ratio = f"{ours / med:.2f}"
                goal = TARGETS.get((batch, impl))
                if goal is not None:
                    target = f"<= {goal:.2f} {'met' if ours / med <= goal else 'NOT met'}"
            print(f"{batch:>5}  {impl:<14} {med:>8.3f}  {spread:<15} {100 * acc:>7.2f}%  "
                  f"{ratio:>12}  {target}")


def print_gflops(hidden, repeat=7):
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
        t_ours, t_blas = common.best_times((common.KERNELS[kind], common.MATMUL[kind]), c,
                                           repeat=repeat, pauses=(0.0, BLAS_PAUSE))
        ours, blas = common.flops(c) / t_ours / 1e9, common.flops(c) / t_blas / 1e9
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
    skip_jax = _peers.jax_skipped(args.skip_jax)
    data = _peers.mnist(args.limit)
    (X, _), (X_test, _) = data
    recipe = _peers.Recipe(hidden=args.hidden, schedule_epochs=args.epochs, seed=args.seed)
    print(f"MNIST {len(X)} train / {len(X_test)} test images; {recipe.describe()}; "
          f"batches {args.batches}, {args.epochs} epochs x {args.rounds} rounds, "
          f"{threads} threads")
    print("Each implementation takes one untimed warm-up step first (fastnet: kernel JIT "
          f"compile / cache load); s/epoch is the median over the epochs of {args.rounds} "
          "round(s); the implementations take turns epoch by epoch.\n", flush=True)

    rows = {}
    peers = [("numpy-blas", _peers.NumpyMLP)]
    if not skip_torch:
        peers.append(("pytorch", lambda w, r: _peers.TorchMLP(w, r, threads)))
    if not skip_jax:
        peers.append(("jax", lambda w, r: _peers.JaxMLP(w, r, threads)))
    for _ in range(args.rounds):
        for batch in args.batches:
            recipe.batch_size = batch
            for name, (seconds, acc) in _peers.run_interleaved(recipe, data, args.epochs,
                                                               peers).items():
                rows.setdefault((batch, name), ([], acc))[0].extend(seconds)
    print_table(rows, args.batches)
    for note in (skip_torch, skip_jax):
        if note:
            print(note)

    print(f"\nGFLOP/s of the kernels of one batch-128 step, best of {args.kernel_rounds} rounds, "
          f"{threads} threads:")
    print_gflops(args.hidden, args.kernel_rounds)

    print(f"\nthreads: Numba {threads}" + ("" if skip_torch else f", PyTorch {threads}")
          + ("" if skip_jax else f", JAX (XLA) {threads}")
          + f", NumPy BLAS: {_common.blas_description()}")
    print(f"CPU: {common.cpu_model()} ({common.cores()} cores usable), {platform.machine()}")
    print(f"versions: fastnet {fastnet.__version__} (commit {_common.git_commit()}), python "
          f"{platform.python_version()}, numba {numba.__version__}, numpy {np.__version__}, "
          f"torch {_peers.version('torch')}, jax {_peers.version('jax')}")
    print(f"date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"peak RSS: {fastnet_train_rss(args, threads)} for `fastnet train --epochs 1` in a "
          f"new process (target <= {RSS_TARGET_MB} MB; data included), "
          f"{peak_rss_mb():.0f} MB for this whole process")


if __name__ == "__main__":
    main()
