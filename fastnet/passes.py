"""The passes of a network over a workspace: forward, loss, backward (with the
optimizer step fused in). The training loop (``train``) and prediction and evaluation
(``Network``) both run a batch through these functions, and only these call the
layer kernels.

    gather     x, t ← X[idx], T[idx]
    forward    z_l = f_l(W_l z_{l-1} + b_l)                    u_l, z_l
    loss       ℓ_b, δ_L = ∂L/∂u_L                               losses, delta[-1]
    backward   δ_l = f'_l(u_l) ⊙ (δ_{l+1} W_{l+1}), ∇W_l, ∇b_l   delta, dz, net.grads
               (each layer's update right after its gradient, when given one)
"""
import threading

import numpy as np

from . import config
from .kernels import activations as A
from .kernels import losses as L
from .kernels import optim as O
from .kernels.data import gather_batch
from .kernels.dense import (dense_backward_params, dense_backward_params_listed,
                            dense_backward_params_packed, dense_forward,
                            dense_forward_in_major, dense_forward_packed, dense_gradient,
                            delta_packed, forward_packed, gradient_listed, gradient_packed,
                            hidden_delta, hidden_delta_packed, packed_scratch,
                            partial_shape, prelu_slope_grad, UNITS_BATCH)
from .kernels.clip import clip_norm, clip_value
from .kernels.dropout import apply_mask, dropout_mask
from .kernels.metrics import count_correct
from .kernels.weights import weigh_rows

PACKED = (dense_forward_packed, dense_backward_params_packed, hidden_delta_packed)
MAX_WORKSPACES = 4  # batch sizes whose workspaces a network keeps (per thread)
NO_SHIFT = np.empty(0, np.float32)  # no per-feature scaling: the scalar scale applies


class Workspace:
    """Every array one forward + backward pass of ``B`` samples writes into.

    x (B, C0) input rows; t (B, K) targets; losses (B,); per layer l:
    u[l], z[l], delta[l], dz[l] (B, OC_l); rrelu[l] (B, OC_l) training slopes;
    partial the first layer's ``dense_forward_in_major`` workspace, of shape
    ``partial_shape(B, OC_0)`` (empty for dense inputs, which do not run it);
    forward_kernel[l] the layer's forward kernel for batches of B (``forward_kernel``),
    gradient_kernel[l] its fused weight-gradient kernel (``gradient_kernel``),
    delta_kernel[l] the kernel of the δ it sends to layer l - 1 (``delta_kernel``);
    scratch the packed operands of the register-blocked kernels among these
    (``scratch_size``), made with the workspace, never per step.
    """

    def __init__(self, net, B):
        dt = net.dtype
        self.B = B
        self.x = config.empty((B, net.n_inputs), dt)
        self.t = config.empty((B, net.n_outputs), dt)
        self.losses = config.empty(B, dt)
        shapes = [(B, layer.out_features) for layer in net.layers]
        self.u = [config.empty(s, dt) for s in shapes]
        self.z = [config.empty(s, dt) for s in shapes]
        self.delta = [config.empty(s, dt) for s in shapes]
        self.dz = [config.empty(s, dt) for s in shapes]
        self.rrelu = [config.empty(s, dt) if layer.act == A.RRELU else None
                      for layer, s in zip(net.layers, shapes)]
        self.slope = [layer.a for layer in net.layers]  # negative slopes of the last forward
        self.partial = config.empty(partial_shape(B, net.layers[0].out_features)
                                    if net.w_in_major(0) else (0, 0, 0), dt)
        # sample weights (B,); per layer with dropout: its mask and dropped output (B, OC)
        self.w = config.empty(B, dt)
        self.mask = [config.empty(s, dt) if layer.dropout else None
                     for layer, s in zip(net.layers, shapes)]
        self.dropped = [config.empty(s, dt) if layer.dropout else None
                        for layer, s in zip(net.layers, shapes)]
        self.masked = [False] * len(shapes)   # whether the last forward dropped layer l
        self.forward_kernel = [forward_kernel(net, i, B) for i in range(len(shapes))]
        self.gradient_kernel = [gradient_kernel(net, i, B) for i in range(len(shapes))]
        self.delta_kernel = [delta_kernel(net, i, B) for i in range(len(shapes))]
        self.scratch = config.empty(scratch_size(net, self), dt)

    def zero(self):
        """Fill the workspace's own arrays with 0, which brings their pages into memory:
        ``train.fit`` does it before its first step, so that no epoch's seconds fault in
        fresh pages (a workspace only ever evaluated with never writes its δ arrays, whose
        pages then stay out of memory)."""
        for a in [self.x, self.t, self.losses, self.partial, self.w, self.scratch, *self.u,
                  *self.z, *self.delta, *self.dz, *self.rrelu, *self.mask, *self.dropped]:
            if a is not None:
                a.fill(0)
        return self


def scratch_size(net, ws):
    """The numbers of scratch the register-blocked kernels that ``ws`` picked for its
    layers take (``layer_scratch``): the most any one call takes, as they run one at a
    time. (Layer 0 sends no δ.)"""
    sizes = [0]
    for i, layer in enumerate(net.layers):
        need = layer_scratch(ws.B, layer.in_features, layer.out_features, _itemsize(net))
        picked = [ws.forward_kernel[i], ws.gradient_kernel[i]] + [ws.delta_kernel[i]] * (i > 0)
        sizes += [need[k] for k in picked if k in need]
    return max(sizes)


def layer_scratch(B, C, OC, itemsize):
    """{kernel: numbers of scratch} of each register-blocked kernel on a layer of C inputs
    and OC outputs at batch B (``dense.packed_scratch``): the forward's product B×C→OC,
    the weight gradient's OC×B→C and the hidden δ's B×OC→C."""
    return {dense_forward_packed: sum(packed_scratch(B, C, OC, itemsize, False)),
            dense_backward_params_packed: sum(packed_scratch(OC, B, C, itemsize, True)),
            hidden_delta_packed: sum(packed_scratch(B, OC, C, itemsize, False))}


def workspace(net, B):
    """The calling thread's workspace of ``net`` for batches of B samples, kept in
    ``net.workspaces`` under (thread id, B): threads predicting with one network at once
    never share one (the kernels release the GIL). At most MAX_WORKSPACES are kept per
    thread on average; beyond that the cache is emptied (a thread still using one keeps
    its reference)."""
    key = (threading.get_ident(), B)
    ws = net.workspaces.get(key)
    if ws is None:
        if len(net.workspaces) >= MAX_WORKSPACES * max(threading.active_count(), 1):
            net.workspaces.clear()
        ws = net.workspaces[key] = Workspace(net, B)
    return ws


def scaling(scale):
    """The (scale, shift, factor) arguments of the gather kernels for the ``scale`` of
    ``inputs.as_input``: a number, or a pair (shift, factor) of per-feature vectors."""
    return (1.0, *scale) if isinstance(scale, tuple) else (scale, NO_SHIFT, NO_SHIFT)


def gather(ws, X, T, idx, scale):
    """ws.x, ws.t ← the scaled X[idx], T[idx]: a training batch into its workspace."""
    gather_batch(ws.x, ws.t, X, T, idx, *scaling(scale))


def _slope(net, i, ws, training, rng):
    """Layer i's negative slopes: drawn per element for RReLU in training, else its ``a``."""
    layer = net.layers[i]
    if training and layer.act == A.RRELU:
        lo, hi = layer.rrelu_range
        r = ws.rrelu[i]
        rng.random(dtype=net.dtype, out=r)
        r *= hi - lo
        r += lo
        return r
    return layer.a


def _forward_call(net, ws, i, inp, slope, kernel):
    """(kernel, args) of layer i's forward from ``inp`` by ``kernel``, one of
    ``forward_kernels``: a layer that stores Wᵀ (the first, of sparse inputs) has its own
    argument list (``dense_forward_in_major``)."""
    layer = net.layers[i]
    act = net.output_act if i == len(net.layers) - 1 else layer.act
    if net.w_in_major(i):
        return kernel, (ws.u[0], ws.z[0], ws.partial, inp, layer.W.T, layer.b, slope, act)
    return kernel, (ws.u[i], ws.z[i], inp, layer.W, layer.b, slope, act,
                    *_scratch(ws, kernel))


def _scratch(ws, kernel):
    """(ws.scratch,) for a register-blocked kernel, which takes it last; () for the
    others."""
    return (ws.scratch,) if kernel in PACKED else ()


def forward_kernel(net, i, B):
    """Layer i's forward kernel for a batch of B: ``dense_forward_in_major`` for a layer
    that stores Wᵀ; else ``dense_forward``, or ``dense_forward_packed`` for a layer that is
    not a softmax, wide enough for the batch (``dense.forward_packed``)."""
    layer = net.layers[i]
    if net.w_in_major(i):
        return dense_forward_in_major
    act = net.output_act if i == len(net.layers) - 1 else layer.act
    packed = act != A.SOFTMAX and forward_packed(B, layer.in_features, layer.out_features,
                                                 _itemsize(net))
    return dense_forward_packed if packed else dense_forward


def forward_kernels(net, i):
    """The kernels layer i's forward may run, whatever the batch (training, evaluation):
    ``forward_kernel`` of one sample and of UNITS_BATCH (the rule only grows with B)."""
    return tuple(dict.fromkeys(forward_kernel(net, i, B) for B in (1, UNITS_BATCH)))


def _itemsize(net):
    return np.dtype(net.dtype).itemsize


def forward(net, ws, training=False, rng=None):
    """z_l = f_l(W_l z_{l-1} + b_l) for every layer, from ws.x into ws.u / ws.z."""
    inp = ws.x
    for i, layer in enumerate(net.layers):
        ws.slope[i] = _slope(net, i, ws, training, rng)
        kernel, args = _forward_call(net, ws, i, inp, ws.slope[i], ws.forward_kernel[i])
        kernel(*args)
        inp = ws.z[i]
        ws.masked[i] = bool(training and layer.dropout)
        if ws.masked[i]:   # inverted dropout: the next layer reads z ⊙ m
            rng.random(dtype=net.dtype, out=ws.mask[i])
            dropout_mask(ws.mask[i], layer.dropout)
            apply_mask(ws.dropped[i], ws.z[i], ws.mask[i])
            inp = ws.dropped[i]


def loss(net, ws, weighted=False):
    """Per-sample losses into ws.losses and the output δ = ∂L/∂u into ws.delta[-1];
    returns their sum (float64). ``weighted``: scaled by the sample weights in ws.w to
    the weighted mean (``kernels.weights``)."""
    total = L.batch_loss(ws.losses, ws.delta[-1], ws.dz[-1], ws.u[-1], ws.z[-1], ws.t,
                         ws.slope[-1], net.loss_kind, net.output_act)
    if weighted:
        total = weigh_rows(ws.losses, ws.delta[-1], ws.dz[-1], ws.w)
    return total


def gradient_kernel(net, i, B):
    """Layer i's fused weight-gradient kernel for a batch of B: ``dense_backward_params``,
    its register-blocked form (``dense.gradient_packed``; both give the same bits), or
    for a wide first layer of sparse inputs its listed form (``dense.gradient_listed``)."""
    layer = net.layers[i]
    C, OC, in_major = layer.in_features, layer.out_features, net.w_in_major(i)
    if gradient_listed(C, OC, in_major):
        return dense_backward_params_listed
    packed = gradient_packed(B, C, OC, in_major, _itemsize(net))
    return dense_backward_params_packed if packed else dense_backward_params


def delta_kernel(net, i, B):
    """The kernel of the δ that layer i sends down, for a batch of B: ``hidden_delta``, or
    ``hidden_delta_packed`` for a wide W and a large batch (``dense.delta_packed``)."""
    layer = net.layers[i]
    packed = delta_packed(B, layer.in_features, layer.out_features, _itemsize(net))
    return hidden_delta_packed if packed else hidden_delta


def backward(net, ws, update=None):
    """The δ rule downwards from the output δ left by ``loss``; fills net.grads.

    With ``update`` = (kind, h, s1, s2) from ``Optimizer.begin_step``, each layer's
    parameters take their optimizer step as soon as their gradient is known: after
    the δ of the layer below has been computed with the old weights. Returns how
    many parameters the update left NaN or ±inf (0 without ``update``).
    """
    kind, h, s1, s2 = update or (O.NO_UPDATE, O.NO_HYPER, net.grads, net.grads)
    slots = net.update_slots(s1, s2)
    bad = 0
    for i in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[i]
        if i > 0:
            below = net.layers[i - 1]
            kernel = ws.delta_kernel[i]
            kernel(ws.delta[i - 1], ws.dz[i - 1], ws.delta[i], layer.W, ws.u[i - 1],
                   ws.z[i - 1], ws.slope[i - 1], below.act, *_scratch(ws, kernel))
            if ws.masked[i - 1]:   # ∂L/∂z and δ through the dropout mask
                apply_mask(ws.delta[i - 1], ws.delta[i - 1], ws.mask[i - 1])
                apply_mask(ws.dz[i - 1], ws.dz[i - 1], ws.mask[i - 1])
        w_slots, b_slots, a_slots = slots[i]
        if a_slots is not None:
            prelu_slope_grad(layer.da, ws.dz[i], ws.u[i])
            p, sa1, sa2 = (v.reshape(-1) for v in a_slots)
            bad += O.optimizer_update(p, sa1, sa2, layer.da.reshape(-1), h, kind)
        inp = ws.x if i == 0 else ws.dropped[i - 1] if ws.masked[i - 1] else ws.z[i - 1]
        in_major = net.w_in_major(i)
        dw = layer.dW.T if in_major else layer.dW  # as stored
        if update is None and ws.gradient_kernel[i] is dense_backward_params:
            dense_gradient(dw, layer.db, ws.delta[i], inp, in_major)  # fewer arguments
        else:   # (the packed or listed kernel with NO_UPDATE: the gradient alone)
            kernel = ws.gradient_kernel[i]
            bad += kernel(dw, layer.db, w_slots, b_slots, ws.delta[i], inp, h, in_major, kind,
                          *_scratch(ws, kernel))
    return bad


def planned_calls(net, X, scale, T, update_kind=None, X_eval=None, weighted=False,
                  clips=False, batch_sizes=(1,)):
    """The (kernel, args) of the calls that a training step (with an optimizer step of
    rule ``update_kind``; None: gradients only) and, given ``X_eval``, an evaluation of it
    make: what ``compiler.warm`` compiles before a run. X, scale: checked inputs and
    their scaling (``inputs.as_input``); X_eval: the validation inputs, or a pair
    (X_eval, its scaling) when they were checked on their own; T: encoded targets;
    ``weighted``: with sample weights (``loss(weighted=True)``); ``clips``: the optimizer
    clips gradients (the gradient pass alone, then ``Optimizer.clip`` and a flat update,
    as ``train`` runs it); ``batch_sizes``: the sizes of the training batches, which pick
    each layer's weight-gradient and δ kernels (``gradient_kernel``, ``delta_kernel``);
    every forward kernel a layer may run is planned (``forward_kernels``). Layers with
    dropout add the dropout kernels. The arguments are a one-sample workspace's, of the
    same types as any batch's. Keep in step with the call sites above, in ``train`` and in
    ``Optimizer.clip``."""
    ws = Workspace(net, 1)
    idx = np.zeros(ws.B, np.int64)
    calls = [(gather_batch, (ws.x, ws.t, X, T, idx, *scaling(scale)))]
    if X_eval is not None:   # X_eval, eval_scale: what evaluation gathers from
        X_eval, eval_scale = X_eval if isinstance(X_eval, tuple) else (X_eval, scale)
        calls.append((gather_batch, (ws.x, ws.t[:, :0], X_eval, no_targets(net, 1), idx,
                                     *scaling(eval_scale))))
    for i, layer in enumerate(net.layers):
        inp = ws.z[i - 1] if i > 0 else ws.x   # every forward kernel: any batch may pick it
        calls += [_forward_call(net, ws, i, inp, layer.a, kernel)
                  for kernel in forward_kernels(net, i)]
        if layer.dropout:
            calls.append((dropout_mask, (ws.mask[i], layer.dropout)))
            calls.append((apply_mask, (ws.dropped[i], ws.z[i], ws.mask[i])))
    calls.append((L.batch_loss, (ws.losses, ws.delta[-1], ws.dz[-1], ws.u[-1], ws.z[-1], ws.t,
                                 layer.a, net.loss_kind, net.output_act)))
    if weighted:
        calls.append((weigh_rows, (ws.losses, ws.delta[-1], ws.dz[-1], ws.w)))
    if net.is_classifier or X_eval is not None:
        calls.append((count_correct, (ws.z[-1], ws.t, net.loss_kind)))
    fused = update_kind is not None and not clips   # the update inside the backward pass
    kind = update_kind if fused else O.NO_UPDATE
    slots = net.update_slots(net.grads, net.grads)
    for i in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[i]
        if i > 0:
            below = net.layers[i - 1]
            calls += [(kernel, (ws.delta[i - 1], ws.dz[i - 1], ws.delta[i], layer.W,
                                ws.u[i - 1], ws.z[i - 1], below.a, below.act,
                                *_scratch(ws, kernel)))
                      for kernel in dict.fromkeys(delta_kernel(net, i, B) for B in batch_sizes)]
            if below.dropout:
                calls.append((apply_mask, (ws.delta[i - 1], ws.delta[i - 1], ws.mask[i - 1])))
                calls.append((apply_mask, (ws.dz[i - 1], ws.dz[i - 1], ws.mask[i - 1])))
        w_slots, b_slots, a_slots = slots[i]
        if a_slots is not None:
            calls.append((prelu_slope_grad, (layer.da, ws.dz[i], ws.u[i])))
            flat = a_slots[0].reshape(-1)
            calls.append((O.optimizer_update, (flat, flat, flat, layer.da.reshape(-1),
                                               O.NO_HYPER, kind)))
        inp = ws.z[i - 1] if i > 0 else ws.x
        in_major = net.w_in_major(i)
        dw = layer.dW.T if in_major else layer.dW
        for kernel in dict.fromkeys(gradient_kernel(net, i, B) for B in batch_sizes):
            if not fused and kernel is dense_backward_params:
                calls.append((dense_gradient, (dw, layer.db, ws.delta[i], inp, in_major)))
            else:
                calls.append((kernel, (dw, layer.db, w_slots, b_slots, ws.delta[i], inp,
                                       O.NO_HYPER, in_major, kind, *_scratch(ws, kernel))))
    if clips:   # Optimizer.clip, then the flat update of train._backward_update
        g = net.grads
        calls += [(clip_norm, (g[seg[0]], 1.0)) for layer in net._segments for seg in layer
                  if seg is not None]
        calls += [(clip_norm, (g, 1.0)), (clip_value, (g, 1.0))]
        if update_kind is not None:
            calls.append((O.optimizer_update, (net.params, g, g, g, O.NO_HYPER,
                                               update_kind)))
    return calls


def no_targets(net, n):
    """Targets of no columns for n samples: ``gather_batch`` then gathers inputs alone."""
    return np.empty((n, 0), net.dtype)


def batches(net, X, scale, batch_size, rows=None):
    """Yield (start, stop, workspace) with the scaled X[rows[start:stop]] (rows None: all
    of X, in order) gathered into ws.x."""
    n = X.shape[0] if rows is None else len(rows)
    args = scaling(scale)
    none = no_targets(net, X.shape[0])
    for s in range(0, n, batch_size):
        e = min(s + batch_size, n)
        ws = workspace(net, e - s)
        idx = np.arange(s, e) if rows is None else rows[s:e]
        gather_batch(ws.x, ws.t[:, :0], X, none, idx, *args)
        yield s, e, ws


def outputs(net, X, scale, batch_size):
    """The network's outputs z_L (n, K) for checked inputs X and their scaling (see
    ``inputs.as_input``)."""
    out = np.empty((X.shape[0], net.n_outputs), net.dtype)
    for s, e, ws in batches(net, X, scale, batch_size):
        forward(net, ws)
        out[s:e] = ws.z[-1]
    return out


def totals(net, X, scale, T, batch_size, rows=None, out=None):
    """(Σ loss, number correct) over checked inputs X (the rows ``rows`` of it, when
    given) and their encoded targets T; ``out``: an (n, K) array that receives the outputs
    z_L of the same pass."""
    loss_sum, correct = 0.0, 0
    for s, e, ws in batches(net, X, scale, batch_size, rows):
        forward(net, ws)
        if out is not None:
            out[s:e] = ws.z[-1]
        ws.t[...] = T[s:e]
        loss_sum += loss(net, ws)
        correct += count_correct(ws.z[-1], ws.t, net.loss_kind)
    return loss_sum, correct


def loss_and_gradient(net, X, scale, T, weights=None):
    """Σ loss over (X, T) as one batch (inference slopes), with ∂L/∂params in net.grads;
    with sample ``weights`` (n,), B · the weighted mean and its gradient."""
    ws = workspace(net, X.shape[0])
    gather(ws, X, T, np.arange(X.shape[0]), scale)
    forward(net, ws)
    if weights is not None:
        ws.w[...] = weights
    total = loss(net, ws, weights is not None)
    backward(net, ws)
    return total
