"""fastnet: feed-forward neural networks trained by Numba loop kernels."""
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
