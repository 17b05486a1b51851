"""One registry per kind (fastnet.catalogue): the optimizer classes, Network, the command
line, sweeps and the scikit-learn estimators read the same names and defaults."""
import inspect

import numpy as np
import pytest

from fastnet import Dense, Network, catalogue, runs
from fastnet import optimizers as O
from fastnet.cli import build_parser
from fastnet.kernels import activations as A
from fastnet.kernels import losses as L
from fastnet.kernels import optim as K
from fastnet.sweepspec import parse_spec

OPTIMIZER_CLASSES = {"sgd": O.SGD, "adagrad": O.AdaGrad, "rmsprop": O.RMSProp,
                     "adam": O.Adam, "adamw": O.AdamW}


def _train_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["train"].format_help()


def test_registries_hold_the_kernel_codes():
    assert catalogue.ACTIVATIONS == A.NAMES and catalogue.LOSSES == L.NAMES
    assert set(catalogue.LOSS_NAMES) == {"sum_of_squares", "binary_cross_entropy",
                                         "softmax_cross_entropy"}
    assert "softmax" not in catalogue.HIDDEN_ACTIVATIONS
    assert set(catalogue.HIDDEN_ACTIVATIONS) == set(A.NAMES) - {"softmax"}


def test_optimizer_and_schedule_constructors_are_the_catalogue_names():
    assert O.OPTIMIZERS.keys() == catalogue.OPTIMIZERS.keys()
    assert O.SCHEDULES.keys() == catalogue.SCHEDULES.keys()
    assert tuple(runs.TRAIN_OPTIONS["optimizer"].parse(n) for n in catalogue.OPTIMIZERS) == \
        tuple(catalogue.OPTIMIZERS)


@pytest.mark.parametrize("name", list(catalogue.OPTIMIZERS))
def test_make_optimizer_takes_the_catalogue_defaults(name):
    opt = O.make_optimizer(name)
    config = opt.config()
    for key, value in catalogue.OPTIMIZERS[name].items():
        assert config[key] == value, key


@pytest.mark.parametrize("name", list(OPTIMIZER_CLASSES))
def test_class_defaults_are_the_catalogue_defaults(name):
    params = inspect.signature(OPTIMIZER_CLASSES[name]).parameters
    for key, value in catalogue.OPTIMIZERS[name].items():
        assert params[key].default == value, key


@pytest.mark.parametrize("name", list(catalogue.OPTIMIZERS))
def test_default_learning_rates_agree_everywhere(name):
    """The CLI (outside the MNIST recipe), make_optimizer and the classes all give
    optimizer ``name`` the catalogue's learning rate. (The scikit-learn estimators take
    scikit-learn's learning_rate_init=0.001 for every solver, as scikit-learn does.)"""
    lr = catalogue.OPTIMIZERS[name]["lr"]
    assert O.make_optimizer(name).lr == lr
    cli = runs.resolve({"optimizer": name})["lr"]
    assert cli == (runs.RECIPE["lr"] if name == runs.RECIPE["optimizer"] else lr)


def test_fit_default_optimizer_is_momentum_at_its_catalogue_defaults():
    net = Network([Dense(2, 2)], seed=0)
    net.fit(np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1]), epochs=0, verbose=False)
    config = net.optimizer.config()
    for key, value in catalogue.OPTIMIZERS["momentum"].items():
        assert config[key] == value, key


def test_sklearn_default_optimizer_is_adam_at_its_catalogue_defaults():
    """scikit-learn's Adam defaults are the catalogue's; its alpha becomes λ = α / B."""
    sklearn = pytest.importorskip("fastnet.sklearn")
    opt = sklearn.MLPClassifier()._make_optimizer(200)
    assert opt.kind == K.ADAM
    adam = catalogue.OPTIMIZERS["adam"]
    assert (opt.lr, opt.beta1, opt.beta2, opt.eps) == (adam["lr"], adam["beta1"],
                                                       adam["beta2"], adam["eps"])
    assert opt.weight_decay == pytest.approx(1e-4 / 200)


def test_train_help_lists_exactly_the_catalogue():
    text = " ".join(_train_help().split())
    for names in (catalogue.HIDDEN_ACTIVATIONS, catalogue.LOSS_NAMES,
                  tuple(catalogue.OPTIMIZERS), tuple(catalogue.SCHEDULES)):
        assert ", ".join(names) in text
    assert "elu," not in text.replace("relu,", "")
    for name, spec in catalogue.OPTIMIZERS.items():
        if name != runs.RECIPE["optimizer"]:
            assert f"{name} {spec['lr']:g}" in text


def test_sweep_spec_accepts_the_catalogue_names_only():
    spec = parse_spec({"grid": {"optimizer": list(catalogue.OPTIMIZERS),
                                "activation": list(catalogue.HIDDEN_ACTIVATIONS)}})
    assert spec["space"]["optimizer"] == list(catalogue.OPTIMIZERS)
    with pytest.raises(ValueError, match="unknown activation 'elu'"):
        parse_spec({"grid": {"activation": ["elu"]}})
