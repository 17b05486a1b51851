"""What LLVM made of the dense kernels: SIMD instructions and parallel loops.

Compiles the forward, weight-gradient and hidden-δ kernels afresh (code loaded from
Numba's cache cannot be inspected, so this uses an empty cache folder) at the shapes
of one MNIST step, then counts the multiply-add instructions in the generated
assembly by register width: zmm = 16 float32 lanes (AVX-512), ymm = 8 (AVX2),
xmm = 4 or 1. A kernel whose hot loop vectorised shows packed (``ps``) ymm/zmm
multiply-adds; ``ss`` ones are scalar (loop tails, short rows). With
``--diagnostics`` Numba's parallel diagnostics say which loop became the parallel
region. Example:

    python benchmarks/tools/inspect_kernels.py --diagnostics
"""
import argparse
import os
import re
import sys
import tempfile

os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastnet-inspect-")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # this checkout's fastnet

import numpy as np  # noqa: E402

from fastnet.kernels import activations as A  # noqa: E402
from fastnet.kernels import optim as O  # noqa: E402
from fastnet.kernels.dense import dense_backward_params, dense_forward, hidden_delta  # noqa: E402

WIDTHS = ("zmm", "ymm", "xmm")


def count_fma(asm):
    """{'zmm': n, 'ymm': n, 'xmm': n, 'scalar': n} multiply-add (and multiply) instructions."""
    counts = dict.fromkeys(WIDTHS, 0)
    counts["scalar"] = 0
    for line in asm.splitlines():
        m = re.match(r"\s*v(fmadd|fnmadd|mul)\w*(ps|ss)\s+(.*)", line)
        if not m:
            continue
        if m.group(2) == "ss":
            counts["scalar"] += 1
            continue
        for w in WIDTHS:
            if "%" + w in m.group(3):
                counts[w] += 1
                break
    return counts


def cases(B=128, C=784, OC=256):
    """(name, kernel, args) at the shapes of a 784-256 layer and a batch of B."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    x, w = rng.random((B, C), f32), rng.random((OC, C), f32)
    u, z, delta = np.empty((B, OC), f32), np.empty((B, OC), f32), rng.random((B, OC), f32)
    slope = np.zeros((1, OC), f32)
    dw, b, db = np.empty((OC, C), f32), np.zeros(OC, f32), np.empty(OC, f32)
    g, dz, u_prev = np.empty((B, C), f32), np.empty((B, C), f32), rng.random((B, C), f32)
    return [
        ("dense_forward", dense_forward,
         (u, z, x, w, np.zeros(OC, f32), slope, A.RELU)),
        ("dense_backward_params", dense_backward_params,  # with a momentum step fused in
         (dw, db, (w, np.zeros_like(w), dw), (b, np.zeros_like(b), db), delta, x,
          O.hyper(0.01, 0.0, 0.9), False, O.MOMENTUM)),
        ("hidden_delta", hidden_delta,
         (g, dz, delta, w, u_prev, u_prev, np.zeros((1, C), f32), A.RELU)),
    ]


def inspect(diagnostics=False):
    """Compile each kernel; return {name: counts} and print a table."""
    result = {}
    print(f"{'kernel':<24}" + "".join(f"{w:>8}" for w in WIDTHS) + f"{'scalar':>8}")
    for name, kernel, args in cases():
        kernel(*args)
        asm = kernel.inspect_asm(kernel.signatures[0])
        counts = count_fma(asm)
        result[name] = counts
        print(f"{name:<24}" + "".join(f"{counts[w]:>8}" for w in WIDTHS) + f"{counts['scalar']:>8}")
        if diagnostics:
            kernel.parallel_diagnostics(kernel.signatures[0], level=1)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--diagnostics", action="store_true",
                   help="also print Numba's parallel diagnostics of each kernel")
    inspect(p.parse_args(argv).diagnostics)


if __name__ == "__main__":
    main()
