"""The Network: a stack of Dense layers and a loss, owning the parameters and their
gradients, with the public API (fit, predict, evaluate, ...).

All learned scalars live in one flat vector ``params`` (and their gradients in
``grads``), so an optimizer step is a single kernel call; each layer's ``W``,
``b`` and PReLU slope ``a`` are views into it. For sparse inputs (``sparse_inputs``, the
default: image pixels) the first layer stores its weights transposed, Wᵀ (in, out), so that
its kernels can skip the zeros of the input (see ``kernels.dense``); its ``W`` (out, in) is
then a transposed view of them. Model files and pickles hold that layout whatever
``sparse_inputs`` is (``canonical``).

Input checking and target encoding are in ``inputs``, the forward, loss and
backward passes in ``passes``, the training loop in ``train``.
"""
import weakref

import numpy as np

from . import checks, config, passes, train
from .inputs import as_input, encode_targets
from .kernels import activations as A
from .kernels import losses as L
from .layers import Dense


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
    sparse_inputs : bool
        True (default) when the inputs have blocks of zeros, as image pixels (blank
        background) and one-hot columns do: the first layer then stores Wᵀ and its kernels
        skip all-zero blocks of 4 samples × 4 inputs. False for dense features
        (standardised data, or zeros scattered at random): the first layer is stored like
        the others, whose kernels are faster on dense rows and one fewer to compile. ``fastnet train`` and the scikit-learn estimators choose it from the data
        (``inputs.looks_sparse``). It changes the summation order, not the model.

    Examples
    --------
    >>> net = Network([Dense(784, 256, activation="relu"), Dense(256, 10)])
    >>> history = net.fit(X, y, epochs=5, batch_size=128, optimizer=SGD(0.05, momentum=0.9))
    >>> net.evaluate(X_test, y_test)
    {'loss': 0.07, 'accuracy': 0.978}
    """

    def __init__(self, layers, loss="softmax_cross_entropy", seed=0, dtype=config.FLOAT,
                 sparse_inputs=True):
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
        if layers[-1].dropout:
            raise ValueError(f"dropout applies to hidden layers, but the last layer "
                             f"{layers[-1]!r} has dropout={layers[-1].dropout}")
        self.layers = layers
        self.loss = loss
        self.loss_kind = L.NAMES[loss]
        self.dtype = dtype
        self.seed = seed
        self.sparse_inputs = checks.boolean("sparse_inputs", sparse_inputs)
        self.output_act = self._output_activation(layers[-1])
        self._place_parameters()
        for layer in layers:
            layer._owner = weakref.ref(self)
        self.init_weights(seed)
        self.workspaces = {}  # (thread id, batch size) -> passes.Workspace
        self.scaler = None    # a fitted fastnet.scaling.Scaler applied to every input, or None
        self.task = self.classes = self.source = None   # what fastnet train knew of its data

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
        optimizer's state vectors are that layer's state (see ``update_slots``).
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
            segs = (take(OC * C, (C, OC) if self.w_in_major(i) else (OC, C)),
                    take(OC, (OC,)) if layer.bias else None,
                    take(OC, (1, OC)) if layer.act == A.PRELU else None)
            self._segments.append(segs)
            layer.W, layer.b, layer.a = self._views(self.params, segs)
            layer.dW, layer.db, layer.da = self._views(self.grads, segs)
            if self.w_in_major(i):  # stored Wᵀ (in, out); W, dW are (out, in) views
                layer.W, layer.dW = layer.W.T, layer.dW.T
            if not layer.bias:  # constant zero bias; no gradient
                layer.b, layer.db = np.zeros(OC, self.dtype), np.zeros(0, self.dtype)
            if layer.act != A.PRELU:
                layer.a = np.full((1, OC), layer.inference_slope(), self.dtype)

    def w_in_major(self, i):
        """Whether layer i stores Wᵀ (in, out): the first layer of sparse inputs."""
        return i == 0 and self.sparse_inputs

    def _first_transposed(self, flat, in_major):
        """A copy of the flat vector ``flat`` with the first W rearranged from the
        in-major layout (in, out) when ``in_major``, else from (out, in), to the other."""
        sl = self._segments[0][0][0]
        C, OC = self.layers[0].in_features, self.layers[0].out_features
        flat = flat.copy()
        flat[sl] = flat[sl].reshape((C, OC) if in_major else (OC, C)).T.reshape(-1)
        return flat

    def canonical(self, flat):
        """A flat vector in this network's layout (``params``, an optimizer's state) as
        model files and pickles hold it: the first W in-major, whatever
        ``sparse_inputs`` is (so a file does not depend on it)."""
        return flat.copy() if self.sparse_inputs else self._first_transposed(flat, False)

    def from_canonical(self, flat):
        """The inverse of ``canonical``: a flat vector of a model file in this layout."""
        return flat.copy() if self.sparse_inputs else self._first_transposed(flat, True)

    def from_saved(self, flat, format_version):
        """A flat vector as a model file or pickle of ``format_version`` holds it, in this
        network's layout: version 1 stored every W (out, in), later ones the first W
        in-major (``canonical``)."""
        if format_version == 1:
            return self._first_transposed(flat, False) if self.sparse_inputs else flat.copy()
        return self.from_canonical(flat)

    @staticmethod
    def _views(flat, segs):
        """Views of a flat vector for the (slice, shape) segments; None stays None."""
        return [None if seg is None else flat[seg[0]].reshape(seg[1]) for seg in segs]

    def update_slots(self, s1, s2):
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

    def get_weights(self):
        """The parameters as a list of NumPy arrays (copies), per layer in order: W in
        ``torch.nn.Linear``'s (out, in) layout, b (out,) if the layer has a bias, and
        PReLU's learned slopes a (out,)."""
        return [np.array(p) for p in self._parameter_views()]

    def set_weights(self, weights):
        """Set the parameters from a list shaped as ``get_weights()`` returns it (each
        array real, finite, of the same shape; cast to the network's dtype)."""
        views = self._parameter_views()
        if not isinstance(weights, (list, tuple)) or len(weights) != len(views):
            raise ValueError(f"weights must be a list of {len(views)} arrays (as get_weights() "
                             f"returns), got {type(weights).__name__}"
                             + (f" of {len(weights)}" if isinstance(weights, (list, tuple))
                                else ""))
        arrays = []
        for i, (w, view) in enumerate(zip(weights, views)):
            w = np.asarray(w)
            if w.dtype.kind not in "uif":
                raise TypeError(f"weights[{i}] must hold real numbers, got dtype {w.dtype}")
            if w.shape != view.shape:
                raise ValueError(f"weights[{i}] must have shape {view.shape}, got {w.shape}")
            if not np.isfinite(w).all():
                raise ValueError(f"weights[{i}] holds NaN or infinite values")
            arrays.append(w)
        for w, view in zip(arrays, views):
            view[...] = w

    def _parameter_views(self):
        """Per layer: W (out, in), b if learned, a (out,) if PReLU; views into params."""
        views = []
        for layer, (_, b, a) in zip(self.layers, self._segments):
            views.append(layer.W)
            if b is not None:
                views.append(layer.b)
            if a is not None:
                views.append(layer.a.reshape(-1))
        return views

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

    # ------------------------------------------------------------------ public API
    # predict, predict_proba and evaluate may be called from several threads at once: each
    # thread gets its own workspaces (passes.workspace). Training (fit, loss_and_gradient)
    # writes the shared parameters and gradients: one thread at a time.
    def loss_and_gradient(self, X, y, sample_weight=None, class_weight=None):
        """Mean loss on (X, y) as one batch, with ∂L/∂params left in ``self.grads``; with
        weights, the weighted mean Σ w ℓ / Σ w (see ``fastnet.train.fit``)."""
        X, scale = as_input(self, X)
        T = encode_targets(self, y, X.shape[0])
        weights = train.sample_weights(self, T, sample_weight, class_weight)
        return passes.loss_and_gradient(self, X, scale, T, weights) / X.shape[0]

    def predict_proba(self, X, batch_size=1024):
        """Network outputs: class probabilities (softmax / sigmoid) or regression values."""
        batch_size = checks.integer("batch_size", batch_size, 1)
        X, scale = as_input(self, X)
        return passes.outputs(self, X, scale, batch_size)

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
        X, scale = as_input(self, X)
        n = X.shape[0]
        T = encode_targets(self, y, n)
        batch_size = checks.integer("batch_size", batch_size, 1)
        loss_sum, correct = passes.totals(self, X, scale, T, batch_size)
        result = {"loss": loss_sum / n}
        if self.is_classifier:
            result["accuracy"] = correct / n
        return result

    def fit(self, X, y, epochs=10, batch_size=32, optimizer=None, validation_split=0.0,
            validation_data=None, seed=0, shuffle=True, verbose=True, callbacks=(), **kwargs):
        """Train with minibatch gradient descent; returns a ``History``. See ``fastnet.train.fit``
        (also for ``on_nan``, ``progress``, ``handle_sigint``, ``resume``)."""
        return train.fit(self, X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                         validation_split=validation_split, validation_data=validation_data,
                         seed=seed, shuffle=shuffle, verbose=verbose, callbacks=callbacks,
                         **kwargs)
