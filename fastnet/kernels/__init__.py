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
import re

from .. import codegen, config
from . import (activations, clip, data, dense, dropout, landscape, losses,  # noqa: F401
               metrics, optim, weights)


def _shared_sources(folder):
    """The kernel files whose helpers or constants other kernel files import."""
    names = set()
    for path in glob.glob(os.path.join(folder, "*.py")):
        with open(path, encoding="utf-8") as f:
            names |= set(re.findall(r"^from \.(\w+) import", f.read(), re.M))
    return [os.path.join(folder, name + ".py") for name in sorted(names)]


# Numba checks a cached kernel against its own file only: flush every kernel's cache when
# a file that others import from (activations.py, optim.py, ...), the flags or the way
# they are compiled (codegen.py) changed. A
# file nothing imports from (dense.py) is left to Numba's own check.
config.drop_stale_caches(config.KERNELS,
                         _shared_sources(os.path.dirname(__file__))
                         + [config.__file__, codegen.__file__])
