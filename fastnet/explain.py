"""One training step in numbers: the forward pass, the loss, the δ rule, the gradients and
the SGD update of a network on one sample, each gradient checked by central finite
differences and against fastnet's own kernels.

The computation is a small NumPy re-implementation written for reading, one sample x:

    forward, layer l = 1..L     u^l = W^l z^{l-1} + b^l,   z^l = f(u^l),   z^0 = x
    loss                        ℓ(y, d) with y = z^L the output and d the target
    output δ                    δ^L = ∂ℓ/∂u^L = y - d  (softmax or sigmoid with its
                                cross-entropy; (y - d) ⊙ f'(u^L) for the sum of squares)
    δ rule downwards            δ^{l-1}_j = f'(u^{l-1}_j) Σ_k w^l_kj δ^l_k
    gradients                   ∂ℓ/∂W^l = δ^l (z^{l-1})ᵀ,  ∂ℓ/∂b^l = δ^l,  ∂ℓ/∂x = (W^1)ᵀ δ^1
                                (PReLU slopes: ∂ℓ/∂a_k = ∂ℓ/∂z_k · min(u_k, 0))
    SGD update                  W ← W - η ∂ℓ/∂W

``explain(net, x, d)`` returns an ``Explanation`` holding every array; ``str()`` of it (or
``.text``) prints the step as equations with numbers. The functions ``activate``,
``derivative``, ``loss_and_delta`` and ``forward`` are the small pieces it is built from.
"""
from dataclasses import dataclass, field

import numpy as np

from . import checks
from . import passes as _passes
from .inputs import encode_targets
from .kernels import activations as A
from .kernels import losses as L
from .kernels.reference import activate_ref, batch_loss_ref, derivative_ref, sigmoid_ref
from .layers import ACTIVATIONS, Dense
from .network import Network

LOSS_NAMES = tuple(L.NAMES)
FD_STEP = 1e-6  # central differences in float64: error ~ h² f''' + ε/h ≈ 1e-10
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
sigmoid = sigmoid_ref   # σ(u) = 1 / (1 + e^-u), never overflowing


# ---------------------------------------------------------------- the pieces
# The activations, their derivatives and the losses are kernels.reference's (one NumPy
# definition of each), called by name on one sample.
def activate(name, u, slope=0.0):
    """z = f(u) along the last axis; ``slope`` is the negative slope of the ReLU family."""
    if name not in A.NAMES:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    u = np.asarray(u, np.float64)
    return activate_ref(np.atleast_2d(u), A.NAMES[name], slope).reshape(u.shape)


def derivative(name, u, z, slope=0.0):
    """f'(u) element by element (z = f(u) is not needed: kept for the call's symmetry;
    softmax has a Jacobian, not an f')."""
    if name not in A.NAMES or name == "softmax":
        raise ValueError(f"derivative needs an element-wise activation of {ACTIVATIONS[:-1]}, "
                         f"got {name!r}")
    return derivative_ref(u, A.NAMES[name], slope)


def loss_and_delta(loss, u, d, output, slope=0.0):
    """(ℓ, δ = ∂ℓ/∂u) of one sample: output pre-activation u (y = f(u) with f the
    ``output`` activation), target d (``batch_loss_ref`` on a batch of one).

    The cross-entropies are computed from the logits u (as fastnet's kernels do):
        softmax CE  ℓ = -Σ_k d_k log y_k = log Σ_k e^{u_k} Σ_k d_k - Σ_k d_k u_k
        BCE         ℓ = -Σ_k [d_k log y_k + (1 - d_k) log(1 - y_k)]
                      = Σ_k max(u_k, 0) - u_k d_k + log(1 + e^{-|u_k|})
        squares     ℓ = ½ Σ_k (y_k - d_k)²
    """
    losses, delta = batch_loss_ref(L.NAMES[loss], u[None, :], d[None, :], A.NAMES[output],
                                   slope)
    return losses[0], delta[0]


def affine(W, b, x):
    """u_j = Σ_i W_ji x_i + b_j, written as a broadcast sum so that it reads like the Σ."""
    return (W * x).sum(axis=-1) + b


def output_activation(net):
    """The activation the network applies at its output: the loss's softmax / sigmoid for
    the cross-entropies (a last layer 'identity' gives their logits), else the layer's."""
    kind = L.NAMES[net.loss]
    if kind == L.SOFTMAX_CROSS_ENTROPY:
        return "softmax"
    if kind == L.BINARY_CROSS_ENTROPY:
        return "sigmoid"
    return net.layers[-1].activation


def parameters(net):
    """Per layer a dict of float64 copies: W (out, in), b (out,), a (out,) negative slopes
    (PReLU learned, RReLU its inference slope, leaky ReLU a constant), activation name."""
    out = []
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        out.append(dict(W=np.array(layer.W, np.float64), b=np.array(layer.b, np.float64),
                        a=np.array(layer.a, np.float64).reshape(-1),
                        activation=output_activation(net) if i == last else layer.activation))
    return out


def forward(params, x):
    """[(u^l, z^l) for each layer] of one sample x (in,)."""
    out = []
    z = x
    for p in params:
        u = affine(p["W"], p["b"], z)
        z = activate(p["activation"], u, p["a"])
        out.append((u, z))
    return out


def sample_loss(params, x, d, loss):
    """ℓ of one sample (forward and loss only): what the finite differences differentiate."""
    u, _ = forward(params, x)[-1]
    return loss_and_delta(loss, u, d, params[-1]["activation"], params[-1]["a"])[0]


# ---------------------------------------------------------------- the explanation
@dataclass
class LayerStep:
    """One layer of the step: index (1-based), its parameters, forward and backward values."""
    index: int
    activation: str
    W: np.ndarray
    b: np.ndarray
    a: np.ndarray
    x: np.ndarray        # input z^{l-1}
    u: np.ndarray
    z: np.ndarray
    dz: np.ndarray       # ∂ℓ/∂z^l
    fprime: np.ndarray   # f'(u^l), None at a softmax output
    delta: np.ndarray    # ∂ℓ/∂u^l
    dW: np.ndarray
    db: np.ndarray       # None without bias
    da: np.ndarray       # PReLU slopes' gradient, else None
    dx: np.ndarray       # ∂ℓ/∂z^{l-1}
    W_new: np.ndarray
    b_new: np.ndarray
    a_new: np.ndarray


@dataclass
class Gradient:
    """One gradient with its checks: ``value`` from the re-implementation, ``kernel`` from
    ``net.loss_and_gradient`` (None for ∂ℓ/∂x, which fastnet does not compute), ``fd`` the
    central finite differences at the flat ``checked`` indices, ``fd_rel_error`` =
    ‖value - fd‖ / (‖value‖ + ‖fd‖) over them (0 when both vanish)."""
    name: str
    value: np.ndarray
    kernel: np.ndarray
    checked: np.ndarray
    fd: np.ndarray
    fd_rel_error: float

    @property
    def kernel_max_diff(self):
        return None if self.kernel is None else float(np.abs(self.value - self.kernel).max())


@dataclass
class Explanation:
    """Every number of one SGD step on one sample (see the module doc); print it."""
    loss_name: str
    x: np.ndarray
    d: np.ndarray
    y: np.ndarray
    loss: float
    loss_after: float
    kernel_loss: float
    lr: float
    layers: list
    gradients: list = field(default_factory=list)

    def gradient(self, name):
        """The Gradient called ``name``, e.g. '∂ℓ/∂W²'."""
        for g in self.gradients:
            if g.name == name:
                return g
        raise KeyError(f"no gradient {name!r}; have {[g.name for g in self.gradients]}")

    @property
    def text(self):
        return _render(self)

    def __str__(self):
        return self.text


def _target(net, d):
    K = net.layers[-1].out_features
    d = np.asarray(d)
    if d.ndim == 0 and L.NAMES[net.loss] == L.SOFTMAX_CROSS_ENTROPY:
        if d.dtype.kind not in "iu" or not 0 <= d < K:
            raise ValueError(f"d must be a class id in [0, {K}) or a row of {K} "
                             f"probabilities, got {d.item()!r}")
        return np.eye(K)[int(d)]
    if d.dtype.kind not in "uifb" or d.size != K or not np.isfinite(d.astype(float)).all():
        raise ValueError(f"d must hold {K} finite target values (one per output), got {d!r}")
    d = d.astype(np.float64).reshape(K)
    if L.NAMES[net.loss] == L.BINARY_CROSS_ENTROPY and not np.isin(d, (0, 1)).all():
        raise ValueError(f"d must hold 0 or 1 for binary_cross_entropy, got {d!r}")
    return d


def finite_differences(f, array, idx, h=FD_STEP):
    """(f(a + h e_i) - f(a - h e_i)) / 2h at the flat indices idx of ``array`` (float64),
    perturbing it in place (restored): f() reads it."""
    flat = array.reshape(-1)
    out = np.empty(len(idx))
    for n, i in enumerate(idx):
        keep = flat[i]
        flat[i] = keep + h
        plus = f()
        flat[i] = keep - h
        minus = f()
        flat[i] = keep
        out[n] = (plus - minus) / (2 * h)
    return out


def relative_error(value, fd):
    """‖value - fd‖ / (‖value‖ + ‖fd‖), 0 when both vanish: how far a gradient is from its
    finite differences."""
    scale = np.linalg.norm(value) + np.linalg.norm(fd)
    return float(np.linalg.norm(value - fd) / scale) if scale > 0 else 0.0


def explain(net, x, d, lr=0.1, max_checks=50, seed=0):
    """One SGD step of ``net`` on sample ``x`` (n_inputs,) with target ``d`` (a class id
    for softmax cross-entropy, else one value per output), as an ``Explanation``.

    Computed in float64 by the re-implementation above, whatever the network's dtype;
    ``net.loss_and_gradient`` runs on the same sample (it overwrites ``net.grads``) and its
    loss and gradients are kept next to ours. Each gradient is checked by central finite
    differences on all its entries, or on ``max_checks`` of them drawn with ``seed``.
    ``net`` itself is not updated.
    """
    try:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"x must be an array of numbers, got {type(x).__name__}") from None
    if x.size != net.layers[0].in_features:
        raise ValueError(f"x must hold {net.layers[0].in_features} inputs, got {x.size}")
    if not np.isfinite(x).all():
        raise ValueError("x must be finite")
    lr = checks.real("lr", lr)
    max_checks = checks.integer("max_checks", max_checks, 1)
    d = _target(net, d)
    params = parameters(net)
    passes = forward(params, x)
    out = params[-1]
    u_out, y = passes[-1]
    ell, delta = loss_and_delta(net.loss, u_out, d, out["activation"], out["a"])

    steps = []
    for i in range(len(params) - 1, -1, -1):   # the δ rule, from the output down
        p, (u, z) = params[i], passes[i]
        inp = passes[i - 1][1] if i > 0 else x
        if i == len(params) - 1:
            dz = y - d        # ∂ℓ/∂y for the three losses (with their output activation)
            fprime = None if p["activation"] == "softmax" else derivative(p["activation"], u, z, p["a"])
        else:
            dz = steps[-1].dx
            fprime = derivative(p["activation"], u, z, p["a"])
            delta = fprime * dz                      # δ_j = f'(u_j) Σ_k w_kj δ_k
        layer = net.layers[i]
        dW = delta[:, None] * inp[None, :]
        db = delta.copy() if layer.bias else None
        da = dz * np.minimum(u, 0) if layer.activation == "prelu" else None
        dx = (p["W"] * delta[:, None]).sum(axis=0)    # Σ_k w_kj δ_k
        steps.append(LayerStep(
            index=i + 1, activation=p["activation"], W=p["W"], b=p["b"], a=p["a"], x=inp,
            u=u, z=z, dz=dz, fprime=fprime, delta=delta, dW=dW, db=db, da=da, dx=dx,
            W_new=p["W"] - lr * dW, b_new=p["b"] - lr * db if db is not None else p["b"],
            a_new=p["a"] - lr * da if da is not None else p["a"]))
    steps.reverse()

    updated = [dict(p, W=s.W_new, b=s.b_new, a=s.a_new) for p, s in zip(params, steps)]
    X = x.reshape(1, -1).astype(net.params.dtype)   # already the first layer's input: the
    kernel_loss = float(_passes.loss_and_gradient(      # kernels scale it by 1, not again
        net, X, 1.0, encode_targets(net, d.reshape(1, -1), 1), None))
    ex = Explanation(loss_name=net.loss, x=x, d=d, y=y, loss=float(ell),
                     loss_after=float(sample_loss(updated, x, d, net.loss)),
                     kernel_loss=kernel_loss, lr=lr, layers=steps)

    rng = np.random.default_rng(seed)
    work = [dict(p, W=p["W"].copy(), b=p["b"].copy(), a=p["a"].copy()) for p in params]
    xw = x.copy()

    def check(name, value, kernel, array):
        n = value.size
        idx = np.arange(n) if n <= max_checks else np.sort(rng.choice(n, max_checks, False))
        fd = finite_differences(lambda: sample_loss(work, xw, d, net.loss), array, idx)
        err = relative_error(value.reshape(-1)[idx], fd)
        kern = None if kernel is None else np.array(kernel, np.float64).reshape(value.shape)
        ex.gradients.append(Gradient(name, value, kern, idx, fd, err))

    for s, layer, w in zip(steps, net.layers, work):
        sup = str(s.index).translate(SUPERSCRIPT)
        check(f"∂ℓ/∂W{sup}", s.dW, layer.dW, w["W"])
        if s.db is not None:
            check(f"∂ℓ/∂b{sup}", s.db, layer.db, w["b"])
        if s.da is not None:
            check(f"∂ℓ/∂a{sup}", s.da, layer.da, w["a"])
    check("∂ℓ/∂x", steps[0].dx, None, xw)
    return ex


def toy_problem(activation="tanh", loss="softmax_cross_entropy", seed=0, n=16):
    """(net, X, d): a seeded float64 4-3-2 network (``activation`` hidden, identity
    output: the logits for the cross-entropies) and n samples X (n, 4) with targets d: class ids of x_0 + x_1 > 0 for softmax
    cross-entropy, their one-hot rows for the other two losses."""
    net = Network([Dense(4, 3, activation), Dense(3, 2)], loss=loss, seed=seed,
                  dtype=np.float64)
    X = np.random.default_rng([seed, 1]).standard_normal((n, 4))
    labels = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    d = labels if L.NAMES[loss] == L.SOFTMAX_CROSS_ENTROPY else np.eye(2)[labels]
    return net, X, d


# ---------------------------------------------------------------- printing
def fmt(a):
    """An array (or number) as text: 4 decimals, or 3 significant digits in e-notation
    when its largest entry is below 1e-3 or above 1e4."""
    a = np.asarray(a, np.float64)
    m = np.abs(a).max() if a.size else 0.0
    f = (lambda v: f"{v + 0.0: .3e}") if 0 < m < 1e-3 or m >= 1e4 else (lambda v: f"{v + 0.0: .4f}")
    if a.ndim == 0:
        return f(float(a)).strip()
    return np.array2string(a, formatter={"float_kind": f}, threshold=40, edgeitems=3,
                           max_line_width=100)


def _block(label, a, indent="    "):
    text = fmt(a)
    pad = indent + " " * (len(label) + 3)
    return indent + label + " = " + text.replace("\n", "\n" + pad)


def _unit_sum(step, sup, below):
    """The first unit's sum written out: u_1 = w_11 x_1 + ... + b_1 = value."""
    terms = " + ".join(f"({fmt(w)})({fmt(v)})" for w, v in zip(step.W[0], step.x))
    return f"    e.g. u{sup}_1 = Σ_i W{sup}_1i {below}_i + b{sup}_1 = {terms} + ({fmt(step.b[0])}) " \
           f"= {fmt(step.u[0])}"


LOSS_FORMULA = {
    L.SOFTMAX_CROSS_ENTROPY: "ℓ = -Σ_k d_k log y_k",
    L.BINARY_CROSS_ENTROPY: "ℓ = -Σ_k [d_k log y_k + (1 - d_k) log(1 - y_k)]",
    L.SUM_OF_SQUARES: "ℓ = ½ Σ_k (y_k - d_k)²",
}


def _render(ex):
    n = len(ex.layers)
    sizes = "-".join(str(s.W.shape[1]) for s in ex.layers) + f"-{ex.layers[-1].W.shape[0]}"
    acts = ", ".join(s.activation for s in ex.layers)
    top = str(n).translate(SUPERSCRIPT)
    lines = [f"One SGD step of a {sizes} network ({acts}), loss {ex.loss_name}, on one "
             f"sample, learning rate η = {ex.lr:g}", "",
             _block("x = z⁰", ex.x, ""), _block("target d", ex.d, ""), "", "FORWARD  u = W x + b, z = f(u)"]
    for s in ex.layers:
        sup = str(s.index).translate(SUPERSCRIPT)
        below = "x" if s.index == 1 else "z" + str(s.index - 1).translate(SUPERSCRIPT)
        slope = f", negative slope a = {fmt(s.a)}" if s.activation in (
            "leaky_relu", "prelu", "rrelu") else ""
        lines += [f"  layer {s.index}: {s.W.shape[1]} -> {s.W.shape[0]}, {s.activation}{slope}",
                  _block(f"W{sup}", s.W), _block(f"b{sup}", s.b),
                  _block(f"u{sup} = W{sup} {below} + b{sup}", s.u)]
        if s.W.shape[1] <= 6:
            lines.append(_unit_sum(s, sup, below))
        lines.append(_block(f"z{sup} = {s.activation}(u{sup})", s.z))
    lines += ["", "LOSS", f"  y = z{top} = {fmt(ex.y)},  d = {fmt(ex.d)}",
              f"  {LOSS_FORMULA[L.NAMES[ex.loss_name]]} = {ex.loss:.6g}", "", "BACKWARD"]
    for s in reversed(ex.layers):
        sup = str(s.index).translate(SUPERSCRIPT)
        below = "x" if s.index == 1 else "z" + str(s.index - 1).translate(SUPERSCRIPT)
        if s.index == n:
            lines.append(_block("∂ℓ/∂y = y - d", s.dz, "  "))
            if s.fprime is None or L.NAMES[ex.loss_name] != L.SUM_OF_SQUARES:
                lines += [f"  output δ{sup} = ∂ℓ/∂u{sup} = y - d   ({s.activation} with its "
                          f"cross-entropy: f'(u) cancels)",
                          _block(f"δ{sup}", s.delta)]
            else:
                lines += [_block(f"f'(u{sup})", s.fprime, "  "),
                          _block(f"output δ{sup} = (y - d) ⊙ f'(u{sup})", s.delta, "  ")]
        else:
            up = str(s.index + 1).translate(SUPERSCRIPT)
            lines += [f"  layer {s.index}: δ{sup}_j = f'(u{sup}_j) Σ_k w{up}_kj δ{up}_k",
                      _block(f"Σ_k w{up}_kj δ{up}_k = ∂ℓ/∂z{sup}", s.dz),
                      _block(f"f'(u{sup}) = {s.activation}'(u{sup})", s.fprime),
                      _block(f"δ{sup} = f'(u{sup}) ⊙ ∂ℓ/∂z{sup}", s.delta)]
        lines.append(_block(f"∂ℓ/∂W{sup} = δ{sup} {below}ᵀ", s.dW))
        if s.db is not None:
            lines.append(_block(f"∂ℓ/∂b{sup} = δ{sup}", s.db))
        if s.da is not None:
            lines.append(_block(f"∂ℓ/∂a{sup} = ∂ℓ/∂z{sup} ⊙ min(u{sup}, 0)", s.da))
    lines.append(_block("∂ℓ/∂x = (W¹)ᵀ δ¹", ex.layers[0].dx, "  "))
    lines += ["", f"UPDATE  (SGD: θ ← θ - η ∂ℓ/∂θ, η = {ex.lr:g})"]
    for s in ex.layers:
        sup = str(s.index).translate(SUPERSCRIPT)
        lines.append(_block(f"W{sup} ← W{sup} - {ex.lr:g} ∂ℓ/∂W{sup}", s.W_new))
        if s.db is not None:
            lines.append(_block(f"b{sup} ← b{sup} - {ex.lr:g} ∂ℓ/∂b{sup}", s.b_new))
        if s.da is not None:
            lines.append(_block(f"a{sup} ← a{sup} - {ex.lr:g} ∂ℓ/∂a{sup}", s.a_new))
    lines += [f"  loss on this sample: {ex.loss:.6g} before, {ex.loss_after:.6g} after the step",
              "", f"CHECKS  central finite differences (h = {FD_STEP:g}, float64) and "
              f"fastnet's kernels (net.loss_and_gradient: loss {ex.kernel_loss:.6g})",
              f"  {'gradient':<10}{'entries checked':>16}{'FD rel. error':>15}"
              f"{'max |ours - kernel|':>21}"]
    for g in ex.gradients:
        kern = "(not computed)" if g.kernel is None else f"{g.kernel_max_diff:.2e}"
        lines.append(f"  {g.name:<10}{f'{len(g.checked)} of {g.value.size}':>16}"
                     f"{g.fd_rel_error:>15.2e}{kern:>21}")
    return "\n".join(lines)
