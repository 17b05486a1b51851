"""scikit-learn estimators on fastnet's kernels (needs the optional scikit-learn).

    from fastnet.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(64,), epochs=20, random_state=0).fit(X, y)
    clf.predict(X_test); clf.predict_proba(X_test); clf.score(X_test, y_test)

Both estimators work in ``Pipeline`` and ``GridSearchCV`` and pass
``sklearn.utils.estimator_checks.check_estimator`` with no check skipped or
expected to fail (see tests/test_sklearn.py).

* ``MLPClassifier``: softmax output + cross-entropy over ``classes_`` (any labels
  ``LabelEncoder`` accepts); needs at least two classes.
* ``MLPRegressor``: identity output + sum of squares; ``y`` of shape (n,) or (n, k).
  Targets are standardised while training (``y' = (y - mean) / std``) and mapped back in
  ``predict``, so the learning rate does not depend on their scale.

Inputs are validated by scikit-learn (finite, 2-D, numeric) and cast to float32; the
network is ``fastnet.Network`` with the hidden layers given, trained by ``Network.fit``.
Use ``StandardScaler`` in a pipeline for unscaled features, as for any MLP.
"""
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import checks
from .callbacks import EarlyStopping
from .catalogue import OPTIMIZERS
from .io import FORMAT_VERSION
from .layers import Dense
from .network import Network


def _writable(X):
    """A C-contiguous writable float32 array: read-only inputs (memmaps) would make Numba
    compile another specialisation of the gather kernel."""
    return np.require(X, np.float32, ["C", "W"])


class _BaseMLP(BaseEstimator):
    _loss = None

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", optimizer="adam",
                 learning_rate=None, weight_decay=None, momentum=None, batch_size=32,
                 epochs=200, early_stopping=False, validation_fraction=0.1, patience=10,
                 on_nan="stop", random_state=None, verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.on_nan = on_nan
        self.random_state = random_state
        self.verbose = verbose

    # -------------------------------------------------------------- training
    def _make_optimizer(self):
        """The optimizer spec; hyper-parameters left None take the catalogue's defaults."""
        name = checks.choice("optimizer", self.optimizer, OPTIMIZERS)
        spec = {"name": name}
        for param, key in (("learning_rate", "lr"), ("weight_decay", "weight_decay"),
                           ("momentum", "momentum")):
            value = getattr(self, param)
            if value is not None and key not in OPTIMIZERS[name]:
                raise ValueError(f"{param} does not apply to optimizer {name!r}")
            if value is not None:
                spec[key] = value
        return spec

    def _train(self, X, T, n_outputs):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if np.isscalar(sizes) else list(sizes)
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        dims = [X.shape[1], *map(int, sizes), n_outputs]
        layers = [Dense(dims[i], dims[i + 1], activation=self.activation)
                  for i in range(len(dims) - 2)]
        layers.append(Dense(dims[-2], dims[-1]))
        self.net_ = Network(layers, loss=self._loss, seed=seed)
        callbacks, split = [], 0.0
        if self.early_stopping:
            split = self.validation_fraction
            callbacks.append(EarlyStopping("val_loss", patience=self.patience,
                                           restore_best_weights=True))
        history = self.net_.fit(X, T, epochs=self.epochs, batch_size=self.batch_size,
                                optimizer=self._make_optimizer(), validation_split=split,
                                seed=seed, verbose=self.verbose, callbacks=callbacks,
                                on_nan=self.on_nan)
        self.history_ = dict(history)
        self.loss_curve_ = list(history.get("loss", []))
        self.n_iter_ = len(self.loss_curve_)
        chance = self._chance_loss(T)
        if self.loss_curve_ and not self.loss_curve_[-1] <= 2 * chance:
            warnings.warn(ConvergenceWarning(
                f"{type(self).__name__}: the training loss of the last epoch "
                f"({self.loss_curve_[-1]:.4g}) is worse than a constant prediction's "
                f"({chance:.4g}): training failed or diverged; lower learning_rate "
                f"({self._make_optimizer().get('lr', 'default')}) or scale X (e.g. "
                "StandardScaler)"), stacklevel=3)
        return self

    def _outputs(self, X):
        check_is_fitted(self, "net_")
        return self.net_.predict_proba(_writable(validate_data(self, X, reset=False,
                                                               dtype=np.float32)))

    def _validate_fit(self, X, y, **kw):
        X, y = validate_data(self, X, y, dtype=np.float32, **kw)
        return _writable(X), y

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        state = dict(super().__getstate__())   # a copy: object.__getstate__ gives __dict__
        net = state.pop("net_", None)
        if net is not None:   # layer arrays are views into params: store params + config
            state["_net_state"] = {"layers": [layer.config() for layer in net.layers],
                                   "loss": net.loss, "params": net.params.copy(),
                                   "format_version": FORMAT_VERSION}
        return state

    def __setstate__(self, state):
        net_state = state.pop("_net_state", None)
        super().__setstate__(state)
        if net_state is not None:
            self.net_ = Network([Dense(**cfg) for cfg in net_state["layers"]],
                                loss=net_state["loss"])
            params = net_state["params"]
            if net_state.get("format_version", 1) == 1:  # pickled with every W (out, in)
                params = self.net_._from_out_major(params)
            self.net_.params[...] = params

    def summary(self):
        check_is_fitted(self, "net_")
        return self.net_.summary()


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (softmax + cross-entropy) trained by fastnet.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
    activation : str, default "relu" (any fastnet activation)
    optimizer : "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"
    learning_rate, weight_decay, momentum : optimizer hyper-parameters; None (the
        default) takes the optimizer's default from ``fastnet.catalogue.OPTIMIZERS``
        (adam: learning rate 0.001, no weight decay)
    batch_size, epochs : minibatch size and number of passes over the data
    early_stopping : hold out ``validation_fraction`` and stop when its loss has not
        improved for ``patience`` epochs (restoring the best weights)
    on_nan : "stop", "skip" or "halve" (see ``fastnet.train.fit``)
    random_state : int, RandomState or None; seeds weights and shuffling

    Attributes
    ----------
    classes_, n_features_in_, net_ (the fastnet.Network), loss_curve_, n_iter_, history_
    """

    _loss = "softmax_cross_entropy"

    def fit(self, X, y):
        X, y = self._validate_fit(X, y)
        check_classification_targets(y)
        y = column_or_1d(y, warn=True)
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"MLPClassifier needs at least 2 classes to learn, got 1 class "
                             f"({self.classes_[0]!r})")
        return self._train(X, self._encoder.transform(y), len(self.classes_))

    @staticmethod
    def _chance_loss(ids):
        """The cross-entropy of predicting the class frequencies of ``ids``."""
        p = np.bincount(ids) / len(ids)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    def predict_proba(self, X):
        """(n, n_classes) class probabilities (columns in ``classes_`` order)."""
        p = self._outputs(X).astype(np.float64)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        out = self._outputs(X)
        return self.classes_[np.argmax(out, axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (identity output, sum of squares) trained by
    fastnet; the parameters are those of ``MLPClassifier``. ``y`` may be (n,) or (n, k);
    it is standardised for training and predictions are mapped back."""

    _loss = "sum_of_squares"

    def fit(self, X, y):
        X, y = self._validate_fit(X, y, multi_output=True, y_numeric=True)
        y = np.asarray(y, np.float64)
        self._y_1d = y.ndim == 1
        Y = y.reshape(len(y), -1)
        self._y_mean = Y.mean(axis=0)
        std = Y.std(axis=0)
        self._y_std = np.where(std > 0, std, 1.0)
        return self._train(X, ((Y - self._y_mean) / self._y_std).astype(np.float32), Y.shape[1])

    @staticmethod
    def _chance_loss(T):
        """At most the loss of predicting the mean of standardised targets T (n, k)."""
        return float(T.shape[1])

    def predict(self, X):
        out = self._outputs(X).astype(np.float64) * self._y_std + self._y_mean
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
