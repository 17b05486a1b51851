"""fastnet.explain: one step in numbers equals fastnet's kernels and finite differences."""
import numpy as np
import pytest

import fastnet as fn
from fastnet.explain import explain, fmt
from fastnet.kernels.losses import NAMES as LOSSES
from fastnet.layers import ACTIVATIONS

HIDDEN = [a for a in ACTIVATIONS if a != "softmax"]
# (loss, output activation): every pairing Network accepts
OUTPUTS = [("softmax_cross_entropy", "softmax"), ("softmax_cross_entropy", "identity"),
           ("binary_cross_entropy", "sigmoid"), ("binary_cross_entropy", "identity")] + \
          [("sum_of_squares", a) for a in HIDDEN]


def flat(text):
    return " ".join(text.split())


def small_net(hidden, loss, output, seed=0):
    net = fn.Network([fn.Dense(4, 3, hidden), fn.Dense(3, 3, hidden), fn.Dense(3, 2, output)],
                     loss=loss, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    for layer in net.layers:   # non-zero biases and PReLU slopes, so that all of it shows
        layer.b[...] = 0.3 * rng.standard_normal(layer.b.shape)
        if layer.activation == "prelu":
            layer.a[...] = 0.1 + 0.3 * rng.random(layer.a.shape)
    return net


def sample(loss, seed=0):
    rng = np.random.default_rng(seed + 2)
    x = rng.standard_normal(4)
    d = {"softmax_cross_entropy": 1, "binary_cross_entropy": np.array([0.0, 1.0]),
         "sum_of_squares": np.array([0.5, -0.25])}[loss]
    return x, d


def test_catalogue_is_covered():
    assert set(HIDDEN) | {"softmax"} == set(ACTIVATIONS)
    assert {LOSSES[loss] for loss, _ in OUTPUTS} == set(LOSSES.values())


@pytest.mark.parametrize("loss,output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradients_equal_kernels_and_finite_differences(hidden, loss, output):
    net = small_net(hidden, loss, output)
    x, d = sample(loss)
    ex = explain(net, x, d, lr=0.1)
    assert ex.loss == pytest.approx(ex.kernel_loss, rel=1e-12, abs=1e-14)
    names = {g.name for g in ex.gradients}
    assert {"∂ℓ/∂W¹", "∂ℓ/∂W²", "∂ℓ/∂W³", "∂ℓ/∂b³", "∂ℓ/∂x"} <= names
    if hidden == "prelu":
        assert {"∂ℓ/∂a¹", "∂ℓ/∂a²"} <= names
    for g in ex.gradients:
        assert g.fd_rel_error < 1e-6, (g.name, g.value, g.fd)
        if g.kernel is not None:
            np.testing.assert_allclose(g.value, g.kernel, rtol=1e-10, atol=1e-13,
                                       err_msg=g.name)
            assert flat(fmt(g.kernel)) in flat(ex.text)   # the printed numbers are the kernels'
    assert len(ex.gradients) == len(names)


def test_kernel_gradients_are_the_flat_grads():
    net = small_net("tanh", "softmax_cross_entropy", "softmax")
    ex = explain(net, *sample("softmax_cross_entropy"))
    ours = np.concatenate([g.kernel.reshape(-1) for g in ex.gradients if g.kernel is not None])
    assert np.allclose(np.sort(ours), np.sort(net.grads))


def test_update_is_sgd_and_lowers_the_loss():
    net = small_net("sigmoid", "sum_of_squares", "identity")
    before = net.params.copy()
    ex = explain(net, *sample("sum_of_squares"), lr=0.5)
    for s in ex.layers:
        np.testing.assert_allclose(s.W_new, s.W - 0.5 * s.dW)
        np.testing.assert_allclose(s.b_new, s.b - 0.5 * s.db)
    assert ex.loss_after < ex.loss
    assert np.array_equal(net.params, before)   # the network itself is not stepped


def test_delta_rule_by_hand():
    net = small_net("tanh", "softmax_cross_entropy", "softmax")
    ex = explain(net, *sample("softmax_cross_entropy"))
    s1, s2 = ex.layers[1], ex.layers[2]
    manual = (1 - s1.z ** 2) * np.array([sum(s2.W[k, j] * s2.delta[k] for k in range(2))
                                         for j in range(3)])
    np.testing.assert_allclose(s1.delta, manual)
    np.testing.assert_allclose(s2.delta, ex.y - ex.d)


def test_text_shows_every_stage():
    net = small_net("relu", "binary_cross_entropy", "sigmoid")
    text = str(explain(net, *sample("binary_cross_entropy")))
    for part in ("FORWARD", "u¹ = W¹ x + b¹", "z² = relu(u²)", "LOSS", "ℓ = -Σ_k [d_k log y_k",
                 "BACKWARD", "δ²_j = f'(u²_j) Σ_k w³_kj δ³_k", "∂ℓ/∂W¹ = δ¹ xᵀ", "∂ℓ/∂x",
                 "UPDATE", "CHECKS"):
        assert part in text, part


def test_checks_a_sample_of_large_gradients():
    net = fn.Network([fn.Dense(30, 20, "tanh"), fn.Dense(20, 10)], dtype=np.float64)
    ex = explain(net, np.linspace(-1, 1, 30), 3, max_checks=7)
    g = ex.gradient("∂ℓ/∂W¹")
    assert g.value.shape == (20, 30) and len(g.checked) == 7 and g.fd_rel_error < 1e-6


def test_float32_network_agrees_to_float32_precision():
    net = fn.Network([fn.Dense(4, 3, "swish"), fn.Dense(3, 2)], seed=3)
    ex = explain(net, np.array([0.5, -1.0, 2.0, 0.1]), 0)
    for g in ex.gradients:
        assert g.fd_rel_error < 1e-6
        if g.kernel is not None:
            np.testing.assert_allclose(g.value, g.kernel, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("x,d,match", [
    (np.zeros(5), 0, "x must hold 4 inputs"),
    (np.array([0, np.nan, 0, 0]), 0, "x must be finite"),
    (np.zeros(4), 7, r"d must be a class id in \[0, 2\)"),
    (np.zeros(4), [1.0, 0, 0], "d must hold 2 finite target values"),
    (np.zeros(4), [np.inf, 0], "d must hold 2 finite target values"),
])
def test_bad_input_names_the_argument(x, d, match):
    net = fn.Network([fn.Dense(4, 3, "tanh"), fn.Dense(3, 2)], dtype=np.float64)
    with pytest.raises(ValueError, match=match):
        explain(net, x, d)


def test_bad_arguments_name_themselves():
    net = fn.Network([fn.Dense(4, 3, "tanh"), fn.Dense(3, 1)], loss="binary_cross_entropy")
    with pytest.raises(ValueError, match="d must hold 0 or 1"):
        explain(net, np.zeros(4), [0.5])
    with pytest.raises(TypeError, match="x must be an array of numbers"):
        explain(net, ["a", "b", "c", "d"], [1])
    with pytest.raises(TypeError, match="lr"):
        explain(net, np.zeros(4), [1], lr="fast")
    with pytest.raises(ValueError, match="max_checks"):
        explain(net, np.zeros(4), [1], max_checks=0)


def test_cli_explain_default_and_errors(capsys):
    from fastnet.cli import main
    assert main(["explain", "--activation", "sigmoid", "--sample", "2"]) == 0
    out = capsys.readouterr().out
    assert "One SGD step of a 4-3-2 network (sigmoid, softmax)" in out and "CHECKS" in out
    assert main(["explain", "--sample", "99"]) == 1
    assert "--sample must be in [0, 16)" in capsys.readouterr().err


def test_computation_graph_in_both_modes_checked_by_explains_finite_differences():
    from fastnet.explain import finite_differences, relative_error
    from fastnet.graph import Node, forward_mode, reverse_mode

    def graph(a, b):
        a, b = Node("a", a), Node("b", b)
        c, d = a + b, b + 1
        return a, b, c, d, c * d
    a, b, c, d, e = graph(2.0, 1.0)
    assert (c.value, d.value, e.value) == (3, 2, 6)
    assert forward_mode(e, a)[e] == 2 and forward_mode(e, b)[e] == 5
    assert forward_mode(e, b)[c] == 1 and forward_mode(e, b)[d] == 1
    rev = reverse_mode(e)
    assert (rev[a], rev[b], rev[c], rev[d], rev[e]) == (2, 5, 2, 3, 1)
    x = np.array([2.0, 1.0])
    fd = finite_differences(lambda: graph(*x)[-1].value, x, [0, 1])
    assert relative_error(np.array([rev[a], rev[b]]), fd) < 1e-9
    assert np.array_equal(x, [2.0, 1.0])   # restored after the differences


def test_a_model_with_a_scaler_is_explained_on_its_scaled_inputs(tmp_path, capsys):
    """``fastnet explain MODEL`` feeds the first layer what predict would: the model's
    scaler applied to the raw pixels, and the kernels' loss is that of the same input."""
    from fastnet.cli import main
    from fastnet.datasets import load_mnist
    from fastnet.inputs import scaled
    from fastnet.scaling import Scaler
    (X, y), _ = load_mnist()
    net = fn.Network([fn.Dense(784, 16, activation="tanh"), fn.Dense(16, 10)], seed=0)
    net.scaler = Scaler("auto").fit(255 - X[:500])   # light background: centred
    net.fit(255 - X[:500], y[:500], epochs=1, batch_size=50, optimizer=fn.Adam(0.01),
            verbose=False)
    x = scaled(net, (255 - X[:1]))[0]
    ex = explain(net, x, y[0])
    assert ex.kernel_loss == pytest.approx(ex.loss, rel=1e-5)
    model = net.save(tmp_path / "m.npz")
    assert main(["explain", str(model)]) == 0
    text = capsys.readouterr().out
    rows = text[text.index("max |ours - kernel|"):].splitlines()[1:]
    diffs = [float(r.split()[-1]) for r in rows if r.strip().startswith("∂ℓ/∂W")]
    assert len(diffs) == 2 and max(diffs) < 1e-4, text   # the kernels saw the same input
