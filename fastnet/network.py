"""The Network: a stack of Dense layers and a loss, owning parameters, gradients
and workspaces, and running the kernels for forward and backward passes.

All learned scalars live in one flat vector ``params`` (and their gradients in
``grads``), so an optimizer step is a single kernel call; each layer's ``W``,
``b`` and PReLU slope ``a`` are views into it. The first layer stores its weights
transposed, Wᵀ (in, out), so that its kernels can skip the zeros of the input
(see ``kernels.dense``); its ``W`` (out, in) is a transposed view of them.
"""
import weakref

import numpy as np

from . import checks, config
from .kernels import activations as A
from .kernels import losses as L
from .kernels import optim as O
from .kernels.data import gather_batch, gather_rows
from .kernels.dense import (CHUNK, PARTS, dense_backward_params, dense_forward, dense_gradient,
                            hidden_delta, prelu_slope_grad)
from .kernels.metrics import count_correct
from .layers import Dense

MAX_WORKSPACES = 4


def _as_array(a, name):
    """np.asarray with an error naming the argument for ragged or odd inputs."""
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{name} must be an array of numbers, got {type(a).__name__} "
                        f"that NumPy cannot convert ({e})") from None


def _check_ownership(layers):
    """A Dense's W, b are views into one network's flat parameters: it cannot appear twice
    or serve two live networks (the second would silently rebind the first's weights)."""
    seen = set()
    for i, layer in enumerate(layers):
        if id(layer) in seen:
            raise ValueError(f"layers[{i}] = {layer!r} appears twice in layers; each Dense owns "
                             f"its weights, so create a new one, e.g. Dense(**layer.config())")
        seen.add(id(layer))
        owner = getattr(layer, "_owner", None)
        if owner is not None and owner() is not None:
            raise ValueError(f"layers[{i}] = {layer!r} already belongs to another Network (its "
                             f"W and b are views into that network's parameters); create new "
                             f"layers, e.g. Dense(**layer.config())")


def _check_finite(A, name):
    """ValueError naming the first NaN / inf; min and max avoid a temporary array."""
    if not (np.isfinite(A.min()) and np.isfinite(A.max())):
        bad = np.argwhere(~np.isfinite(A))
        raise ValueError(f"{name} must be finite, but it holds {len(bad)} NaN or infinite "
                         f"values (first at index {tuple(int(i) for i in bad[0])}: "
                         f"{A[tuple(bad[0])].item()!r}); remove or impute them")


class Workspace:
    """Every array one forward + backward pass of ``B`` samples writes into.

    x (B, C0) input rows; t (B, K) targets; losses (B,); per layer l:
    u[l], z[l], delta[l], dz[l] (B, OC_l); rrelu[l] (B, OC_l) training slopes;
    partial[l] (PARTS, B, OC_0) the first layer's partial sums of a training batch
    (``dense_forward``), (0, 0, 0) for the other layers and larger batches.
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
        none = np.empty((0, 0, 0), dt)
        self.partial = [config.empty((PARTS,) + shapes[0], dt) if B <= CHUNK else none] + \
            [none] * (len(shapes) - 1)


class Network:
    """A feed-forward network ``z_l = f_l(W_l z_{l-1} + b_l)`` trained on a loss.

    Parameters
    ----------
    layers : list of Dense
        Consecutive layers must chain: ``layers[i].out_features ==
        layers[i+1].in_features``.
    loss : str
        "softmax_cross_entropy" (classes; integer or one-hot targets),
        "binary_cross_entropy" (targets in {0, 1}) or "sum_of_squares"
        (regression). For the cross-entropies the last layer's activation is
        the matching softmax / sigmoid ("identity" there means the same thing:
        its outputs are the logits).
    seed : int
        Seeds the initial weights.
    dtype : numpy float dtype
        float32 (default) or float64 (used by the gradient checks).

    Examples
    --------
    >>> net = Network([Dense(784, 256, activation="relu"), Dense(256, 10)])
    >>> history = net.fit(X, y, epochs=5, batch_size=128, optimizer=SGD(0.05, momentum=0.9))
    >>> net.evaluate(X_test, y_test)
    {'loss': 0.07, 'accuracy': 0.978}
    """

    def __init__(self, layers, loss="softmax_cross_entropy", seed=0, dtype=config.FLOAT):
        if isinstance(layers, Dense) or not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of fastnet.Dense, got "
                            f"{type(layers).__name__}; e.g. Network([Dense(784, 10)])")
        layers = list(layers)
        if not layers:
            raise ValueError("Network needs at least one Dense layer, got an empty list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Dense):
                raise TypeError(f"layers[{i}] must be a fastnet.Dense, got {type(layer).__name__}")
        for i in range(1, len(layers)):
            if layers[i - 1].out_features != layers[i].in_features:
                raise ValueError(
                    f"layer sizes do not chain: layers[{i - 1}] = {layers[i - 1]!r} outputs "
                    f"{layers[i - 1].out_features} features but layers[{i}] = {layers[i]!r} "
                    f"expects {layers[i].in_features}")
        checks.choice("loss", loss, L.NAMES)
        if L.NAMES[loss] == L.SOFTMAX_CROSS_ENTROPY and layers[-1].out_features < 2:
            raise ValueError(f"loss {loss!r} needs at least 2 outputs (classes), got "
                             f"{layers[-1]!r} with 1; use 'binary_cross_entropy' for one output")
        checks.seed("seed", seed)
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        _check_ownership(layers)
        for i, layer in enumerate(layers[:-1]):
            if layer.act == A.SOFTMAX:
                raise ValueError(f"softmax is an output activation, but layers[{i}] = {layer!r} "
                                 f"is hidden; use it on the last layer only")
        self.layers = layers
        self.loss = loss
        self.loss_kind = L.NAMES[loss]
        self.dtype = dtype
        self.seed = seed
        self.output_act = self._output_activation(layers[-1])
        self._place_parameters()
        for layer in layers:
            layer._owner = weakref.ref(self)
        self.init_weights(seed)
        self._workspaces = {}

    def _output_activation(self, last):
        """The activation code the forward applies at the output, given the loss."""
        fused = {L.SOFTMAX_CROSS_ENTROPY: A.SOFTMAX, L.BINARY_CROSS_ENTROPY: A.SIGMOID}
        if self.loss_kind in fused:
            want = fused[self.loss_kind]
            if last.act not in (A.IDENTITY, want):
                raise ValueError(f"loss {self.loss!r} needs the last layer's activation to be "
                                 f"{'softmax' if want == A.SOFTMAX else 'sigmoid'} or identity "
                                 f"(logits), got {last.activation!r}")
            return want
        if last.act == A.SOFTMAX:
            raise ValueError("softmax output needs loss='softmax_cross_entropy'")
        return last.act

    # ------------------------------------------------------------------ parameters
    def _place_parameters(self):
        """Lay W, b (and PReLU's a) of every layer out in one flat vector.

        ``self._segments[i]`` holds layer i's (slice, shape) for W, b and a (None for
        a constant zero bias, or a slope that is not learned); the same segments of an
        optimizer's state vectors are that layer's state (see ``_slots``).
        """
        total = sum(layer.n_params for layer in self.layers)
        self.params = config.zeros(total, self.dtype)
        self.grads = config.zeros(total, self.dtype)
        self._segments = []
        self._slot_cache = (None, None)
        off = 0

        def take(n, shape):
            nonlocal off
            off += n
            return slice(off - n, off), shape

        for i, layer in enumerate(self.layers):
            C, OC = layer.in_features, layer.out_features
            segs = (take(OC * C, (C, OC) if i == 0 else (OC, C)),
                    take(OC, (OC,)) if layer.bias else None,
                    take(OC, (1, OC)) if layer.act == A.PRELU else None)
            self._segments.append(segs)
            layer.W, layer.b, layer.a = self._views(self.params, segs)
            layer.dW, layer.db, layer.da = self._views(self.grads, segs)
            if i == 0:  # stored Wᵀ (in, out); W, dW are (out, in) views
                layer.W, layer.dW = layer.W.T, layer.dW.T
            if not layer.bias:  # constant zero bias; no gradient
                layer.b, layer.db = np.zeros(OC, self.dtype), np.zeros(0, self.dtype)
            if layer.act != A.PRELU:
                layer.a = np.full((1, OC), layer.inference_slope(), self.dtype)

    def _from_out_major(self, flat):
        """A flat vector laid out with every W (out, in), as model files of format
        version 1 hold them, rearranged to this layout (the first W transposed)."""
        sl, shape = self._segments[0][0]
        flat = flat.copy()
        flat[sl] = flat[sl].reshape(shape[::-1]).T.reshape(-1)
        return flat

    @staticmethod
    def _views(flat, segs):
        """Views of a flat vector for the (slice, shape) segments; None stays None."""
        return [None if seg is None else flat[seg[0]].reshape(seg[1]) for seg in segs]

    def _slots(self, s1, s2):
        """Per layer, ((W, s1, s2), (b, s1, s2), (a, s1, s2)): views of the parameters and
        of two optimizer state vectors, as the update kernels take them (built once per
        pair of state vectors). A layer without bias gets 0-length bias slots; a slope
        that is not learned, None."""
        key = (id(s1), id(s2))
        if self._slot_cache[0] != key:
            empty = (np.zeros(0, self.dtype),) * 3
            slots = []
            for segs in self._segments:
                w, b, a = zip(*(self._views(v, segs) for v in (self.params, s1, s2)))
                slots.append((w, empty if b[0] is None else b, None if a[0] is None else a))
            self._slot_cache = (key, slots)
        return self._slot_cache[1]

    def init_weights(self, seed=0):
        """(Re)draw the weights (He or Xavier by activation); biases 0, PReLU slopes a0."""
        rng = np.random.default_rng(checks.seed("seed", seed))
        for layer in self.layers:
            layer.W[...] = layer.initial_weights(rng, self.dtype)
            layer.b[...] = 0
            layer.a[...] = layer.inference_slope()

    @property
    def n_inputs(self):
        return self.layers[0].in_features

    @property
    def n_outputs(self):
        return self.layers[-1].out_features

    @property
    def is_classifier(self):
        return self.loss_kind != L.SUM_OF_SQUARES

    def summary(self):
        """A table of layers, output shapes and parameter counts (also returned as str)."""
        rows = [f"{'layer':<8}{'type':<42}{'params':>10}"]
        for i, layer in enumerate(self.layers):
            rows.append(f"{i:<8}{layer!r:<42}{layer.n_params:>10,}")
        rows.append(f"loss: {self.loss}    total params: {self.params.size:,}")
        text = "\n".join(rows)
        print(text)
        return text

    # ------------------------------------------------------------------ inputs
    def _as_input(self, X, name="X"):
        """Return (X, scale): a 2-D C-contiguous uint8 or float array and its scale.

        uint8 data (images) stay uint8 and are scaled by 1/255 when gathered;
        other real dtypes are converted once to ``self.dtype`` (no copy when X is
        already C-contiguous of that dtype). Rejects bool, complex, object and
        string dtypes, wrong shapes and NaN / inf.
        """
        X = _as_array(X, name)
        if X.dtype.kind not in "uif":
            raise TypeError(f"{name} must hold real numbers (float, int or uint8 images), got "
                            f"dtype {X.dtype}; convert it, e.g. {name}.astype(np.float32)")
        if X.ndim != 2:
            hint = "; for one sample use X.reshape(1, -1)" if X.ndim == 1 else ""
            raise ValueError(f"{name} must be a 2-D array (n_samples, {self.n_inputs}), got "
                             f"{X.ndim}-D shape {X.shape}{hint}")
        if X.shape[1] != self.n_inputs:
            raise ValueError(f"{name} has {X.shape[1]} features (columns) but the first layer "
                             f"{self.layers[0]!r} expects {self.n_inputs}; got shape {X.shape}")
        if X.shape[0] == 0:
            raise ValueError(f"{name} has no samples: shape {X.shape}")
        if X.dtype == np.uint8:
            return np.ascontiguousarray(X), 1.0 / 255.0
        with np.errstate(over="ignore"):  # values beyond float32's range become inf: caught below
            X = np.ascontiguousarray(X, dtype=self.dtype)
        _check_finite(X, name)
        return X, 1.0

    def _encode_targets(self, y, n, name="y"):
        """Targets as a float (n, K) array matching the loss.

        softmax_cross_entropy: class ids (n,) in [0, K) or rows of K probabilities;
        binary_cross_entropy: 0/1 targets (n,) for one output or (n, K);
        sum_of_squares: finite (n,) for one output or (n, K).
        """
        K = self.n_outputs
        y = _as_array(y, name)
        if y.dtype.kind not in "uifb":
            raise TypeError(f"{name} must hold numbers (class ids or targets), got dtype "
                            f"{y.dtype}")
        if y.shape[:1] != (n,):
            raise ValueError(f"{name} must have {n} rows (one per sample of X), got shape "
                             f"{y.shape}")
        if y.ndim == 1 and self.loss_kind == L.SOFTMAX_CROSS_ENTROPY:
            if y.dtype.kind == "f":
                whole = np.isfinite(y)
                whole[whole] = np.mod(y[whole], 1) == 0
                if not whole.all():
                    raise ValueError(f"{name} must hold integer class ids in [0, {K}), got "
                                     f"{y[~whole][0].item()!r} (dtype {y.dtype})")
            bad = (y < 0) | (y >= K)
            if bad.any():
                raise ValueError(f"{name} must hold class ids in [0, {K}) for a network with "
                                 f"{K} outputs, got {y[bad][0].item()!r} at index {np.argmax(bad)}")
            T = np.zeros((n, K), self.dtype)
            T[np.arange(n), y.astype(np.int64)] = 1
            return T
        if y.ndim == 1 and K == 1:
            y = y.reshape(n, 1)
        if y.ndim != 2 or y.shape[1] != K:
            ids = "class ids (n,) or " if self.loss_kind == L.SOFTMAX_CROSS_ENTROPY else ""
            raise ValueError(f"{name} must be {ids}shape ({n}, {K}) for a network with {K} "
                             f"outputs, got shape {y.shape}")
        with np.errstate(over="ignore"):
            T = np.ascontiguousarray(y, dtype=self.dtype)
        _check_finite(T, name)
        if self.loss_kind == L.BINARY_CROSS_ENTROPY and not np.isin(T, (0, 1)).all():
            v = T[~np.isin(T, (0, 1))][0]
            raise ValueError(f"{name} must hold binary targets 0 or 1 for "
                             f"binary_cross_entropy, got {v.item()!r}")
        if self.loss_kind == L.SOFTMAX_CROSS_ENTROPY:
            sums = T.sum(axis=1, dtype=np.float64)
            if T.min() < 0 or np.abs(sums - 1).max() > 1e-3:
                raise ValueError(f"{name} rows must be class probabilities (one-hot or soft "
                                 f"labels: >= 0, summing to 1) for softmax_cross_entropy; got "
                                 f"min {T.min():g}, row sums in [{sums.min():g}, {sums.max():g}]")
        return T

    def _validation_data(self, validation_data):
        """Check (X_val, y_val) once; X_val converted like X, y_val encoded like y."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(f"validation_data must be a pair (X_val, y_val), got "
                            f"{type(validation_data).__name__}")
        X_val, _ = self._as_input(validation_data[0], "validation_data X_val")
        T_val = self._encode_targets(validation_data[1], X_val.shape[0], "validation_data y_val")
        return X_val, T_val

    # ------------------------------------------------------------------ passes
    def _workspace(self, B):
        ws = self._workspaces.get(B)
        if ws is None:
            if len(self._workspaces) >= MAX_WORKSPACES:
                self._workspaces.clear()
            ws = self._workspaces[B] = Workspace(self, B)
        return ws

    def _slope(self, i, ws, training, rng):
        layer = self.layers[i]
        if training and layer.act == A.RRELU:
            lo, hi = layer.rrelu_range
            r = ws.rrelu[i]
            rng.random(dtype=self.dtype, out=r)
            r *= hi - lo
            r += lo
            return r
        return layer.a

    def _forward(self, ws, training=False, rng=None):
        """z_l = f_l(W_l z_{l-1} + b_l) for every layer, into ws.u / ws.z."""
        inp = ws.x
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            act = self.output_act if i == last else layer.act
            ws.slope[i] = self._slope(i, ws, training, rng)
            w = layer.W.T if i == 0 else layer.W  # as stored
            dense_forward(ws.u[i], ws.z[i], inp, w, layer.b, act, ws.slope[i], i == 0,
                          ws.partial[i])
            inp = ws.z[i]

    def _loss(self, ws):
        """Per-sample losses into ws.losses and the output δ = ∂L/∂u into ws.delta[-1];
        returns their sum (float64)."""
        return L.batch_loss(self.loss_kind, ws.delta[-1], ws.dz[-1], ws.losses, ws.u[-1],
                            ws.z[-1], ws.t, self.output_act, ws.slope[-1])

    def _backward(self, ws, update=None):
        """The δ rule downwards from the output δ left by ``_loss``; fills self.grads.

        With ``update`` = (kind, h, s1, s2) from ``Optimizer.begin_step``, each layer's
        parameters take their optimizer step as soon as their gradient is known: after
        the δ of the layer below has been computed with the old weights. Returns how
        many parameters the update left NaN or ±inf (0 without ``update``).
        """
        kind, h, s1, s2 = update or (O.NO_UPDATE, O.NO_HYPER, self.grads, self.grads)
        slots = self._slots(s1, s2)
        bad = 0
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if i > 0:
                below = self.layers[i - 1]
                hidden_delta(ws.delta[i - 1], ws.dz[i - 1], ws.delta[i], layer.W,
                             ws.u[i - 1], ws.z[i - 1], below.act, ws.slope[i - 1])
            w_slots, b_slots, a_slots = slots[i]
            if a_slots is not None:
                prelu_slope_grad(layer.da, ws.dz[i], ws.u[i])
                p, sa1, sa2 = (v.reshape(-1) for v in a_slots)
                bad += O.optimizer_update(kind, p, layer.da.reshape(-1), sa1, sa2, h)
            inp = ws.z[i - 1] if i > 0 else ws.x
            dw = layer.dW.T if i == 0 else layer.dW  # as stored
            if update is None:
                dense_gradient(dw, layer.db, ws.delta[i], inp, i == 0)
            else:
                bad += dense_backward_params(dw, layer.db, ws.delta[i], inp, i == 0, kind, h,
                                             w_slots, b_slots)
        return bad

    def _chunks(self, X, batch_size):
        """Yield (start, stop, workspace) with X[start:stop] gathered into ws.x."""
        batch_size = checks.integer("batch_size", batch_size, 1)
        X, scale = self._as_input(X)
        n = X.shape[0]
        for s in range(0, n, batch_size):
            e = min(s + batch_size, n)
            ws = self._workspace(e - s)
            gather_rows(ws.x, X, np.arange(s, e), scale)
            yield s, e, ws

    # ------------------------------------------------------------------ public API
    def loss_and_gradient(self, X, y):
        """Mean loss on (X, y) as one batch, with ∂L/∂params left in ``self.grads``."""
        X, scale = self._as_input(X)
        T = self._encode_targets(y, X.shape[0])
        ws = self._workspace(X.shape[0])
        idx = np.arange(X.shape[0])
        gather_batch(ws.x, X, scale, ws.t, T, idx)
        self._forward(ws, training=False)
        total = self._loss(ws)
        self._backward(ws)
        return total / ws.B

    def predict_proba(self, X, batch_size=1024):
        """Network outputs: class probabilities (softmax / sigmoid) or regression values."""
        out = None
        for s, e, ws in self._chunks(X, batch_size):
            self._forward(ws)
            if out is None:
                out = np.empty((np.shape(X)[0], self.n_outputs), self.dtype)
            out[s:e] = ws.z[-1]
        return out

    def predict(self, X, batch_size=1024):
        """Class ids (softmax), 0/1 labels (sigmoid) or regression values (n, K)."""
        out = self.predict_proba(X, batch_size)
        if self.loss_kind == L.SOFTMAX_CROSS_ENTROPY:
            return out.argmax(axis=1)
        if self.loss_kind == L.BINARY_CROSS_ENTROPY:
            labels = (out > 0.5).astype(np.int64)
            return labels[:, 0] if self.n_outputs == 1 else labels
        return out

    def evaluate(self, X, y, batch_size=1024):
        """{'loss': mean loss, 'accuracy': fraction correct (classifiers only)}."""
        X, _ = self._as_input(X)
        n = X.shape[0]
        T = self._encode_targets(y, n)
        loss_sum, correct = 0.0, 0
        for s, e, ws in self._chunks(X, batch_size):
            self._forward(ws)
            ws.t[...] = T[s:e]
            loss_sum += self._loss(ws)
            correct += count_correct(ws.z[-1], ws.t, self.loss_kind)
        result = {"loss": loss_sum / n}
        if self.is_classifier:
            result["accuracy"] = correct / (n * (self.n_outputs if self.loss_kind == L.BINARY_CROSS_ENTROPY else 1))
        return result

    def fit(self, X, y, epochs=10, batch_size=32, optimizer=None, validation_split=0.0,
            validation_data=None, seed=0, shuffle=True, verbose=True, callbacks=(), **kwargs):
        """Train with minibatch gradient descent; returns a ``History``. See ``fastnet.train.fit``
        (also for ``on_nan``, ``progress``, ``handle_sigint``, ``resume``)."""
        from .train import fit
        return fit(self, X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   validation_split=validation_split, validation_data=validation_data,
                   seed=seed, shuffle=shuffle, verbose=verbose, callbacks=callbacks, **kwargs)
