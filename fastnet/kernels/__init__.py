"""Numba kernels: pure array math, explicit loops, no allocation, no BLAS.

Size legend used in every shape comment:
    B  = samples in the minibatch
    C  = input features of a dense layer (fan-in)
    OC = output units of a dense layer (fan-out)
    K  = outputs of the network (classes or regression targets)
    N  = number of elements of a flat parameter vector
Arguments are ordered outputs first (arrays updated in place count as outputs), then
input arrays, then scalars: codes, flags and sizes (llm.c style). Each kernel's docstring
gives its equation and the shapes of its arrays.
"""
import glob
import os

from .. import config
from . import (activations, clip, data, dense, dropout, gemm, landscape, losses,  # noqa: F401
               metrics, optim, weights)

# Numba's cache knows each kernel's own file only: flush it when any kernel source changed
# (reference.py, plain NumPy, compiles nothing).
_sources = [p for p in glob.glob(os.path.join(os.path.dirname(__file__), "*.py"))
            if os.path.basename(p) != "reference.py"]
config.drop_stale_caches(config.KERNELS, _sources + [config.__file__])
