"""Cold start: a new Python process that imports fastnet, builds the MNIST network and
takes one training step (one fit over a single batch of 128), timed from outside as the
process's wall time. Cached: Numba's on-disk cache already holds the compiled kernels (the
usual case after the first run). Uncached: NUMBA_CACHE_DIR points at an empty temporary
folder, so every kernel is compiled (in parallel worker processes: ``fastnet.compiler``).
CompileTimes: the kernels' compile seconds and cached object size summed over a first
MNIST fit and evaluate with an empty cache (``compile_times.py`` prints them per kernel)."""
import os
import subprocess
import sys
import tempfile
import time

from . import compile_times

FIRST_STEP = """
import numpy as np
import fastnet as fn
net = fn.Network([fn.Dense(784, 256, activation="relu"), fn.Dense(256, 10)])
X = np.zeros((128, 784), np.uint8)
y = np.zeros(128, np.int64)
net.fit(X, y, epochs=1, batch_size=128, optimizer=fn.SGD(0.1, momentum=0.9), verbose=False)
"""


def run_first_step(env=None):
    """Wall seconds of a fresh interpreter running FIRST_STEP."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", FIRST_STEP], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


class ColdStart:
    unit = "seconds"
    timeout = 600

    def setup(self):
        run_first_step()  # fills Numba's cache if this checkout has not run yet

    def track_import_and_first_step_cached(self):
        return min(run_first_step() for _ in range(3))

    def track_import_and_first_step_uncached(self):
        with tempfile.TemporaryDirectory(prefix="fastnet-numba-cache-") as cache:
            return run_first_step(dict(os.environ, NUMBA_CACHE_DIR=cache))


class CompileTimes:
    """Numba's ``numba:compile`` events of a first fit, summed over the kernels."""
    unit = "seconds"
    timeout = 900

    def setup(self):
        self.wall, self.table = compile_times.measure()

    def track_compile_seconds(self):
        return sum(seconds for _, seconds, _ in self.table.values())

    def track_cached_kilobytes(self):
        return sum(size for _, _, size in self.table.values()) / 1024

    track_cached_kilobytes.unit = "KB"
