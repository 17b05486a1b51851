"""``fastnet compile``: put every kernel a typical run calls into Numba's cache ahead of
time (a Docker image, a CI cache, each node of a cluster), compiled in parallel.

Activations, losses and optimizer rules are integer codes, so one signature per kernel
serves all of them; what changes the signatures is the float dtype (float32 here), the
input dtype (uint8 images, writable or read-only, float, or a float64 memory map) and whether a layer has a
learned slope (PReLU adds two kernels), dropout, sample weights and gradient clipping
(each adds kernels of its own). A small float32 network with a PReLU layer with dropout,
fed each kind of input, trained with an optimizer (also with weights and clipping) and
differentiated without one, makes every such call; the register-blocked kernels of wide
layers are added with the same arguments (and a scratch).
"""
import os
import tempfile

import numpy as np

from . import compiler, passes
from .inputs import as_input, encode_targets
from .layers import Dense
from .network import Network
from .optimizers import SGD
from .scaling import Scaler


def typical_calls():
    """The (kernel, args) of the calls of float32 runs (``passes.planned_calls``), fed
    uint8 images (writable or read-only), float32 rows, a float64 ``.npy`` file loaded
    with ``mmap_mode="r"`` (a memory map the gather kernels read as it is), or float64
    rows under a fitted scaler (kept float64, shifted as they are gathered)."""
    net = Network([Dense(4, 4, activation="prelu", dropout=0.5), Dense(4, 3)])
    y = np.arange(8) % 3
    images = np.zeros((8, 4), np.uint8)
    read_only = images.copy()
    read_only.flags.writeable = False
    with tempfile.TemporaryDirectory() as folder:   # the map outlives its file's name
        path = os.path.join(folder, "X.npy")
        np.save(path, np.zeros((8, 4)))
        mapped = np.load(path, mmap_mode="r")
    calls = []
    for X in (images, read_only, np.zeros((8, 4), np.float32), mapped):
        X, scale = as_input(net, X)
        T = encode_targets(net, y, X.shape[0])
        calls += passes.planned_calls(net, X, scale, T, SGD(0.1).kind, X)
        calls += passes.planned_calls(net, X, scale, T, SGD(0.1).kind, X, weighted=True,
                                      clips=True)
        calls += passes.planned_calls(net, X, scale, T, None, X)
    net.scaler = Scaler("standard").fit(np.ones((8, 4)))   # float64 rows, shifted as gathered
    X, scale = as_input(net, np.ones((8, 4)))
    calls += passes.planned_calls(net, X, scale, encode_targets(net, y, 8), SGD(0.1).kind, X)
    scratch = np.empty(0, np.float32)
    return calls + [(wide, args + ((scratch,) if wide in passes.PACKED else ()))
                    for k, args in calls for wide in WIDE.get(k, ())]


# The forms of wide layers' kernels take their row forms' arguments, the register-blocked
# ones (passes.PACKED) and a workspace's scratch.
WIDE = {passes.dense_forward: (passes.dense_forward_packed,),
        passes.dense_backward_params: (passes.dense_backward_params_packed,
                                       passes.dense_backward_params_listed),
        passes.hidden_delta: (passes.hidden_delta_packed,)}


def compile_typical(workers=None):
    """Compile (or load) every kernel of ``typical_calls``; returns the compile seconds
    (0.0 when all were cached)."""
    return compiler.warm(typical_calls(), verbose=True, workers=workers)
