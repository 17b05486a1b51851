"""End-to-end training and the public Network API."""
import numpy as np
import pytest

import fastnet as fn


@pytest.fixture(scope="module")
def mnist_slice():
    (X, y), (Xt, yt) = fn.load_mnist()
    return X[:3000], y[:3000], Xt[:1000], yt[:1000]


def test_small_mnist_slice_learns(mnist_slice):
    X, y, Xt, yt = mnist_slice
    net = fn.Network([fn.Dense(784, 64, activation="relu"), fn.Dense(64, 10)])
    hist = net.fit(X, y, epochs=4, batch_size=32, optimizer=fn.SGD(0.05, momentum=0.9),
                   validation_data=(Xt, yt), seed=0, verbose=False)
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["val_accuracy"][-1] > 0.85       # chance is 0.10
    assert len(hist["seconds"]) == 4
    res = net.evaluate(Xt, yt)
    assert res["accuracy"] == pytest.approx(hist["val_accuracy"][-1])
    proba = net.predict_proba(Xt[:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert (net.predict(Xt[:5]) == proba.argmax(axis=1)).all()


def test_same_seed_same_run(mnist_slice):
    X, y, _, _ = mnist_slice

    def run():
        net = fn.Network([fn.Dense(784, 32, activation="tanh"), fn.Dense(32, 10)], seed=7)
        h = net.fit(X[:500], y[:500], epochs=2, batch_size=33, seed=7, verbose=False,
                    optimizer=fn.Adam(1e-3))
        return net.params.copy(), h["loss"]

    (p1, l1), (p2, l2) = run(), run()
    assert np.array_equal(p1, p2) and l1 == l2


def test_last_partial_batch_and_validation_split(mnist_slice):
    """250 samples, validation_split 0.2: 200 to train on in batches of 64, the last of 8.
    With a learning rate too small to move the weights, the epoch's loss and accuracy are
    the means over all 200 (the partial batch counted by its size) and the validation
    ones over the other 50: together they are the means over the 250."""
    X, y, _, _ = mnist_slice
    X, y = X[:250], y[:250]
    net = fn.Network([fn.Dense(784, 10)], seed=1)
    params = net.params.copy()
    h = net.fit(X, y, epochs=1, batch_size=64, validation_split=0.2, verbose=False, seed=1,
                optimizer=fn.SGD(1e-30))
    assert set(h) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    np.testing.assert_allclose(net.params, params, rtol=1e-6, atol=1e-25)
    every = net.evaluate(X, y)
    assert 200 * h["loss"][0] + 50 * h["val_loss"][0] == pytest.approx(250 * every["loss"],
                                                                       rel=1e-5)
    correct = round(200 * h["accuracy"][0]) + round(50 * h["val_accuracy"][0])
    assert correct == round(250 * every["accuracy"])


def test_fit_allocates_before_the_first_step(mnist_slice):
    """What the steps write (the optimizer's state, a workspace per batch size, zeroed so
    that its pages are in memory) exists before the first timed step: no epoch's
    seconds include faulting in fresh memory."""
    X, y, _, _ = mnist_slice
    net = fn.Network([fn.Dense(784, 32), fn.Dense(32, 10)], seed=1)
    opt = fn.SGD(0.1, momentum=0.9)
    seen = {}

    class Begin(fn.callbacks.Callback):
        def on_train_begin(self, state):
            seen["sizes"] = sorted(B for _, B in net.workspaces)
            seen["zeroed"] = all(not np.any(ws.u[0]) for ws in net.workspaces.values())
            seen["state"] = {k: (v.shape, np.count_nonzero(v)) for k, v in opt.state.items()}

    net.fit(X[:150], y[:150], epochs=1, batch_size=64, optimizer=opt, verbose=False,
            callbacks=[Begin()])
    assert seen == {"sizes": [22, 64], "zeroed": True,
                    "state": {"velocity": (net.params.shape, 0)}}


def test_float_inputs_match_scaled_uint8(mnist_slice):
    X, _, _, _ = mnist_slice
    net = fn.Network([fn.Dense(784, 16, activation="relu"), fn.Dense(16, 10)])
    np.testing.assert_allclose(net.predict_proba(X[:20]),
                               net.predict_proba(X[:20].astype(np.float32) / 255), atol=1e-6)


def test_one_hot_targets_equal_integer_labels(rng):
    X = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)

    def run(targets):
        net = fn.Network([fn.Dense(6, 3)], seed=2)
        net.fit(X, targets, epochs=2, batch_size=8, verbose=False)
        return net.params

    np.testing.assert_array_equal(run(y), run(np.eye(3)[y]))
