"""Each kernel's compile time and cached object size, with an empty Numba cache.

A child process (NUMBA_CACHE_DIR set to a new temporary folder) imports fastnet and
trains the MNIST network (784-256-10, ReLU, softmax, SGD with momentum) for one small
epoch, then evaluates it, recording Numba's ``numba:compile`` events; the parent prints
one row per kernel and the totals:

    python benchmarks/compile_times.py [--json]

``kernel`` is the dispatcher, ``signatures`` how many type signatures it compiled,
``seconds`` its compile time (outermost compiles only: a kernel called from another is
counted in its caller), ``KB`` its cached object files (.nbc).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

MNIST_FIT = """
import numpy as np
import fastnet as fn
net = fn.Network([fn.Dense(784, 256, activation="relu"), fn.Dense(256, 10)])
rng = np.random.default_rng(0)
X = rng.integers(0, 256, (512, 784), dtype=np.uint8)
y = rng.integers(0, 10, 512)
net.fit(X, y, epochs=1, batch_size=128, optimizer=fn.SGD(0.1, momentum=0.9), verbose=False)
net.evaluate(X, y)
"""

# Runs WORKLOAD under a recorder of Numba's compile events; prints them as JSON.
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from numba.core import event
with event.install_recorder("numba:compile") as rec:
    exec(compile(sys.argv[1], "<workload>", "exec"), {})
wall = time.perf_counter() - t0
depth, started, rows = 0, {}, []
for ts, ev in rec.buffer:
    key = id(ev.data["dispatcher"]), str(ev.data["args"])
    if ev.is_start:
        depth += 1
        started[key] = ts, depth
        continue
    t_start, d = started.pop(key)
    depth -= 1
    rows.append(dict(kernel=ev.data["dispatcher"].py_func.__name__, seconds=ts - t_start,
                     outer=d == 1))
json.dump(dict(wall=wall, compiles=rows), sys.stdout)
"""


def measure(workload=MNIST_FIT):
    """Run ``workload`` (Python source; default: a first MNIST fit and evaluate) in a new
    process with an empty cache folder. Returns (wall seconds of the child, {kernel:
    [signatures compiled, compile seconds, cached object bytes]})."""
    with tempfile.TemporaryDirectory(prefix="fastnet-numba-cache-") as cache:
        # compiled here, one after another, so that the events see every kernel
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, FASTNET_COMPILE_WORKERS="1")
        out = subprocess.run([sys.executable, "-c", CHILD, workload], env=env, check=True,
                             capture_output=True, text=True).stdout
        result = json.loads(out)
        table = {}
        for row in result["compiles"]:
            entry = table.setdefault(row["kernel"], [0, 0.0, 0])
            entry[0] += 1
            if row["outer"]:
                entry[1] += row["seconds"]
        for root, _, files in os.walk(cache):
            for name in files:
                if name.endswith(".nbc"):
                    kernel = name.split(".")[-4].split("-")[0]  # module.kernel-line.py311.N.nbc
                    if kernel in table:
                        table[kernel][2] += os.path.getsize(os.path.join(root, name))
    return result["wall"], table


def main():
    t0 = time.perf_counter()
    wall, table = measure()
    elapsed = time.perf_counter() - t0
    if "--json" in sys.argv:
        print(json.dumps(dict(wall=wall, process=elapsed, kernels=table)))
        return
    print(f"{'kernel':28s} {'signatures':>10s} {'seconds':>8s} {'KB':>7s}")
    for name, (n, seconds, size) in sorted(table.items(), key=lambda kv: -kv[1][1]):
        print(f"{name:28s} {n:10d} {seconds:8.2f} {size / 1024:7.1f}")
    total = sum(v[1] for v in table.values())
    size = sum(v[2] for v in table.values())
    print(f"{'total':28s} {sum(v[0] for v in table.values()):10d} {total:8.2f} {size / 1024:7.1f}")
    print(f"child process to the end of evaluate: {wall:.2f} s; whole process: {elapsed:.2f} s")


if __name__ == "__main__":
    main()
