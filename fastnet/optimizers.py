"""Optimizers and learning-rate schedules.

Each optimizer keeps its state (velocity, squared-gradient sums, moments) as
flat vectors the size of ``Network.params``, created lazily at the first
``step``, and updates the parameters with one kernel call (in training, the
weight-gradient kernel applies the same rule to each layer's rows as soon as
their gradient is known: see ``begin_step``). The update rules are in the
docstring of ``fastnet.kernels.optim``.
"""
import math
import weakref

from . import checks, config
from .catalogue import OPTIMIZERS as DEFAULTS
from .catalogue import SCHEDULES as SCHEDULE_DEFAULTS
from .checks import positive as _positive
from .kernels import clip as C
from .kernels import optim as K


# ---------------------------------------------------------------- schedules
class Constant:
    """η_t = η."""

    def __call__(self, epoch):
        return 1.0

    def config(self):
        return {"name": "constant"}


class StepDecay:
    """η_t = η · γ^⌊epoch / step_size⌋."""

    def __init__(self, step_size=SCHEDULE_DEFAULTS["step"]["step_size"],
                 gamma=SCHEDULE_DEFAULTS["step"]["gamma"]):
        self.step_size = checks.integer("step_size", step_size, 1)
        self.gamma = _positive("gamma", gamma)

    def __call__(self, epoch):
        return self.gamma ** (epoch // self.step_size)

    def config(self):
        return {"name": "step", "step_size": self.step_size, "gamma": self.gamma}


class Cosine:
    """η_t = η_min + (η - η_min) · ½ (1 + cos(π t / T)) over T epochs; η_min = η · min_factor."""

    def __init__(self, total_epochs, min_factor=SCHEDULE_DEFAULTS["cosine"]["min_factor"]):
        self.total_epochs = checks.integer("total_epochs", total_epochs, 1)
        self.min_factor = checks.real("min_factor", min_factor, 0.0, 1.0)

    def __call__(self, epoch):
        t = min(epoch, self.total_epochs) / self.total_epochs
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t))

    def config(self):
        return {"name": "cosine", "total_epochs": self.total_epochs, "min_factor": self.min_factor}


SCHEDULES = {"constant": Constant, "step": StepDecay, "cosine": Cosine}


def make_schedule(spec):
    """A schedule from an instance, None (constant), or a config dict / name."""
    if spec is None:
        return Constant()
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict):
        return checks.build("schedule", spec, SCHEDULES)
    if not callable(spec):
        raise TypeError(f"schedule must be a name, dict or callable, got {spec!r}")
    return spec


# ---------------------------------------------------------------- optimizers
def _clipping(**clip):
    """The checked (clipnorm, clipvalue, global_clipnorm): each None or > 0, at most one set."""
    given = [k for k, v in clip.items() if v is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of clipnorm, clipvalue, global_clipnorm, got "
                         f"{' and '.join(given)}")
    return tuple(None if v is None else _positive(k, v) for k, v in clip.items())


class Optimizer:
    """Base class: ``lr`` is the base learning rate, ``schedule(epoch)`` scales it.

    Like a PyTorch optimizer, an instance belongs to one network: its first step (or
    ``fit``) binds it to that network's parameter vector, and using it on another one
    raises ValueError (its velocity, moments and step count are the first network's)
    unless ``reset()`` clears its state first.
    """

    state_names = ()

    def __init__(self, lr, weight_decay=0.0, schedule=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        self.lr = _positive("lr (learning rate)", lr)
        self.weight_decay = _positive("weight_decay", weight_decay, allow_zero=True)
        self.schedule = make_schedule(schedule)
        self.clipnorm, self.clipvalue, self.global_clipnorm = _clipping(
            clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.current_lr = self.lr
        self.t = 0  # steps taken
        self.state = {}
        self._bound = None  # weakref to the parameter vector the state belongs to

    def bind(self, params):
        """Tie this optimizer to the flat parameter vector ``params`` (the first call), or
        check that it is the one it is tied to."""
        if self._bound is None:
            self._bound = weakref.ref(params)
        elif self._bound() is not params:
            raise ValueError(f"{self!r} is bound to another network's parameters (its "
                             "state and step count belong to that network); create a new "
                             "optimizer or call its reset() first")
        return self

    def build(self, params):
        """Bind to ``params`` and create the state the steps update (Keras's
        ``optimizer.build``): ``fit`` calls it before its first timed step."""
        self.bind(params)
        self._state(params)
        return self

    def reset(self):
        """Forget the state, the step count and the network it was bound to."""
        self.t, self.state, self._bound = 0, {}, None
        return self

    def __getstate__(self):   # a copy is unbound; its first step binds it again
        return dict(self.__dict__, _bound=None)

    def set_epoch(self, epoch):
        """Set the learning rate of this epoch from the schedule."""
        self.current_lr = self.lr * self.schedule(epoch)

    def _state(self, params):
        if not self.state or next(iter(self.state.values())).shape != params.shape:
            self.state = {k: config.zeros(params.shape, params.dtype) for k in self.state_names}
        return self.state

    def step(self, params, grads):
        """Update ``params`` in place from ``grads`` (flat vectors)."""
        kind, h, s1, s2 = self.begin_step(params, grads)
        K.optimizer_update(params, s1, s2, grads, h, kind)

    def begin_step(self, params, grads):
        """Count a step and return what the update kernels take: (rule, hyper-parameters,
        state vectors s1, s2). A rule without state gets ``grads`` in the unused slots;
        the kernels never touch them."""
        self.build(params)
        self.t += 1
        state = list(self.state.values())
        s1, s2 = (state + [grads, grads])[:2]
        return self.kind, self._hyper_vector(), s1, s2

    @property
    def clips(self):
        """Whether this optimizer clips gradients (clipnorm, clipvalue, global_clipnorm)."""
        return any(c is not None for c in (self.clipnorm, self.clipvalue, self.global_clipnorm))

    def clip(self, grads, segments):
        """Clip the flat ``grads`` in place as Keras does: ``clipnorm`` each parameter
        tensor (``segments``: per layer, the (slice, shape) of W, b, a or None) to that
        norm, ``global_clipnorm`` all of them together, ``clipvalue`` each element."""
        if self.clipnorm is not None:
            for layer in segments:
                for seg in layer:
                    if seg is not None:
                        C.clip_norm(grads[seg[0]], self.clipnorm)
        elif self.global_clipnorm is not None:
            C.clip_norm(grads, self.global_clipnorm)
        elif self.clipvalue is not None:
            C.clip_value(grads, self.clipvalue)

    def state_dict(self):
        """(meta, arrays): JSON-able config + step count, and the state vectors (copies)."""
        meta = {"config": self.config(), "t": self.t}
        return meta, {k: v.copy() for k, v in self.state.items()}

    def load_state_dict(self, meta, arrays):
        """Restore the step count and state vectors saved by ``state_dict``."""
        missing = set(self.state_names) - set(arrays)
        if missing and int(meta["t"]) == 0 and not arrays:   # saved before the first step
            self.t, self.state = 0, {}
            return
        if missing:
            raise ValueError(f"optimizer state lacks {sorted(missing)} for {self!r}")
        self.t = int(meta["t"])
        self.state = {k: config.aligned_copy(arrays[k]) for k in self.state_names}

    def config(self):
        cfg = {"name": type(self).__name__.lower(), "lr": self.lr,
               "weight_decay": self.weight_decay}
        cfg.update(self._hyper())
        for name in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, name) is not None:   # absent when off: older files stay valid
                cfg[name] = getattr(self, name)
        sched = getattr(self.schedule, "config", None)
        cfg["schedule"] = sched() if sched else None
        return cfg

    def _hyper(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum μ."""

    def __init__(self, lr=DEFAULTS["sgd"]["lr"], momentum=DEFAULTS["sgd"]["momentum"],
                 nesterov=False, weight_decay=DEFAULTS["sgd"]["weight_decay"], schedule=None,
                 **clip):
        super().__init__(lr, weight_decay, schedule, **clip)
        self.momentum = checks.fraction("momentum", momentum)
        if checks.boolean("nesterov", nesterov) and self.momentum == 0:
            raise ValueError(f"nesterov=True needs momentum > 0, got momentum={self.momentum}")
        self.nesterov = bool(nesterov)
        self.state_names = ("velocity",) if self.momentum else ()

    def _hyper(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    @property
    def kind(self):
        if not self.momentum:
            return K.SGD
        return K.NESTEROV if self.nesterov else K.MOMENTUM

    def _hyper_vector(self):
        return K.hyper(self.current_lr, self.weight_decay, self.momentum)


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al. 2011)."""

    state_names = ("sum_sq",)

    def __init__(self, lr=DEFAULTS["adagrad"]["lr"], eps=DEFAULTS["adagrad"]["eps"],
                 weight_decay=DEFAULTS["adagrad"]["weight_decay"], schedule=None, **clip):
        super().__init__(lr, weight_decay, schedule, **clip)
        self.eps = _positive("eps", eps)

    def _hyper(self):
        return {"eps": self.eps}

    kind = K.ADAGRAD

    def _hyper_vector(self):
        return K.hyper(self.current_lr, self.weight_decay, eps=self.eps)


class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton 2012)."""

    state_names = ("mean_sq",)

    def __init__(self, lr=DEFAULTS["rmsprop"]["lr"], rho=DEFAULTS["rmsprop"]["rho"],
                 eps=DEFAULTS["rmsprop"]["eps"], weight_decay=DEFAULTS["rmsprop"]["weight_decay"],
                 schedule=None, **clip):
        super().__init__(lr, weight_decay, schedule, **clip)
        self.rho = checks.fraction("rho", rho)
        self.eps = _positive("eps", eps)

    def _hyper(self):
        return {"rho": self.rho, "eps": self.eps}

    kind = K.RMSPROP

    def _hyper_vector(self):
        return K.hyper(self.current_lr, self.weight_decay, self.rho, eps=self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015); ``decoupled=True`` gives AdamW (Loshchilov & Hutter)."""

    state_names = ("m", "v")

    def __init__(self, lr=DEFAULTS["adam"]["lr"], beta1=DEFAULTS["adam"]["beta1"],
                 beta2=DEFAULTS["adam"]["beta2"], eps=DEFAULTS["adam"]["eps"],
                 weight_decay=DEFAULTS["adam"]["weight_decay"], decoupled=False, schedule=None,
                 **clip):
        super().__init__(lr, weight_decay, schedule, **clip)
        self.beta1 = checks.fraction("beta1", beta1)
        self.beta2 = checks.fraction("beta2", beta2)
        self.eps = _positive("eps", eps)
        self.decoupled = checks.boolean("decoupled", decoupled)

    def _hyper(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "decoupled": self.decoupled}

    @property
    def kind(self):
        return K.ADAMW if self.decoupled else K.ADAM

    def _hyper_vector(self):
        return K.hyper(self.current_lr, self.weight_decay, self.beta1, self.beta2, self.eps,
                       self.t)


class AdamW(Adam):
    """Adam with decoupled weight decay (default λ = 0.01)."""

    def __init__(self, lr=DEFAULTS["adamw"]["lr"], beta1=DEFAULTS["adamw"]["beta1"],
                 beta2=DEFAULTS["adamw"]["beta2"], eps=DEFAULTS["adamw"]["eps"],
                 weight_decay=DEFAULTS["adamw"]["weight_decay"], schedule=None, **clip):
        super().__init__(lr, beta1, beta2, eps, weight_decay, True, schedule, **clip)

    def config(self):
        return dict(super().config(), name="adam")


def _with_defaults(cls, name, **fixed):
    """A constructor of optimizer ``name``: ``cls`` with the catalogue's defaults of
    ``name`` for the arguments not given."""
    def build(**kw):
        return cls(**{**DEFAULTS[name], **fixed, **kw})
    build.__name__ = name
    return build


OPTIMIZERS = {
    "sgd": _with_defaults(SGD, "sgd"),
    "momentum": _with_defaults(SGD, "momentum"),
    "nesterov": _with_defaults(SGD, "nesterov", nesterov=True),
    "adagrad": _with_defaults(AdaGrad, "adagrad"),
    "rmsprop": _with_defaults(RMSProp, "rmsprop"),
    "adam": _with_defaults(Adam, "adam"),
    "adamw": _with_defaults(AdamW, "adamw"),
}
"""Optimizer name (``fastnet.catalogue.OPTIMIZERS``) -> constructor."""


def make_optimizer(spec):
    """An optimizer from an instance, a name, or a config dict {'name': ..., ...}."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise TypeError(f"optimizer must be an Optimizer, a name or a dict, got {spec!r}")
    return checks.build("optimizer", spec, OPTIMIZERS)
