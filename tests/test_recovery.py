"""Divergence policies, Ctrl-C checkpoints, exact resume, callbacks (the Python API)."""
import os
import signal

import numpy as np
import pytest

import fastnet as fn
from fastnet.callbacks import load_checkpoint, read_history_csv

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    (X, y), _ = fn.load_mnist()
    return X[:600], y[:600]


def make_net(act="rrelu"):
    return fn.Network([fn.Dense(784, 24, activation=act), fn.Dense(24, 10)], seed=5)


def fit(net, data, **kw):
    X, y = data
    kw.setdefault("optimizer", fn.SGD(0.05, momentum=0.9, schedule=fn.Cosine(3)))
    return net.fit(X, y, epochs=3, batch_size=50, validation_split=0.2, seed=1,
                   verbose=False, **kw)


class BlowUpAfterFirstEpoch(fn.Callback):
    def on_epoch_end(self, net, epoch, logs):
        if epoch == 0:
            net.optimizer.lr = 1e30


def test_divergence_stops_with_clear_error_and_keeps_last_good_checkpoint(data, tmp_path):
    net = make_net()
    with pytest.raises(fn.DivergenceError, match=r"epoch 2.*--on-nan"):
        fit(net, data, callbacks=[BlowUpAfterFirstEpoch(), fn.RunDirectory(tmp_path)])
    good, state = load_checkpoint(tmp_path / "checkpoint.npz")
    assert state["epoch"] == 1 and state["position"] == 0
    assert np.isfinite(good.params).all()
    assert len(read_history_csv(tmp_path / "history.csv")["loss"]) == 1


def test_skip_policy_drops_bad_batches_and_restores_the_weights(data, capsys):
    net = make_net("relu")
    X, y = data
    X = X.astype(np.float32) / 255
    X[130] = 3e38       # u = W x overflows to inf for this sample: its batch 100..149 is skipped
    h = net.fit(X, y, epochs=1, batch_size=50, seed=1, verbose=False, shuffle=False,
                on_nan="skip", optimizer=fn.SGD(0.05))
    assert h["skipped_samples"] == [50] and np.isfinite(h["loss"][0])
    assert np.isfinite(net.params).all()
    assert "skipped a batch" in capsys.readouterr().err


def test_skip_policy_gives_up_when_every_batch_fails(data):
    with pytest.raises(fn.DivergenceError, match="every batch"):
        fit(make_net(), data, on_nan="skip", optimizer=fn.SGD(1e300))  # every update -> inf


def test_halve_policy_lowers_the_learning_rate_until_steps_are_finite(data):
    """lr 1e11 makes the loss NaN in the first epoch ('stop' raises); 'halve' halves the
    rate at each failure and finishes with finite weights."""
    opt = lambda: fn.SGD(1e11, momentum=0.9, schedule=fn.Constant())  # noqa: E731
    with pytest.raises(fn.DivergenceError, match="loss is nan"):
        fit(make_net("relu"), data, optimizer=opt())
    net = make_net("relu")
    h = fit(net, data, on_nan="halve", optimizer=opt())
    assert np.isfinite(net.params).all() and np.isfinite(h["loss"]).all()
    assert net.optimizer.lr <= 0.5e10 and h["lr"][-1] == net.optimizer.lr


def test_unknown_policy(data):
    with pytest.raises(ValueError, match="on_nan"):
        fit(make_net(), data, on_nan="ignore")


class SigintAt(fn.Callback):
    """Send ourselves SIGINT at the end of an epoch: fit finishes the next step, saves."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, epoch, logs):
        if epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("opt", [lambda: fn.SGD(0.05, momentum=0.9, schedule=fn.Cosine(3)),
                                 lambda: fn.Adam(3e-3, schedule=fn.StepDecay(1, 0.5))])
def test_sigint_mid_epoch_then_resume_equals_uninterrupted(data, tmp_path, opt):
    ref = make_net()
    h_ref = fit(ref, data, optimizer=opt())
    net = make_net()
    with pytest.raises(fn.TrainingInterrupted, match="epoch 2/3 after 50 of 480"):
        fit(net, data, optimizer=opt(), handle_sigint=True,
            callbacks=[SigintAt(0), fn.RunDirectory(tmp_path)])
    back, state = load_checkpoint(tmp_path / "checkpoint.npz")
    assert (state["epoch"], state["position"]) == (1, 50)
    h = fit(back, data, optimizer=back.optimizer, resume=state,
            callbacks=[fn.RunDirectory(tmp_path)])
    np.testing.assert_array_equal(back.params, ref.params)
    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert h[k] == h_ref[k], k
    csv = read_history_csv(tmp_path / "history.csv")
    assert csv["val_accuracy"] == h_ref["val_accuracy"]
    np.testing.assert_array_equal(fn.load(tmp_path / "model.npz").params, ref.params)


def test_sigint_handler_is_restored(data):
    before = signal.getsignal(signal.SIGINT)
    fit(make_net(), data, handle_sigint=True)
    assert signal.getsignal(signal.SIGINT) is before


def test_early_stopping_and_resumed_early_stopping(data, tmp_path):
    X, y = data
    stopper = fn.EarlyStopping("val_loss", patience=1)
    net = make_net("relu")
    # a learning rate so large that validation loss gets worse after the first epoch
    h = net.fit(X, y, epochs=8, batch_size=50, validation_split=0.2, verbose=False,
                optimizer=fn.SGD(1.5), callbacks=[stopper], on_nan="skip")
    assert len(h["loss"]) < 8 and stopper.stopped_epoch == len(h["loss"]) - 1
    assert min(h["val_loss"]) == stopper.best


def test_lambda_callback_and_best_model(data, tmp_path):
    seen = []
    net = make_net("relu")
    h = fit(net, data, callbacks=[fn.LambdaCallback(lambda n, e, logs: seen.append(e)),
                                  fn.RunDirectory(tmp_path)])
    assert seen == [0, 1, 2]
    best = fn.load(tmp_path / "best.npz", return_meta=True)[1]["training"]
    assert best["value"] == max(h["val_accuracy"])
    assert best["epoch"] == 1 + int(np.argmax(h["val_accuracy"]))


def test_summary_lists_layers_and_counts(capsys):
    text = make_net().summary()
    assert "Dense(784, 24" in text and f"{784 * 24 + 24 + 24 * 10 + 10:,}" in text
