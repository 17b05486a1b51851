"""Dense layer description: sizes, activation, bias, initialiser.

A ``Dense`` holds no arrays until a ``Network`` places its parameters in the
network's flat parameter vector; then ``W`` (out, in), ``b`` (out,) and, for
PReLU, ``a`` (1, out) are views into it, and ``dW``, ``db``, ``da`` views into
the flat gradient vector. (For sparse inputs, the default, the first layer's ``W`` and
``dW`` are transposed views: the network stores that layer's weights as Wᵀ, see
``fastnet.network``.)
"""
import numpy as np

from . import checks
from .catalogue import ACTIVATIONS
from .kernels import activations as A


class Dense:
    """Fully connected layer ``u = W x + b``, ``z = f(u)``.

    Parameters
    ----------
    in_features, out_features : int
    activation : str
        A name of ``fastnet.catalogue.ACTIVATIONS``: identity, sigmoid, tanh, relu,
        leaky_relu, prelu, rrelu, swish, softmax (output layer only).
    bias : bool
        Learn an additive bias (default True). Without it, b stays 0.
    negative_slope : float
        Slope for u < 0 of leaky ReLU (default 0.01) and the initial PReLU slope
        (default 0.25 for PReLU, as in He et al. 2015).
    rrelu_range : (float, float)
        RReLU draws its slope uniformly from [lower, upper] per element while
        training and uses (lower + upper) / 2 at inference (default (1/8, 1/3)).
    init : "he", "xavier" or None
        Weight initialiser; None picks He for the ReLU family and swish, and
        Xavier/Glorot otherwise.
    dropout : float in [0, 1)
        Inverted dropout on the layer's output while training: each output is zeroed
        with probability p and the others scaled by 1 / (1 - p) (hidden layers only;
        nothing changes at inference). The masks come from ``fit(seed=)``'s generator.
    """

    def __init__(self, in_features, out_features, activation="identity", bias=True,
                 negative_slope=None, rrelu_range=(1 / 8, 1 / 3), init=None, dropout=0.0):
        in_features = checks.integer("Dense in_features", in_features, 1)
        out_features = checks.integer("Dense out_features", out_features, 1)
        checks.choice("activation", activation, ACTIVATIONS)
        if init is not None:
            checks.choice("init", init, ("he", "xavier"))
        if negative_slope is not None:
            negative_slope = checks.real("negative_slope", negative_slope)
        if np.ndim(rrelu_range) != 1 or len(rrelu_range) != 2:
            raise TypeError(f"rrelu_range must be a pair (lower, upper), got {rrelu_range!r}")
        lower = checks.real("rrelu_range lower", rrelu_range[0], 0.0)
        upper = checks.real("rrelu_range upper", rrelu_range[1], lower)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.activation = activation
        self.act = ACTIVATIONS[activation]
        self.bias = checks.boolean("bias", bias)
        if negative_slope is None:
            negative_slope = 0.25 if activation == "prelu" else 0.01
        self.negative_slope = float(negative_slope)
        self.rrelu_range = (lower, upper)
        if init is None:
            relu_like = self.act in (A.RELU, A.LEAKY_RELU, A.PRELU, A.RRELU, A.SWISH)
            init = "he" if relu_like else "xavier"
        self.init = init
        self.dropout = checks.real("dropout", dropout, 0.0, 1.0, high_open=True)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_owner", None)  # a copy or an unpickled layer belongs to no network yet
        return state

    def __repr__(self):
        extra = "" if self.bias else ", bias=False"
        extra += f", dropout={self.dropout:g}" if self.dropout else ""
        return f"Dense({self.in_features}, {self.out_features}, activation={self.activation!r}{extra})"

    @property
    def n_params(self):
        """Number of learned scalars: weights, bias, PReLU slopes."""
        n = self.in_features * self.out_features
        n += self.out_features if self.bias else 0
        n += self.out_features if self.act == A.PRELU else 0
        return n

    def config(self):
        """JSON-serialisable constructor arguments."""
        cfg = dict(in_features=self.in_features, out_features=self.out_features,
                   activation=self.activation, bias=self.bias,
                   negative_slope=self.negative_slope, rrelu_range=list(self.rrelu_range),
                   init=self.init)
        if self.dropout:   # absent when off: files for older fastnet stay readable there
            cfg["dropout"] = self.dropout
        return cfg

    def initial_weights(self, rng, dtype):
        """Draw W: He N(0, 2/fan_in) or Xavier N(0, 2/(fan_in + fan_out))."""
        fan_in, fan_out = self.in_features, self.out_features
        var = 2.0 / fan_in if self.init == "he" else 2.0 / (fan_in + fan_out)
        return (rng.standard_normal((fan_out, fan_in)) * np.sqrt(var)).astype(dtype)

    def inference_slope(self):
        """Negative slope used outside training (one per unit)."""
        if self.act == A.RRELU:
            return 0.5 * (self.rrelu_range[0] + self.rrelu_range[1])
        return self.negative_slope
