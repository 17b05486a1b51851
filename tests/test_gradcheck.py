"""Central finite differences of the whole network's loss vs the backward pass (float64)."""
import numpy as np
import pytest

from fastnet import Dense, Network

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


@pytest.mark.parametrize("act", ["identity", "sigmoid", "tanh", "leaky_relu", "prelu", "swish",
                                 "relu"])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy",
                                  "sum_of_squares"])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_every_activation_loss_depth(rng, act, loss, depth, bias):
    sizes = [5, 6, 4, 3][:depth] + [3]
    layers = [Dense(sizes[i], sizes[i + 1], activation=act, bias=bias)
              for i in range(depth - 1)]
    out_act = act if loss == "sum_of_squares" else "identity"  # CE losses fuse their own
    layers.append(Dense(sizes[depth - 1], sizes[depth], activation=out_act, bias=bias))
    net = Network(layers, loss=loss, dtype=np.float64, seed=3)
    for layer in layers:  # nonzero biases keep pre-activations off the ReLU kink at u = 0
        layer.b[...] = rng.uniform(0.05, 0.2, layer.b.shape) if bias else 0
    X, y = make_data(rng, 5, sizes[0], sizes[depth], loss)
    check(net, X, y, tol=1e-5)
