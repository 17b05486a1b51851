"""scikit-learn estimators on fastnet's kernels (needs the optional scikit-learn): drop-in
replacements of ``sklearn.neural_network.MLPClassifier`` and ``MLPRegressor``.

    from fastnet.sklearn import MLPClassifier      # was: from sklearn.neural_network import ...
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0).fit(X, y)
    clf.predict(X_test); clf.predict_proba(X_test); clf.score(X_test, y_test)

The parameters, their defaults and meaning are scikit-learn's (see docs/sklearn.md), and
so are the fitted attributes: ``coefs_`` / ``intercepts_`` (layout (in, out), views of
the network's weights), ``loss_curve_``, ``best_loss_``, ``validation_scores_``,
``best_validation_score_``, ``n_iter_``, ``t_``, ``classes_``, ``n_layers_``,
``n_outputs_``, ``out_activation_``; ``partial_fit`` trains one epoch. Differences:

* ``solver='lbfgs'`` is not supported (ValueError); fastnet's other optimizers
  ('rmsprop', 'adagrad', 'adamw') may be named as solvers.
* ``alpha``: scikit-learn adds α W / B to the mean gradient of a batch of B samples;
  fastnet's optimizers add λ p with λ = α / batch_size to every parameter, so the
  biases are decayed too (by the same tiny amount) and the last, smaller batch of an
  epoch uses the full batch's λ.
* Extras: ``dropout`` (inverted dropout on every hidden layer while training),
  ``class_weight`` (classifier: {label: weight} or "balanced", n / (k · count); the loss
  of a batch is the weighted mean Σ w ℓ / Σ w), ``on_nan`` ("stop", "skip", "halve": see
  ``fastnet.train.fit``) and ``net_`` (the ``fastnet.Network``).

Both estimators work in ``Pipeline`` and ``GridSearchCV`` and pass
``sklearn.utils.estimator_checks.check_estimator`` (tests/test_sklearn.py).
"""
import copy
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from . import config
from .catalogue import HIDDEN_ACTIVATIONS, OPTIMIZERS
from .io import FORMAT_VERSION
from .inputs import looks_sparse
from .layers import Dense
from .network import Network
from .optimizers import SGD, Adam, make_optimizer

ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
"""scikit-learn's activation names -> fastnet's (fastnet's own names are accepted too)."""
SCHEDULES = ("constant", "invscaling", "adaptive")
MIN_ADAPTIVE_LR = 1e-6   # 'adaptive' stops once the learning rate is this small


def _writable(X):
    """A C-contiguous writable float32 array: read-only inputs (memmaps) would make Numba
    compile another specialisation of the gather kernel."""
    return np.require(X, np.float32, ["C", "W"])


class _BaseMLP(BaseEstimator):
    _out_activation = None

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, on_nan="stop"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.on_nan = on_nan

    # -------------------------------------------------------------- parameters
    def _check_params(self):
        if self.solver == "lbfgs":
            raise ValueError("solver='lbfgs' is not supported by fastnet.sklearn; use "
                             "solver='adam' or 'sgd'")
        solvers = ("sgd", "adam", "adagrad", "rmsprop", "adamw")
        if self.solver not in solvers:
            raise ValueError(f"solver must be one of {solvers}, got {self.solver!r}")
        if self.learning_rate not in SCHEDULES:
            raise ValueError(f"learning_rate must be one of {SCHEDULES}, got "
                             f"{self.learning_rate!r}")
        if self.activation not in ACTIVATIONS and self.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)} (or a fastnet "
                             f"activation {HIDDEN_ACTIVATIONS}), got {self.activation!r}")
        for name, low in (("alpha", 0.0), ("tol", 0.0), ("power_t", 0.0), ("momentum", 0.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.number)) or not value >= low:
                raise ValueError(f"{name} must be a real number >= {low}, got {value!r}")
        if not (isinstance(self.learning_rate_init, (int, float, np.number))
                and self.learning_rate_init > 0):
            raise ValueError(f"learning_rate_init must be > 0, got {self.learning_rate_init!r}")
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got "
                             f"{self.validation_fraction!r}")
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if np.isscalar(sizes) else list(sizes)
        if any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    def _batch_size(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be 'auto' or an integer >= 1, got "
                             f"{self.batch_size!r}")
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped")
        return min(int(self.batch_size), n)

    def _make_optimizer(self, batch_size, mean_weight=1.0):
        """The optimizer of ``solver``; scikit-learn's α W / Σ w (Σ over the batch) on the
        weighted mean gradient is fastnet's λ = α / (B · mean weight)."""
        lr = float(self.learning_rate_init)
        decay = float(self.alpha) / (batch_size * mean_weight)
        if self.solver == "sgd":
            return SGD(lr, momentum=float(self.momentum), weight_decay=decay,
                       nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)
        if self.solver == "adam":
            return Adam(lr, beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon,
                        weight_decay=decay)
        spec = {"name": self.solver, "lr": lr}
        if "weight_decay" in OPTIMIZERS[self.solver] and self.solver != "adamw":
            spec["weight_decay"] = decay
        return make_optimizer(spec)

    # -------------------------------------------------------------- fitted attributes
    @property
    def coefs_(self):
        """Per layer, its weights (in, out) as scikit-learn lays them out (writable views)."""
        return [layer.W.T for layer in self.net_.layers]

    @property
    def intercepts_(self):
        """Per layer, its biases (out,) (writable views)."""
        return [layer.b for layer in self.net_.layers]

    @property
    def n_layers_(self):
        return len(self.net_.layers) + 1

    @property
    def n_outputs_(self):
        return self.net_.n_outputs

    # -------------------------------------------------------------- training
    def _build(self, n_features, n_outputs, loss, seed, sparse_inputs):
        sizes = self._check_params()
        act = ACTIVATIONS.get(self.activation, self.activation)
        dims = [n_features, *sizes, n_outputs]
        layers = [Dense(dims[i], dims[i + 1], activation=act, dropout=self.dropout)
                  for i in range(len(dims) - 2)]
        layers.append(Dense(dims[-2], dims[-1]))
        self.net_ = Network(layers, loss=loss, seed=seed, sparse_inputs=sparse_inputs)
        self.loss_curve_, self.t_, self.n_iter_ = [], 0, 0
        self._no_improvement_count = 0
        self.best_loss_, self.best_validation_score_ = np.inf, -np.inf
        self.validation_scores_ = [] if self.early_stopping else None
        self._optimizer = None

    def _train(self, X, T, y, loss, n_outputs, incremental, sample_weight=None):
        """scikit-learn's stochastic solver loop (``_fit_stochastic``) over fastnet epochs."""
        self._check_params()
        rng = check_random_state(self.random_state)
        fresh = not hasattr(self, "net_") or not (self.warm_start or incremental)
        if fresh:
            self._build(X.shape[1], n_outputs, loss, int(rng.randint(np.iinfo(np.int32).max)),
                        looks_sparse(X))
        elif self.net_.n_outputs != n_outputs or self.net_.loss != loss:
            raise ValueError(f"warm_start/partial_fit: y has {n_outputs} outputs, the fitted "
                             f"network {self.net_.n_outputs}")
        early = self.early_stopping and not incremental
        if self.validation_scores_ is None and early:
            self.validation_scores_ = []
        X_val = y_val = w_val = None
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if early:
            stratify = y if isinstance(self, ClassifierMixin) else None
            arrays = [X, T, y] + ([] if sample_weight is None else [sample_weight])
            parts = train_test_split(*arrays, random_state=rng, stratify=stratify,
                                     test_size=self.validation_fraction)
            X, X_val, T, _, _, y_val = parts[:6]
            if sample_weight is not None:
                sample_weight, w_val = parts[6:]
        n = X.shape[0]
        batch_size = self._batch_size(n)
        if self._optimizer is None or not incremental:   # as scikit-learn: partial_fit keeps it
            mean_weight = 1.0 if sample_weight is None else max(sample_weight.mean(), 1e-12)
            self._optimizer = self._make_optimizer(batch_size, mean_weight)
        opt = self._optimizer
        # every epoch in one fit: the inputs are checked and the kernels planned once
        epochs = _Epochs(self, opt, n, batch_size, early, (X_val, y_val, w_val), incremental)
        self.net_.fit(X, T, epochs=1 if incremental else self.max_iter, batch_size=batch_size,
                      optimizer=opt, seed=int(rng.randint(np.iinfo(np.int32).max)),
                      shuffle=bool(self.shuffle), verbose=False, callbacks=[epochs],
                      on_nan=self.on_nan, class_weight=self._class_ids_weights(),
                      sample_weight=sample_weight)
        chance = self._chance_loss(T)
        if self.loss_curve_ and not self.loss_curve_[-1] <= 2 * chance + 1e-6:
            warnings.warn(ConvergenceWarning(
                f"{type(self).__name__}: the training loss of the last epoch "
                f"({self.loss_curve_[-1]:.4g}) is worse than a constant prediction's "
                f"({chance:.4g}): training failed or diverged; lower learning_rate_init "
                f"({self.learning_rate_init:g}) or scale X (e.g. StandardScaler)"), stacklevel=3)
        if early:
            self.net_.params[...] = self._best_params
            self.best_loss_ = None
        return self

    def _class_ids_weights(self):
        """``class_weight`` keyed by the network's class ids (None for the regressor)."""
        weights = getattr(self, "class_weight", None)
        if weights is None or isinstance(weights, str):
            return weights
        if not isinstance(weights, dict):
            raise ValueError(f"class_weight must be a dict {{label: weight}}, 'balanced' or "
                             f"None, got {weights!r}")
        unknown = [k for k in weights if k not in self.classes_]
        if unknown:
            raise ValueError(f"class_weight names labels {unknown!r} not in classes_ "
                             f"{self.classes_!r}")
        return {int(np.searchsorted(self.classes_, k)): float(v) for k, v in weights.items()}

    def _epoch_loss(self, data_loss, n, batch_size):
        """scikit-learn's reported loss: the mean data loss (the regressor's halved
        squared error per output) + Σ over batches of ½ α ‖W‖² / n."""
        if isinstance(self, RegressorMixin):
            data_loss /= self.net_.n_outputs
        squares = sum(float(np.sum(np.square(layer.W, dtype=np.float64)))
                      for layer in self.net_.layers)
        n_batches = -(-n // batch_size)
        return float(data_loss + n_batches * 0.5 * self.alpha * squares / n)

    def _update_no_improvement_count(self, early, X_val, y_val, w_val):
        if early:
            score = float(self.score(X_val, y_val, sample_weight=w_val))
            self.validation_scores_.append(score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.net_.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _trigger_stopping(self, opt):
        """True to stop; 'adaptive' SGD first divides the learning rate by 5."""
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            return True
        if opt.lr <= MIN_ADAPTIVE_LR:
            return True
        opt.lr /= 5.0
        if self.verbose:
            print(f"Setting learning rate to {opt.lr:f}")
        return False

    def _outputs(self, X):
        check_is_fitted(self, "net_")
        return self.net_.predict_proba(_writable(validate_data(self, X, reset=False,
                                                               dtype=np.float32)))

    def _validate_fit(self, X, y, incremental, **kw):
        reset = not (incremental and hasattr(self, "net_"))
        X, y = validate_data(self, X, y, dtype=np.float32, reset=reset, **kw)
        return _writable(X), y

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        state = dict(super().__getstate__())   # a copy: object.__getstate__ gives __dict__
        net = state.pop("net_", None)
        if net is not None:   # layer arrays are views into params: store params + config
            state["_net_state"] = {"layers": [layer.config() for layer in net.layers],
                                   "loss": net.loss, "seed": net.seed,
                                   "params": net.canonical(net.params),
                                   "sparse_inputs": net.sparse_inputs,
                                   "format_version": FORMAT_VERSION}
            # the flat vectors in the layout of model files (``Network.canonical``)
            opt = state.get("_optimizer")
            if opt is not None and opt.state:
                state["_optimizer"] = opt = copy.copy(opt)
                opt.state = {k: net.canonical(v) for k, v in opt.state.items()}
            if state.get("_best_params") is not None:
                state["_best_params"] = net.canonical(state["_best_params"])
        return state

    def __setstate__(self, state):
        net_state = state.pop("_net_state", None)
        super().__setstate__(state)
        if net_state is not None:
            self.net_ = Network([Dense(**cfg) for cfg in net_state["layers"]],
                                loss=net_state["loss"], seed=net_state.get("seed", 0),
                                sparse_inputs=net_state.get("sparse_inputs", True))
            def relayout(flat):
                return self.net_.from_saved(flat, net_state.get("format_version", 1))
            self.net_.params[...] = relayout(net_state["params"])
            opt = getattr(self, "_optimizer", None)
            if opt is not None and opt.state:
                opt.state = {k: config.aligned_copy(relayout(v)) for k, v in opt.state.items()}
            if getattr(self, "_best_params", None) is not None:
                self._best_params = relayout(self._best_params)

    def summary(self):
        check_is_fitted(self, "net_")
        return self.net_.summary()


class _Epochs:
    """The callback through which one ``Network.fit`` runs scikit-learn's stochastic solver
    loop (``_fit_stochastic``): after each epoch the reported loss, the 'invscaling'
    learning rate, the ``tol`` / ``n_iter_no_change`` rule on the training loss or (with
    ``early_stopping``) on the validation score, and the ConvergenceWarning."""

    def __init__(self, est, opt, n, batch_size, early, validation, incremental):
        self.est, self.opt, self.n, self.batch_size = est, opt, n, batch_size
        self.early, self.validation, self.incremental = early, validation, incremental

    def on_epoch_end(self, net, epoch, logs):
        """True (stop) when the rule says so."""
        est, opt = self.est, self.opt
        est.n_iter_ += 1
        est.t_ += self.n
        est.loss_ = est._epoch_loss(logs["loss"], self.n, self.batch_size)
        est.loss_curve_.append(est.loss_)
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            opt.lr = float(est.learning_rate_init) / (est.t_ + 1) ** est.power_t
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        est._update_no_improvement_count(self.early, *self.validation)
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.early else "Training loss"
            if est._trigger_stopping(opt):
                if est.verbose:
                    print(f"{what} did not improve more than tol={est.tol:f} for "
                          f"{est.n_iter_no_change} consecutive epochs. Stopping.")
                return True
            est._no_improvement_count = 0
        if not self.incremental and est.n_iter_ == est.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) "
                          "reached and the optimization hasn't converged yet.",
                          ConvergenceWarning)
        return False


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by fastnet, with the parameters and
    attributes of ``sklearn.neural_network.MLPClassifier`` (see the module docstring).

    Two classes: one logistic output and binary cross-entropy (``out_activation_`` =
    'logistic'); more: softmax + cross-entropy over ``classes_`` (any labels
    ``LabelEncoder`` accepts).
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, class_weight=None, on_nan="stop"):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, on_nan=on_nan)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y) (from the current weights when ``warm_start``); with
        ``sample_weight`` the loss of a batch is the weighted mean Σ w ℓ / Σ w."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` (every label) is required on the first call."""
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={classes!r} is not the same as on the first call to "
                             f"partial_fit: {self.classes_!r}")
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def _fit(self, X, y, incremental, classes=None, sample_weight=None):
        X, y = self._validate_fit(X, y, incremental)
        check_classification_targets(y)
        y = column_or_1d(y, warn=True)
        if not (incremental and hasattr(self, "classes_")) and not (
                self.warm_start and hasattr(self, "net_")):
            self._encoder = LabelEncoder().fit(y if classes is None else classes)
            self.classes_ = self._encoder.classes_
        unseen = np.setdiff1d(y, self.classes_)
        if len(unseen):
            raise ValueError(f"y contains labels not in classes_ {self.classes_!r}: "
                             f"{unseen[:5]!r}")
        if len(self.classes_) < 2:
            raise ValueError(f"MLPClassifier needs at least 2 classes to learn, got 1 class "
                             f"({self.classes_[0]!r})")
        ids = self._encoder.transform(y)
        if len(self.classes_) == 2:
            self.out_activation_ = "logistic"
            T = ids.astype(np.float32).reshape(-1, 1)
            return self._train(X, T, y, "binary_cross_entropy", 1, incremental, sample_weight)
        self.out_activation_ = "softmax"
        return self._train(X, ids, y, "softmax_cross_entropy", len(self.classes_),
                           incremental, sample_weight)

    @staticmethod
    def _chance_loss(T):
        """The cross-entropy of predicting the class frequencies of the targets T: class
        ids (n,), or 0/1 (n, 1) for two classes."""
        ids = np.asarray(T).reshape(len(T), -1)[:, 0].astype(np.int64)
        p = np.bincount(ids) / len(ids)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    def predict_proba(self, X):
        """(n, n_classes) class probabilities (columns in ``classes_`` order)."""
        p = self._outputs(X).astype(np.float64)
        if p.shape[1] == 1:
            return np.hstack([1 - p, p])
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastnet (identity output, squared
    error), with the parameters and attributes of ``sklearn.neural_network.MLPRegressor``;
    ``y`` may be (n,) or (n, k)."""

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y) (from the current weights when ``warm_start``); with
        ``sample_weight`` the loss of a batch is the weighted mean Σ w ℓ / Σ w."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _fit(self, X, y, incremental, sample_weight=None):
        X, y = self._validate_fit(X, y, incremental, multi_output=True, y_numeric=True)
        y = np.asarray(y, np.float64)
        self._y_1d = y.ndim == 1
        T = y.reshape(len(y), -1).astype(np.float32)
        self.out_activation_ = "identity"
        return self._train(X, T, y, "sum_of_squares", T.shape[1], incremental, sample_weight)

    @staticmethod
    def _chance_loss(T):
        """The loss ½ Σ_k var(T_k) of predicting the mean of the targets T (n, k)."""
        return 0.5 * float(np.var(T, axis=0, dtype=np.float64).sum())

    def predict(self, X):
        out = self._outputs(X).astype(np.float64)
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
