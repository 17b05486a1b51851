"""fastnet: feed-forward neural networks trained by Numba loop kernels."""
import os as _os
import sys as _sys


def _check_numba_threads():
    """Numba fails to import with a bare traceback when NUMBA_NUM_THREADS is not a count
    >= 1: say so clearly first (on the command line as ``fastnet: error:``, exit 1)."""
    text = _os.environ.get("NUMBA_NUM_THREADS")
    if text is None or (text.strip().isdigit() and int(text) >= 1):
        return
    message = (f"NUMBA_NUM_THREADS={text!r}: must be a whole number >= 1 "
               "(or unset, to use every core)")
    if _os.path.basename(_sys.argv[0]) == "fastnet" or _sys.argv[0] == "-m":
        raise SystemExit(f"fastnet: error: {message}")
    raise ValueError(message)


_check_numba_threads()
from .datasets import load_mnist, read_idx
from .layers import Dense
from .network import Network
from .optimizers import SGD, AdaGrad, Adam, AdamW, Constant, Cosine, RMSProp, StepDecay
from .train import DivergenceError, History, TrainingInterrupted
from .io import load, save
from .callbacks import Callback, EarlyStopping, LambdaCallback, ReduceLROnPlateau, RunDirectory
from .export import export_onnx, to_torch
from .explain import explain  # the function; the module is fastnet.explain in sys.modules

from ._version import __version__

Network.save = save   # net.save(path) is fastnet.save(net, path); fastnet.load(path) reads it


def sweep(spec, out=None, **options):
    """Hyper-parameter sweep of ``fastnet train`` on Dask distributed (``pip install
    "fastnet[sweep]"``; Dask is imported only here): see ``fastnet.sweeps.sweep``."""
    from .sweeps import sweep as run
    return run(spec, out=out, **options)


__all__ = ["Dense", "Network", "SGD", "AdaGrad", "RMSProp", "Adam", "AdamW", "Constant",
           "StepDecay", "Cosine", "History", "DivergenceError", "TrainingInterrupted",
           "load_mnist", "read_idx", "save", "load", "Callback", "EarlyStopping", "LambdaCallback",
           "RunDirectory", "ReduceLROnPlateau", "sweep", "explain", "export_onnx", "to_torch"]
