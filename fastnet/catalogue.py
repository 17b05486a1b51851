"""The catalogue: every name a user may choose and the defaults that go with it.

One table per kind: activations and losses (name -> kernel code; the codes live in
``fastnet.kernels``), optimizers (name -> default hyper-parameters, learning rate
included) and learning-rate schedules (name -> default arguments). The optimizer
classes, ``Network``/``Dense``, the command line, sweeps, the scikit-learn estimators
and the docs all read these tables, so they cannot disagree.
"""
from .kernels import activations as A
from .kernels import losses as L

ACTIVATIONS = dict(A.NAMES)
"""Activation name -> kernel code (``fastnet.kernels.activations``)."""
HIDDEN_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "softmax")
"""The activations a hidden layer may use (softmax belongs to the output layer)."""

LOSSES = dict(L.NAMES)
"""Loss name (and its short aliases) -> kernel code (``fastnet.kernels.losses``)."""
LOSS_NAMES = tuple({code: name for name, code in reversed(LOSSES.items())}.values())[::-1]
"""One name per loss (the long one), e.g. for the command line's choices."""

OPTIMIZERS = {
    "sgd": {"lr": 0.01, "momentum": 0.0, "weight_decay": 0.0},
    "momentum": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    "nesterov": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    "adagrad": {"lr": 0.01, "eps": 1e-8, "weight_decay": 0.0},
    "rmsprop": {"lr": 0.001, "rho": 0.9, "eps": 1e-8, "weight_decay": 0.0},
    "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
}
"""Optimizer name -> its default hyper-parameters (as PyTorch and Keras choose them)."""

SCHEDULES = {
    "constant": {},
    "step": {"step_size": 10, "gamma": 0.1},
    "cosine": {"min_factor": 0.0},
}
"""Learning-rate schedule name -> its default arguments (cosine also needs total_epochs)."""
