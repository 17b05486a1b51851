"""Central finite differences of the whole network's loss vs the backward pass (float64)."""
import numpy as np
import pytest

from fastnet import Dense, Network, passes
from fastnet.inputs import encode_targets

H = 1e-6


def numeric_gradient(net, X, y):
    grad = np.empty_like(net.params)
    for i in range(net.params.size):
        old = net.params[i]
        net.params[i] = old + H
        plus = net.loss_and_gradient(X, y)
        net.params[i] = old - H
        minus = net.loss_and_gradient(X, y)
        net.params[i] = old
        grad[i] = (plus - minus) / (2 * H)
    return grad


def check(net, X, y, tol=1e-6):
    net.loss_and_gradient(X, y)
    analytic = net.grads.copy()
    numeric = numeric_gradient(net, X, y)
    err = np.abs(analytic - numeric) / np.maximum(1e-3, np.abs(analytic) + np.abs(numeric))
    assert err.max() < tol, f"max relative error {err.max():.3g} at parameter {err.argmax()}"


def make_data(rng, n, n_in, n_out, loss):
    X = rng.standard_normal((n, n_in))
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, n_out, n)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (n, n_out)).astype(float)
    else:
        y = rng.standard_normal((n, n_out))
    return X, y


def test_mnist_shaped_network_gradient(rng):
    net = Network([Dense(20, 16, activation="relu"), Dense(16, 10)], dtype=np.float64, seed=1)
    X, y = make_data(rng, 7, 20, 10, "softmax_cross_entropy")
    check(net, X, y)


@pytest.mark.parametrize("act", ["identity", "sigmoid", "tanh", "leaky_relu", "prelu", "rrelu",
                                 "swish", "relu"])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy",
                                  "sum_of_squares"])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sparse_inputs", [True, False])   # the first W's two layouts
def test_every_activation_loss_depth(rng, act, loss, depth, bias, sparse_inputs):
    sizes = [5, 6, 4, 3][:depth] + [3]
    layers = [Dense(sizes[i], sizes[i + 1], activation=act, bias=bias)
              for i in range(depth - 1)]
    out_act = act if loss == "sum_of_squares" else "identity"  # CE losses fuse their own
    layers.append(Dense(sizes[depth - 1], sizes[depth], activation=out_act, bias=bias))
    net = Network(layers, loss=loss, dtype=np.float64, seed=3, sparse_inputs=sparse_inputs)
    for layer in layers:  # nonzero biases keep pre-activations off the ReLU kink at u = 0
        layer.b[...] = rng.uniform(0.05, 0.2, layer.b.shape) if bias else 0
    X, y = make_data(rng, 5, sizes[0], sizes[depth], loss)
    check(net, X, y, tol=1e-5)


def test_prelu_slope_gradient(rng):
    """∂L/∂a_c = Σ_b ∂L/∂z_bc · min(u_bc, 0), for PReLU slopes in hidden and output layers."""
    net = Network([Dense(4, 6, activation="prelu"), Dense(6, 5, activation="prelu"),
                   Dense(5, 3, activation="prelu")], loss="sum_of_squares", dtype=np.float64,
                  seed=2)
    for layer in net.layers:
        layer.a[...] = rng.uniform(0.1, 0.5, layer.a.shape)
    X, y = make_data(rng, 9, 4, 3, "sum_of_squares")
    net.loss_and_gradient(X, y)
    analytic = [layer.da[0].copy() for layer in net.layers]  # views: copy before perturbing
    numeric = numeric_gradient(net, X, y)
    start = 0
    for layer, da in zip(net.layers, analytic):
        start += layer.n_params
        slope_numeric = numeric[start - layer.out_features:start]  # W, b, then the slopes
        assert np.abs(da).min() > 0, "every unit saw some u < 0"
        np.testing.assert_allclose(da, slope_numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy",
                                  "sum_of_squares"])
def test_rrelu_training_mode_gradient(rng, loss):
    """Training mode draws one slope per element; with the draws fixed (same seed for
    every evaluation) the backward pass is the gradient of that piecewise-linear net."""
    out_act = "rrelu" if loss == "sum_of_squares" else "identity"
    net = Network([Dense(4, 6, activation="rrelu", rrelu_range=(0.1, 0.6)),
                   Dense(6, 5, activation="rrelu", rrelu_range=(0.1, 0.6)),
                   Dense(5, 3, activation=out_act, rrelu_range=(0.1, 0.6))],
                  loss=loss, dtype=np.float64, seed=2)
    for layer in net.layers:
        layer.b[...] = rng.uniform(0.05, 0.2, layer.b.shape)
    X, y = make_data(rng, 6, 4, 3, loss)
    T = encode_targets(net, y, len(X))
    ws = passes.workspace(net, len(X))
    ws.x[...], ws.t[...] = X, T

    def loss_and_grad():
        passes.forward(net, ws, training=True, rng=np.random.default_rng(11))
        passes.loss(net, ws)
        passes.backward(net, ws)
        return ws.losses.sum() / len(X)

    loss_and_grad()
    assert ws.slope[0].shape == (6, 6) and np.unique(ws.slope[0]).size == 36
    analytic = net.grads.copy()
    numeric = np.empty_like(analytic)
    for i in range(net.params.size):
        old = net.params[i]
        net.params[i] = old + H
        plus = loss_and_grad()
        net.params[i] = old - H
        minus = loss_and_grad()
        net.params[i] = old
        numeric[i] = (plus - minus) / (2 * H)
    err = np.abs(analytic - numeric) / np.maximum(1e-3, np.abs(analytic) + np.abs(numeric))
    assert err.max() < 1e-6, f"max relative error {err.max():.3g} at parameter {err.argmax()}"
    # the fixed draws differ from the inference (mean-slope) gradient
    net.loss_and_gradient(X, y)
    assert not np.allclose(net.grads, analytic)


@pytest.mark.parametrize("loss,out_act", [("softmax_cross_entropy", "softmax"),
                                          ("binary_cross_entropy", "sigmoid"),
                                          ("sum_of_squares", "sigmoid"),
                                          ("sum_of_squares", "tanh")])
def test_named_output_activation(rng, loss, out_act):
    """The matching output written out (softmax / sigmoid) is the same fused δ = y − d;
    sigmoid and tanh outputs under the sum of squares use δ = (y − d) f'(u)."""
    net = Network([Dense(4, 5, activation="swish"), Dense(5, 3, activation=out_act)], loss=loss,
                  dtype=np.float64, seed=5)
    X, y = make_data(rng, 6, 4, 3, loss)
    check(net, X, y)
