"""Shared set-up of the benchmark tools (compare.py, grid.py, time_to_98.py): import fastnet and
the benchmarks package from this checkout, the --threads handling, the options and
argument types they share. The tools are scripts, run as ``python benchmarks/tools/NAME.py``;
this folder has no __init__.py, so asv, which imports every module of the benchmarks
package, leaves them alone."""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)  # run from a checkout without installing


THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MKL_NUM_THREADS")


def limit_threads_from_argv(argv=None):
    """Apply ``--threads N`` from the command line to Numba, the BLAS and OpenMP by
    setting THREAD_VARS. Call it before NumPy or Numba is imported: they read these
    variables once, at import. (The script's own parser validates the value later.)
    PyTorch's and JAX's threads are set where their peers start (``_peers``): XLA reads
    no such variable or flag."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--threads", default="")
    n = p.parse_known_args(argv)[0].threads
    if n.isdigit() and int(n) > 0:
        for var in THREAD_VARS:
            os.environ[var] = n


def peer_arguments(p, hidden=256, jax=False):
    """The options compare.py and time_to_98.py share: --hidden --threads --limit
    --skip-torch --seed (and --skip-jax with ``jax``)."""
    p.add_argument("--hidden", type=positive_int, default=hidden,
                   help=f"hidden layer width (default {hidden})")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="threads for Numba, the BLAS and PyTorch (default: every core this "
                        "process may use)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="train on the first N MNIST training images only (the test set "
                        "stays whole); for quick checks")
    p.add_argument("--skip-torch", action="store_true", help="leave PyTorch out")
    if jax:
        p.add_argument("--skip-jax", action="store_true", help="leave JAX out")
    p.add_argument("--seed", type=int, default=0, help="seeds weights and shuffling (default 0)")


def positive_int(text):
    """argparse type: an integer >= 1."""
    from fastnet.cli import _positive_int
    return _positive_int(text)


def int_list(text):
    """argparse type: comma-separated integers >= 1, e.g. '32,128'."""
    values = [positive_int(s) for s in text.split(",") if s.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return values


def git_commit():
    """``git describe --always --dirty`` of this checkout, or 'unknown'."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE,
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
    """The median of a non-empty sequence of numbers."""
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else 0.5 * (xs[mid - 1] + xs[mid])


# Untimed sleep between two implementations' turns in compare.py, grid.py and
# time_to_98.py, long enough for the threads of the one that just ran (OpenBLAS's and
# OpenMP's spin while they wait for work) to be asleep when the next one starts: at most
# PAUSE seconds, less once the process has been QUIET_SLICES slices of SLICE seconds in a
# row without using CPU (``pause``). Measured, 2026-12-07, 2 threads: after a 512² product
# OpenBLAS's idle thread spins about 100 ms, PyTorch's (libgomp) and fastnet's (Numba's
# OpenMP) about 9 ms, JAX's none.
PAUSE = 0.3
SLICE = 0.005
QUIET_SLICES = 3


def pause():
    """Sleep until this process's threads have stopped spinning (no more than SLICE / 10
    of CPU time in each of QUIET_SLICES consecutive slices of SLICE seconds), or PAUSE
    seconds at most; returns the seconds slept."""
    start = time.perf_counter()
    quiet = 0
    while quiet < QUIET_SLICES and time.perf_counter() - start < PAUSE:
        cpu = time.process_time()
        time.sleep(SLICE)
        quiet = quiet + 1 if time.process_time() - cpu < SLICE / 10 else 0
    return time.perf_counter() - start
