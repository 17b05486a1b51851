"""GFLOP/s of the three products of a dense layer: today's kernels, the blocked ones, sgemm.

For each layer fan-in C → fan-out OC at batch B, the three products (2·B·C·OC flops each)

    forward       u  = x Wᵀ     (B, OC)
    weight grad   dW = δᵀ x     (OC, C)
    hidden δ      g  = δ W      (B, C)

are timed three ways: ``current`` (fastnet.kernels.dense through benchmarks/common.py,
with its fused bias + ReLU, bias gradient, ReLU derivative), ``blocked``
(fastnet.kernels.gemm.gemm_abt, the bare product, pack buffers allocated once) and
``sgemm`` (NumPy's ``np.matmul`` into the same buffer: OpenBLAS). They take turns, call
by call, for ``--rounds`` rounds (each call repeated to last ≥ ``--min-ms``); the table
holds the median GFLOP/s over the rounds and the median of the per-round ratios. The MNIST
first layer (784 → 256) is also timed in its own layout on raw MNIST pixels (``first``),
where today's kernels skip the all-zero blocks; its GFLOP/s count the dense flops.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the environment before NumPy
loads OpenBLAS (on some machines they are set and slow sgemm down); Numba does not read
them. ``--zmm`` lets LLVM use 512-bit vectors (``NUMBA_CPU_FEATURES`` = the host's
features + ``-prefer-256-bit``; its kernels compile afresh, into their own cache entries).

    python benchmarks/gemm_shapes.py                 # the issue's shapes, 2 threads
    python benchmarks/gemm_shapes.py --quick         # two small shapes, 2 rounds
"""
import argparse
import datetime
import os
import sys
import time


def _environment(argv):
    """Run as a script, before NumPy loads OpenBLAS and Numba reads its configuration:
    OpenBLAS on --threads threads without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE; --zmm."""
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(var, None)
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--threads", default="2")
    os.environ["OPENBLAS_NUM_THREADS"] = early.parse_known_args(argv)[0].threads
    if "--zmm" in argv:
        import llvmlite.binding as llvm
        os.environ["NUMBA_CPU_FEATURES"] = (llvm.get_host_cpu_features().flatten()
                                            + ",-prefer-256-bit")


if __name__ == "__main__":
    _environment(sys.argv[1:])

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402
from fastnet import config  # noqa: E402
from fastnet.kernels.gemm import gemm_abt, pack_shapes  # noqa: E402

# (fan-in C, fan-out OC, batch B, first layer on MNIST pixels)
SHAPES = [
    (784, 256, 32, True), (784, 256, 128, True), (784, 256, 128, False), (256, 10, 128, False),
    (784, 2048, 256, False), (2048, 2048, 256, False), (2048, 4096, 256, False),
    (784, 2048, 512, False), (2048, 2048, 512, False), (2048, 4096, 512, False),
]
QUICK = [(256, 10, 32, False), (784, 256, 64, False)]
PRODUCTS = ("forward", "weight_grad", "hidden_delta")


def operands(c, product):
    """(out, a, b) with out = a bᵀ for one product of case c (views, nothing copied)."""
    if product == "forward":
        return c.u, c.x, c.w
    if product == "weight_grad":
        return (c.dw, c.x.T, c.delta.T) if c.first else (c.dw, c.delta.T, c.x.T)  # dWᵀ or dW
    return c.dz_prev, c.delta, c.w.T


def blocked(c, product, threads):
    """A call of gemm_abt for one product of case c, its pack buffers made once here."""
    out, a, b = operands(c, product)
    shape_a, shape_b = pack_shapes(a.shape[0], b.shape[0], a.shape[1], threads)
    pack_a, pack_b = config.empty(shape_a), config.empty(shape_b)
    return lambda: gemm_abt(out, a, b, pack_a, pack_b)


def seconds(fn, min_seconds):
    """Seconds per call of fn, repeated until the batch of calls lasts min_seconds."""
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return elapsed / number
        number *= 2


def measure(fns, rounds, min_seconds, pause=0.1):
    """[[seconds per call of fn in round r] for fn in fns]: the fns take turns."""
    for fn in fns:
        fn()  # compile or load from the cache, untimed
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            times[i].append(seconds(fn, min_seconds))
            time.sleep(pause)  # OpenBLAS's spinning threads go to sleep before the next
    return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=min(2, numba.config.NUMBA_NUM_THREADS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--min-ms", type=float, default=100.0)
    p.add_argument("--quick", action="store_true", help="two small shapes, 2 rounds")
    p.add_argument("--zmm", action="store_true", help="512-bit vectors in LLVM (see above)")
    args = p.parse_args(argv)
    if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
        p.error(f"--threads must be in [1, {numba.config.NUMBA_NUM_THREADS}]")
    numba.set_num_threads(args.threads)
    shapes, rounds = (QUICK, 2) if args.quick else (SHAPES, args.rounds)
    n = 2048  # the reference the targets are stated in: sgemm of n = 2048
    a, b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
    ref = measure([lambda: np.matmul(a, b.T)], 1 if args.quick else 3, args.min_ms / 1e3)
    sgemm_2048 = 2 * n ** 3 / np.median(ref[0]) / 1e9
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  "
          f"{common.cpu_model()}  threads {args.threads}  "
          f"vectors {'zmm' if args.zmm else 'default'}"
          f"  numba {numba.__version__}  numpy {np.__version__}")
    print(f"# sgemm n=2048: {sgemm_2048:.1f} GFLOP/s; target for the large shapes: "
          f"{0.85 * sgemm_2048:.1f}; median of {rounds} rounds")
    print(f"{'layer':>10} {'B':>4} {'first':>5} {'product':>12} {'current':>8} {'blocked':>8} "
          f"{'sgemm':>8} {'blk/sgemm':>9} {'blk/cur':>8} {'blk/2048':>8}")
    for C, OC, B, first in shapes:
        c = common.dense_case(B, C, OC, first=first, images=first)
        for product in PRODUCTS:
            if first and product == "hidden_delta":
                continue  # a first layer has no hidden δ
            fns = [lambda: common.KERNELS[product](c), blocked(c, product, args.threads),
                   lambda: common.MATMUL[product](c)]
            times = np.array(measure(fns, rounds, args.min_ms / 1e3))
            gflops = common.flops(c) / np.median(times, axis=1) / 1e9
            ratio = np.median(times[2] / times[1]), np.median(times[0] / times[1])
            print(f"{C:>5}-{OC:<4} {B:>4} {'yes' if first else '':>5} {product:>12} "
                  f"{gflops[0]:>8.3g} {gflops[1]:>8.3g} {gflops[2]:>8.3g} {ratio[0]:>9.3g} "
                  f"{ratio[1]:>8.3g} {gflops[1] / sgemm_2048:>8.3g}", flush=True)


if __name__ == "__main__":
    main()
