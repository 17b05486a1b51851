"""ONNX export (run by ONNX Runtime) and the torch.nn.Sequential exporter give fastnet's
predictions for every activation; uint8 input scaling is part of the graph."""
import numpy as np
import pytest

from fastnet import Dense, Network, export_onnx, to_torch
from fastnet.catalogue import HIDDEN_ACTIVATIONS

pytestmark = pytest.mark.usefixtures("one_thread")

LOSSES = {"softmax_cross_entropy": 3, "binary_cross_entropy": 2, "sum_of_squares": 2}


def _net(act, loss="softmax_cross_entropy"):
    net = Network([Dense(5, 7, activation=act), Dense(7, 6, activation=act),
                   Dense(6, LOSSES[loss])], loss=loss, seed=3)
    if act == "prelu":   # learned slopes differ from the initial ones
        net.layers[0].a[...] = np.linspace(0.05, 0.5, 7)
    return net


def _session(path):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_onnx_runtime_equals_fastnet_for_every_activation(act, tmp_path):
    pytest.importorskip("onnx")
    net = _net(act)
    X = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    path = export_onnx(net, tmp_path / "m.onnx")
    out = _session(path).run(None, {"input": X})[0]
    np.testing.assert_allclose(out, net.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "sum_of_squares"])
def test_onnx_output_activation_follows_the_loss(loss, tmp_path):
    pytest.importorskip("onnx")
    net = _net("swish", loss)
    X = np.random.default_rng(1).normal(size=(9, 5)).astype(np.float32)
    out = _session(export_onnx(net, tmp_path / "m.onnx")).run(None, {"input": X})[0]
    np.testing.assert_allclose(out, net.predict_proba(X), atol=1e-5)


def test_onnx_uint8_input_scaling(tmp_path):
    pytest.importorskip("onnx")
    net = _net("relu")
    X = np.random.default_rng(2).integers(0, 256, size=(10, 5), dtype=np.uint8)
    path = export_onnx(net, tmp_path / "m.onnx", input_dtype="uint8")
    out = _session(path).run(None, {"input": X})[0]
    np.testing.assert_allclose(out, net.predict_proba(X), atol=1e-5)
    with pytest.raises(ValueError, match="input_dtype must be one of"):
        export_onnx(net, tmp_path / "x.onnx", input_dtype="int8")


@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_torch_sequential_equals_fastnet(act):
    torch = pytest.importorskip("torch")
    net = _net(act)
    X = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    model = to_torch(net)
    with torch.no_grad():
        out = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, net.predict_proba(X), atol=1e-5)
    assert model.state_dict()["0.weight"].shape == (7, 5)


def test_cli_export(tmp_path, capsys):
    pytest.importorskip("onnx")
    from fastnet.cli import main
    net = _net("tanh")
    model = net.save(tmp_path / "m.npz")
    assert main(["export", str(model), str(tmp_path / "m.onnx")]) == 0
    X = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    out = _session(tmp_path / "m.onnx").run(None, {"input": X})[0]
    np.testing.assert_allclose(out, net.predict_proba(X), atol=1e-5)
    assert "m.onnx" in capsys.readouterr().out


@pytest.mark.parametrize("input_dtype, mode, sparse", [
    ("float32", "standard", False), ("uint8", "auto", True), ("uint8", "standard", True)])
def test_the_exports_scale_their_inputs_as_predict_does(tmp_path, input_dtype, mode, sparse):
    """A model trained on its own data carries a fitted scaler (``fastnet train``'s default
    for features, and light-background pixels under 'auto'): both graphs apply it."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from fastnet.scaling import Scaler
    rng = np.random.default_rng(4)
    if input_dtype == "uint8":   # light background: 'auto' centres it
        X = rng.integers(150, 256, size=(30, 5), dtype=np.uint8)
    else:
        X = rng.normal(50, 20, size=(30, 5)).astype(np.float32)
    net = Network([Dense(5, 7, activation="tanh"), Dense(7, 3)], seed=3, sparse_inputs=sparse)
    net.scaler = Scaler(mode).fit(X)
    expected = net.predict_proba(X)
    out = _session(export_onnx(net, tmp_path / "m.onnx", input_dtype=input_dtype)).run(
        None, {"input": X})[0]
    np.testing.assert_allclose(out, expected, atol=1e-5)
    if input_dtype == "float32":
        with torch.no_grad():
            out = to_torch(net)(torch.from_numpy(X)).numpy()
        np.testing.assert_allclose(out, expected, atol=1e-5)


def test_to_torch_copies_the_scaler():
    torch = pytest.importorskip("torch")
    from fastnet.scaling import Scaler
    X = np.random.default_rng(5).normal(3, 2, size=(20, 5)).astype(np.float32)
    net = Network([Dense(5, 4), Dense(4, 3)], seed=1)
    net.scaler = Scaler("standard").fit(X)
    shift = net.scaler.shift.copy()
    model = to_torch(net)
    with torch.no_grad():
        model[0].shift += 1
    np.testing.assert_array_equal(net.scaler.shift, shift)
