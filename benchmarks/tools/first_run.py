"""A new user's first run, whole processes side by side: ``fastnet train --epochs 1`` with
an empty Numba cache, the same epoch in PyTorch (import, read MNIST, train, evaluate), and
fastnet with a warm cache up to its first training step.

Each round runs the three, taking turns (with a short untimed pause between them), and
times each process from outside (wall seconds of the whole process):

    uncached   fastnet train --epochs 1 --threads T, NUMBA_CACHE_DIR a new empty folder:
               compile (fastnet.compiler's parallel groups), train 54 000 images, validate
               on 6 000, evaluate the 10 000 test images once, write the run folder
    pytorch    the same network (784-256-10 ReLU, softmax cross-entropy), recipe (SGD
               momentum 0.9, lr 0.1, weight decay 2e-4, batch 128) and epoch over the same
               54 000 images, then the test set, with torch.set_num_threads(T); MNIST read
               from the shipped IDX files with NumPy
    cached     a new process that imports fastnet, builds the MNIST network and takes one
               training step of 128 images, the kernels loaded from the cache: from its
               start until it prints the time after that step (its exit, 0.3-0.4 s of
               interpreter and Numba teardown, is not part of reaching the first step)

and prints every round, the medians and the ratio uncached / pytorch:

    python benchmarks/tools/first_run.py --rounds 3 --threads 2

fastnet runs in this interpreter's environment unless ``--fastnet-python`` names another,
such as a venv made by the README's first command (numba and numpy only). Numba imports
SciPy's BLAS bindings as it sets up its compiler, about 0.4 s of every fastnet process
where SciPy is installed (the test extra installs it); the last line says which it was.
"""
import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import _common
from benchmarks.common import cpu_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MNIST = os.path.join(ROOT, "fastnet", "data", "mnist")

TORCH_EPOCH = """
import gzip, os, sys
import numpy as np
import torch
threads, folder = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(threads)
def idx(name, offset):
    with gzip.open(os.path.join(folder, name)) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)
X = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)[:54000]
y = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)[:54000]
Xt = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784)
yt = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
order = np.random.default_rng(0).permutation(len(X))
for s in range(0, len(X), 128):
    i = order[s:s + 128]
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(X[i] / np.float32(255))),
                                             torch.from_numpy(y[i]))
    loss.backward()
    opt.step()
with torch.no_grad():
    pred = model(torch.from_numpy(Xt / np.float32(255))).argmax(dim=1).numpy()
print(f"pytorch test accuracy {(pred == yt).mean():.4f}")
"""

FIRST_STEP = """
import time
import numpy as np
import fastnet as fn
net = fn.Network([fn.Dense(784, 256, activation="relu"), fn.Dense(256, 10)])
X = np.zeros((128, 784), np.uint8)
y = np.zeros(128, np.int64)
net.fit(X, y, epochs=1, batch_size=128, optimizer=fn.SGD(0.1, momentum=0.9), verbose=False)
print(time.time())  # the first step is done (the interpreter's exit is not counted)
"""


def timed(cmd, env):
    """Wall seconds of the process ``cmd``; raises if it fails."""
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def until_printed(cmd, env):
    """Seconds from starting the process ``cmd`` to the wall-clock time it prints last."""
    t0 = time.time()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1]) - t0


def fastnet_cli(python):
    """The ``fastnet`` command beside the interpreter ``python`` (its environment)."""
    here = shutil.which("fastnet", path=os.path.dirname(python))
    return [here] if here else [python, "-m", "fastnet"]


def has_scipy(python):
    """Whether SciPy is installed beside ``python``. Numba imports SciPy's BLAS bindings
    when it sets up its compiler (about 0.4 s here), so fastnet's processes pay that in
    an environment with SciPy (the test extra's) and not in the README's install."""
    found = subprocess.run([python, "-c", "import importlib.util, sys; "
                            "sys.exit(importlib.util.find_spec('scipy') is None)"])
    return found.returncode == 0


def one_round(threads, has_torch, python):
    env = dict(os.environ, PYTHONPATH=ROOT)
    row = {}
    with tempfile.TemporaryDirectory(prefix="fastnet-first-run-") as tmp:
        row["uncached"] = timed(fastnet_cli(python) + [
            "train", "--epochs", "1", "--threads", str(threads), "--out",
            os.path.join(tmp, "run"), "--quiet"], dict(env, NUMBA_CACHE_DIR=os.path.join(
                tmp, "cache")))
    time.sleep(_common.PAUSE)
    if has_torch:
        row["pytorch"] = timed([sys.executable, "-c", TORCH_EPOCH, str(threads), MNIST], env)
        time.sleep(_common.PAUSE)
    row["cached"] = until_printed([python, "-c", FIRST_STEP],
                                  dict(env, NUMBA_NUM_THREADS=str(threads)))
    time.sleep(_common.PAUSE)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=_common.positive_int, default=3)
    p.add_argument("--threads", type=_common.positive_int, default=os.cpu_count() or 1)
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--fastnet-python", default=sys.executable, metavar="PYTHON",
                   help="the interpreter whose environment runs fastnet, e.g. a venv made "
                   "by the README's first command (default: this one; PyTorch always runs "
                   "in this one)")
    args = p.parse_args(argv)
    has_torch = not args.skip_torch and _has_torch()
    python = args.fastnet_python
    subprocess.run([python, "-c", FIRST_STEP], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHONPATH=ROOT))  # fills the cached case's cache
    rows = []
    print(f"{'round':>5} {'uncached s':>11} {'pytorch s':>10} {'ratio':>6} {'cached s':>9}")
    for r in range(args.rounds):
        row = one_round(args.threads, has_torch, python)
        rows.append(row)
        torch_s = row.get("pytorch", float("nan"))
        print(f"{r + 1:5d} {row['uncached']:11.2f} {torch_s:10.2f} "
              f"{row['uncached'] / torch_s:6.2f} {row['cached']:9.2f}", flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    torch_s = med.get("pytorch", float("nan"))
    print(f"{'median':>5} {med['uncached']:11.2f} {torch_s:10.2f} "
          f"{med['uncached'] / torch_s:6.2f} {med['cached']:9.2f}")
    print(f"{datetime.date.today()}, {cpu_model()}, {os.cpu_count()} CPUs, "
          f"{args.threads} threads; fastnet ran in {python} "
          f"({'with' if has_scipy(python) else 'without'} SciPy)")



def _has_torch():
    import importlib.util
    return importlib.util.find_spec("torch") is not None


if __name__ == "__main__":
    main()
