"""Export a Network to other runtimes: an ONNX graph (``export_onnx``, needs the optional
``onnx``: ``pip install "fastnet[export]"``) and a ``torch.nn.Sequential`` (``to_torch``,
needs PyTorch).

The ONNX graph computes ``predict_proba``: per layer ``Gemm(x, W, b, transB=1)`` then the
activation as ONNX ops (Sigmoid, Tanh, Relu, LeakyRelu with the layer's slope, PRelu with
the learned slopes, RReLU as LeakyRelu with its inference slope (lower + upper) / 2,
swish as x · Sigmoid(x), Softmax on axis 1); the output activation is the one the loss
implies (softmax / sigmoid for the cross-entropies). Before the first layer the graph
scales its input as ``predict_proba`` does (``inputs.input_scaling``): a fitted scaler's
(x - shift) · factor per feature (Sub, Mul), or with ``input_dtype="uint8"`` raw 0-255
pixels Cast then Mul by 1/255. ``to_torch`` starts with the same scaling of float inputs.
Dropout does nothing at inference and is not exported.
"""
import numpy as np

from .inputs import input_scaling
from .io import atomic_write
from .kernels import activations as A

OPSET = 17
INPUT_DTYPES = ("float32", "uint8")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs onnx: pip install "fastnet[export]"') from None
    return onnx


def onnx_model(net, input_dtype="float32"):
    """The ``onnx.ModelProto`` of ``net`` (input "input" (N, n_inputs), output "output")."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper
    if input_dtype not in INPUT_DTYPES:
        raise ValueError(f"input_dtype must be one of {INPUT_DTYPES}, got {input_dtype!r}")
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    x = "input"
    if input_dtype == "uint8":
        nodes.append(helper.make_node("Cast", [x], ["input_float"], to=TensorProto.FLOAT))
        x = "input_float"
    shift, factor = _scaling(net, np.dtype(input_dtype))
    if shift is not None:
        nodes.append(helper.make_node("Sub", [x, const("input_shift", shift)], ["input_shifted"]))
        x = "input_shifted"
    if factor is not None:
        nodes.append(helper.make_node("Mul", [x, const("input_scale", factor)], ["input_scaled"]))
        x = "input_scaled"
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        u = f"u{i}"
        nodes.append(helper.make_node("Gemm", [x, const(f"W{i}", layer.W),
                                               const(f"b{i}", layer.b)], [u], transB=1))
        act = net.output_act if i == last else layer.act
        x = _activation(helper, nodes, const, act, layer, u, f"z{i}")
    nodes.append(helper.make_node("Identity", [x], ["output"]))
    in_type = TensorProto.UINT8 if input_dtype == "uint8" else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "fastnet",
        [helper.make_tensor_value_info("input", in_type, ["N", net.n_inputs])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", net.n_outputs])],
        inits)
    model = helper.make_model(graph, producer_name="fastnet",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = min(model.ir_version, 9)   # readable by older ONNX Runtimes too
    onnx.checker.check_model(model)
    return model


def _scaling(net, dtype):
    """(shift, factor) that ``predict_proba`` applies to inputs of ``dtype`` (the rule of
    ``inputs.input_scaling``), float32; None for a shift of 0 or a factor of 1."""
    scale = input_scaling(net, np.zeros((1, net.n_inputs), dtype))
    if isinstance(scale, tuple):
        shift, factor = (np.array(v, np.float32) for v in scale)   # copies: not the scaler's
        return (shift if shift.any() else None), factor
    return None, (np.float32(scale) if scale != 1 else None)


def _activation(helper, nodes, const, act, layer, u, z):
    """Append the nodes of activation ``act`` from ``u`` to ``z``; returns the output name."""
    if act == A.IDENTITY:
        return u
    if act == A.SWISH:
        nodes.append(helper.make_node("Sigmoid", [u], [z + "_sigmoid"]))
        nodes.append(helper.make_node("Mul", [u, z + "_sigmoid"], [z]))
    elif act == A.PRELU:
        nodes.append(helper.make_node("PRelu", [u, const(z + "_slope", layer.a.reshape(-1))],
                                      [z]))
    elif act in (A.LEAKY_RELU, A.RRELU):
        nodes.append(helper.make_node("LeakyRelu", [u], [z],
                                      alpha=float(layer.inference_slope())))
    else:
        op = {A.SIGMOID: "Sigmoid", A.TANH: "Tanh", A.RELU: "Relu", A.SOFTMAX: "Softmax"}[act]
        kw = {"axis": 1} if act == A.SOFTMAX else {}
        nodes.append(helper.make_node(op, [u], [z], **kw))
    return z


def export_onnx(net, path, input_dtype="float32"):
    """Write ``net`` as an ONNX model to ``path`` (see the module docstring); returns path."""
    model = onnx_model(net, input_dtype)
    with atomic_write(path) as f:
        f.write(model.SerializeToString())
    return path


def to_torch(net):
    """A ``torch.nn.Sequential`` of Linear and activation modules computing
    ``predict_proba`` of float32 inputs (eval mode); ``.state_dict()`` gives its weights.
    A network with a fitted scaler gets a first module that scales the inputs (buffers
    ``0.shift``, ``0.factor``), so its Linear layers start at index 1."""
    try:
        import torch
    except ImportError:
        raise ImportError("to_torch needs PyTorch: pip install torch") from None
    nn = torch.nn

    class Scale(nn.Module):
        """(x - shift) · factor: the input scaling of ``predict_proba`` on float inputs."""

        def __init__(self, shift, factor):
            super().__init__()
            zero = np.zeros(net.n_inputs, np.float32)
            self.register_buffer("shift", torch.from_numpy(zero if shift is None else shift))
            self.register_buffer("factor", torch.as_tensor(factor))

        def forward(self, x):
            return (x - self.shift) * self.factor

    shift, factor = _scaling(net, np.dtype(np.float32))
    modules = [] if shift is None and factor is None else [
        Scale(shift, np.float32(1) if factor is None else factor)]
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        linear = nn.Linear(layer.in_features, layer.out_features)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.asarray(layer.W, np.float32)))
            linear.bias.copy_(torch.from_numpy(np.asarray(layer.b, np.float32)))
        modules.append(linear)
        act = net.output_act if i == last else layer.act
        if act == A.PRELU:
            prelu = nn.PReLU(layer.out_features)
            with torch.no_grad():
                prelu.weight.copy_(torch.from_numpy(np.asarray(layer.a, np.float32).ravel()))
            modules.append(prelu)
        elif act == A.LEAKY_RELU:
            modules.append(nn.LeakyReLU(layer.negative_slope))
        elif act == A.RRELU:
            modules.append(nn.RReLU(*layer.rrelu_range))
        elif act != A.IDENTITY:
            modules.append({A.SIGMOID: nn.Sigmoid, A.TANH: nn.Tanh, A.RELU: nn.ReLU,
                            A.SWISH: nn.SiLU, A.SOFTMAX: lambda: nn.Softmax(dim=1)}[act]())
    return nn.Sequential(*modules).eval()
