"""The catalogue against textbook definitions: activations, RReLU, initialisers, bias=False,
and regression / binary / multi-label targets trained through the same ``fit``."""
import numpy as np
import pytest

from conftest import assert_close
from fastnet import SGD, Adam, Dense, Network, passes
from fastnet.kernels import activations as A
from fastnet.kernels import reference as ref

F64 = np.float64


def identity_net(act, K=6, **kw):
    """One layer with W = I, b = 0, so the output is f(x) itself."""
    net = Network([Dense(K, K, activation=act, **kw)], loss="sum_of_squares", dtype=F64)
    net.layers[0].W[...] = np.eye(K)
    return net


@pytest.mark.parametrize("act,a", [("identity", 0.0), ("sigmoid", 0.0), ("tanh", 0.0),
                                   ("relu", 0.0), ("leaky_relu", 0.01), ("prelu", 0.25),
                                   ("rrelu", (1 / 8 + 1 / 3) / 2), ("swish", 0.0)])
def test_activation_forward_is_the_textbook_function(rng, act, a):
    X = rng.uniform(-6, 6, (50, 6))
    assert_close(identity_net(act).predict(X), ref.activate_ref(X, A.NAMES[act], a),
                 rtol=1e-12, atol=1e-13, what=act)


def test_softmax_output_is_normalised_exponential(rng):
    net = Network([Dense(4, 4)], dtype=F64)
    net.layers[0].W[...] = np.eye(4)
    X = rng.uniform(-30, 30, (20, 4))
    e = np.exp(X - X.max(axis=1, keepdims=True))
    assert_close(net.predict_proba(X), e / e.sum(axis=1, keepdims=True), rtol=1e-12, atol=1e-15)


def test_relu_derivative_is_one_at_zero():
    """u = 0 exactly (W = 0, b = 0): the δ rule uses f'(0) = 1, so ∂L/∂b = −d / B."""
    net = identity_net("relu", K=3)
    net.layers[0].W[...] = 0
    d = np.array([[1.0, 2.0, -3.0]])
    net.loss_and_gradient(np.ones((1, 3)), d)
    assert_close(net.layers[0].db, -d[0], rtol=0, atol=0, what="relu'(0)")


def test_custom_leaky_slope_and_prelu_initial_slope():
    net = identity_net("leaky_relu", K=2, negative_slope=0.2)
    assert_close(net.predict(np.array([[-1.0, 2.0]])), [[-0.2, 2.0]], rtol=0, atol=1e-15)
    net = identity_net("prelu", K=2)
    assert_close(net.layers[0].a, [[0.25, 0.25]], rtol=0, atol=0)
    assert net.layers[0].n_params == 2 * 2 + 2 + 2  # W, b and one slope per unit


# ------------------------------------------------------------ RReLU
def test_rrelu_inference_uses_the_mean_slope(rng):
    lo, hi = 0.1, 0.4
    X = rng.standard_normal((40, 5))
    rr = Network([Dense(5, 8, activation="rrelu", rrelu_range=(lo, hi)), Dense(8, 2)],
                 loss="sum_of_squares", seed=4, dtype=F64)
    lk = Network([Dense(5, 8, activation="leaky_relu", negative_slope=(lo + hi) / 2),
                  Dense(8, 2)], loss="sum_of_squares", seed=4, dtype=F64)
    assert_close(rr.params, lk.params, rtol=0, atol=0, what="same init")
    assert_close(rr.predict(X), lk.predict(X), rtol=1e-14, atol=1e-15, what="predict")
    assert rr.loss_and_gradient(X, X[:, :2]) == lk.loss_and_gradient(X, X[:, :2])


def training_slopes(net, X, seed):
    ws = passes.workspace(net, X.shape[0])
    ws.x[...] = X
    passes.forward(net, ws, training=True, rng=np.random.default_rng(seed))
    return [s.copy() for s in ws.slope], ws.z[-1].copy()


def test_rrelu_training_slopes_lie_in_range_and_are_seeded(rng):
    lo, hi = 0.125, 1 / 3
    net = Network([Dense(6, 50, activation="rrelu"), Dense(50, 40, activation="rrelu"),
                   Dense(40, 1)], loss="sum_of_squares", seed=0, dtype=F64)
    X = rng.standard_normal((64, 6))
    slopes, out = training_slopes(net, X, seed=7)
    for s in slopes[:2]:
        assert s.shape == (64, s.shape[1])  # one slope per element of the batch
        assert lo <= s.min() and s.max() <= hi
        assert abs(s.mean() - (lo + hi) / 2) < 0.01  # uniform on [l, u]
        assert np.unique(s).size > 0.99 * s.size
    again, out2 = training_slopes(net, X, seed=7)
    other, out3 = training_slopes(net, X, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(slopes, again))
    assert np.array_equal(out, out2) and not np.array_equal(out, out3)
    # the training output differs from the inference output (mean slope)
    assert not np.allclose(out, net.predict(X))


def test_rrelu_training_with_a_seed_is_reproducible(rng):
    X = rng.standard_normal((100, 3))
    y = np.sin(X.sum(axis=1, keepdims=True))

    def train(seed):
        net = Network([Dense(3, 16, activation="rrelu"), Dense(16, 1)], loss="sum_of_squares",
                      seed=1)
        hist = net.fit(X, y, epochs=3, batch_size=10, optimizer=SGD(0.05, momentum=0.9),
                       seed=seed, shuffle=False, verbose=False)
        return net.params.copy(), hist["loss"]

    p1, l1 = train(3)
    p2, l2 = train(3)
    p3, _ = train(4)  # no shuffling: only the drawn slopes depend on the fit seed
    assert np.array_equal(p1, p2) and l1 == l2
    assert not np.array_equal(p1, p3)


# ------------------------------------------------------------ initialisers
@pytest.mark.parametrize("act,scheme", [("relu", "he"), ("leaky_relu", "he"), ("prelu", "he"),
                                        ("rrelu", "he"), ("swish", "he"), ("tanh", "xavier"),
                                        ("sigmoid", "xavier"), ("identity", "xavier")])
def test_initialiser_chosen_by_activation(act, scheme):
    fan_in, fan_out = 400, 300
    layer = Dense(fan_in, fan_out, activation=act)
    assert layer.init == scheme
    net = Network([layer, Dense(fan_out, 1)], loss="sum_of_squares", seed=5)
    W = layer.W.astype(F64)
    want = np.sqrt(2 / fan_in) if scheme == "he" else np.sqrt(2 / (fan_in + fan_out))
    assert abs(W.std() / want - 1) < 0.01  # 120 000 draws: std error of the std ≈ 0.2 %
    assert abs(W.mean()) < 0.01 * want
    assert np.all(layer.b == 0)


def test_initialiser_override_and_seed():
    def weights(seed, init=None):
        return Network([Dense(50, 40, activation="relu", init=init), Dense(40, 3)],
                       seed=seed).params.copy()

    assert np.array_equal(weights(1), weights(1))
    assert not np.array_equal(weights(1), weights(2))
    ratio = weights(1, "xavier")[:2000].std() / weights(1, "he")[:2000].std()
    assert abs(ratio - np.sqrt(50 / 90)) < 0.03
    net = Network([Dense(5, 4, activation="tanh"), Dense(4, 1)], loss="sum_of_squares", seed=0)
    first = net.params.copy()
    net.params[...] = 0
    net.init_weights(0)
    assert np.array_equal(net.params, first)
    with pytest.raises(ValueError, match="init"):
        Dense(3, 3, init="lecun")


# ------------------------------------------------------------ bias=False
def test_no_bias_layers_keep_zero_bias_and_have_fewer_params(rng):
    net = Network([Dense(4, 8, activation="tanh", bias=False), Dense(8, 2, bias=False)],
                  loss="sum_of_squares", seed=0)
    assert net.params.size == 4 * 8 + 8 * 2
    X = rng.standard_normal((32, 4))
    net.fit(X, X[:, :2] + 1, epochs=2, batch_size=8, verbose=False)
    assert all(np.all(layer.b == 0) for layer in net.layers)
    # no bias: f(0) = 0 through tanh and identity
    assert np.all(net.predict(np.zeros((1, 4))) == 0)


# ------------------------------------------------------------ three kinds of task
def test_multi_output_regression_is_solved(rng):
    """Two float outputs of a smooth function: the loss falls by orders of magnitude."""
    X = rng.uniform(-1, 1, (256, 2))
    Y = np.stack([np.sin(2 * X[:, 0]) + X[:, 1], X[:, 0] * X[:, 1]], axis=1)
    net = Network([Dense(2, 32, activation="tanh"), Dense(32, 2)], loss="sum_of_squares",
                  seed=0)
    hist = net.fit(X, Y, epochs=150, batch_size=32, optimizer=Adam(0.01), verbose=False)
    assert "accuracy" not in hist
    assert hist["loss"][-1] < hist["loss"][0] / 50
    pred = net.predict(X)
    assert pred.shape == (256, 2) and pred.dtype == np.float32
    assert np.sqrt(np.mean((pred - Y) ** 2)) < 0.05
    assert abs(net.evaluate(X, Y)["loss"] - 0.5 * np.mean(np.sum((pred - Y) ** 2, 1))) < 1e-5


def test_linear_regression_recovers_the_coefficients(rng):
    X = rng.standard_normal((200, 3))
    A = np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]])
    Y = X @ A + np.array([0.3, -0.7])
    net = Network([Dense(3, 2)], loss="sum_of_squares", seed=0)
    net.fit(X, Y, epochs=60, batch_size=20, optimizer=SGD(0.05, momentum=0.9), verbose=False)
    assert_close(net.layers[0].W.T, A, rtol=0, atol=1e-3, what="W")
    assert_close(net.layers[0].b, [0.3, -0.7], rtol=0, atol=1e-3, what="b")


def test_binary_targets_are_solved(rng):
    """XOR-like quadrants: not linearly separable, so the hidden layer is needed."""
    X = rng.uniform(-1, 1, (400, 2))
    X = X[np.abs(X).min(axis=1) > 0.1]  # a margin around the axes
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)
    net = Network([Dense(2, 16, activation="relu"), Dense(16, 1, activation="sigmoid")],
                  loss="binary_cross_entropy", seed=0)
    hist = net.fit(X, y, epochs=200, batch_size=32, optimizer=Adam(0.01), verbose=False)
    assert hist["loss"][-1] < hist["loss"][0] / 5
    assert hist["accuracy"][-1] == 1.0
    labels = net.predict(X)
    assert labels.shape == (len(X),) and set(np.unique(labels)) <= {0, 1}
    assert np.array_equal(labels, y)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 1) and 0 <= proba.min() and proba.max() <= 1
    assert net.evaluate(X, y)["accuracy"] == 1.0


def test_multi_label_binary_targets(rng):
    X = rng.standard_normal((300, 3))
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0], axis=1).astype(float)
    net = Network([Dense(3, 2)], loss="binary_cross_entropy", seed=0)
    hist = net.fit(X, Y, epochs=40, batch_size=30, optimizer=Adam(0.05), verbose=False)
    assert hist["loss"][-1] < hist["loss"][0] / 3
    assert net.predict(X).shape == (300, 2)
    assert net.evaluate(X, Y)["accuracy"] > 0.97
    with pytest.raises(ValueError, match="binary"):
        net.fit(X, Y * 2, epochs=1, verbose=False)


@pytest.mark.parametrize("depth", [1, 2, 4, 6])
def test_any_depth_and_width(rng, depth):
    widths = [3, 17, 5, 64, 9, 2, 11][:depth] + [4]
    layers = [Dense(widths[i], widths[i + 1], activation="swish") for i in range(depth - 1)]
    layers.append(Dense(widths[depth - 1], 4))
    net = Network(layers, seed=0)
    X = rng.standard_normal((80, 3))
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    hist = net.fit(X, y, epochs=30, batch_size=16, optimizer=Adam(0.01), verbose=False)
    assert hist["loss"][-1] < hist["loss"][0]
    assert net.predict(X).shape == (80,)


def test_single_output_regression_takes_1d_targets(rng):
    X = rng.uniform(-1, 1, (100, 1))
    y = 3 * X[:, 0] - 1  # (n,) float targets
    net = Network([Dense(1, 1)], loss="sum_of_squares", seed=0)
    net.fit(X, y, epochs=100, batch_size=10, optimizer=SGD(0.1, momentum=0.5), verbose=False)
    assert net.predict(X).shape == (100, 1)
    assert_close(net.predict(X)[:, 0], y, rtol=0, atol=1e-3, what="y = 3x - 1")
