"""One place for the numeric settings every kernel shares.

* ``FLOAT``: the dtype of parameters, activations and gradients (float32).
* ``FASTMATH``: the LLVM fast-math flags. We allow re-association and
  contraction (so reductions vectorise and FMAs are used) but *not* ``nnan`` /
  ``ninf``: divergence checks must still see NaN and inf; nor ``arcp`` / ``afn``,
  which let LLVM replace a division or square root by an estimate in one inlined
  copy of a loop and not in another (the optimizer rules then differed by a few
  ulps between the fused and the flat update).
* ``JIT`` / ``PJIT``: the decorator options of serial and parallel kernels.
  ``cache=True`` writes the compiled code next to the source so a new process
  starts in about a second instead of recompiling.
"""
import numpy as np
from numba import njit

FLOAT = np.float32
FASTMATH = {"reassoc", "contract", "nsz"}

JIT = dict(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")
PJIT = dict(JIT, parallel=True)


def kernel(fn):
    """Serial nopython kernel with the project's flags."""
    return njit(**JIT)(fn)


def parallel_kernel(fn):
    """Parallel (prange) nopython kernel with the project's flags."""
    return njit(**PJIT)(fn)


def inline(fn):
    """Helper inlined into the kernels that call it (Numba IR inlining)."""
    return njit(inline="always", **JIT)(fn)
