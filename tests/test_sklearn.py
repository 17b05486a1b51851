"""scikit-learn compatibility: every estimator check, drop-in parity with
``sklearn.neural_network`` (same parameters, attributes and scores), Pipeline,
GridSearchCV, pickling, partial_fit, warm_start.

``parametrize_with_checks`` runs the full ``check_estimator`` suite of scikit-learn on both
estimators; one check is expected to fail: sample weights equal repeated samples to float32
rounding only (1e-6 relative, the check asks 1e-7), tested to that tolerance here.
"""
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import neural_network  # noqa: E402
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits,  # noqa: E402
                              make_regression)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastnet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

ATTRIBUTES = ("coefs_", "intercepts_", "loss_curve_", "best_loss_", "validation_scores_",
              "n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_", "loss_",
              "n_features_in_")


FLOAT32_ROUNDING = {
    "check_sample_weight_equivalence_on_dense_data":
        "weights equal repeated samples up to float32 rounding (relative 1e-6 after 200 "
        "Adam epochs; the check asks 1e-7): see test_sample_weight_equals_repeated_samples"}


@parametrize_with_checks([MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01,
                                        random_state=0),
                          MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01,
                                       random_state=0)],
                         expected_failed_checks=lambda estimator: FLOAT32_ROUNDING)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _standardised(X_tr, X_te):
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te)


def _side_by_side(Ours, Theirs, X, y, **params):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
    X_tr, X_te = _standardised(X_tr, X_te)
    fitted = []
    for cls in (Ours, Theirs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted.append(cls(random_state=0, **params).fit(X_tr, y_tr))
    ours, theirs = fitted
    for name in ATTRIBUTES:
        assert hasattr(ours, name) == hasattr(theirs, name), name
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    assert (ours.n_layers_, ours.n_outputs_, ours.out_activation_) == (
        theirs.n_layers_, theirs.n_outputs_, theirs.out_activation_)
    return ours.score(X_te, y_te), theirs.score(X_te, y_te), ours, theirs


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_digits_side_by_side_with_sklearn(solver):
    X, y = load_digits(return_X_y=True)
    ours, theirs, clf, ref = _side_by_side(MLPClassifier, neural_network.MLPClassifier, X, y,
                                           hidden_layer_sizes=(32,), max_iter=40,
                                           solver=solver, learning_rate_init=0.01)
    assert abs(ours - theirs) < 0.03 and ours > 0.93
    np.testing.assert_array_equal(clf.classes_, ref.classes_)
    assert clf.n_iter_ == len(clf.loss_curve_) <= 40
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_breast_cancer_side_by_side_with_sklearn():
    X, y = load_breast_cancer(return_X_y=True)
    ours, theirs, clf, ref = _side_by_side(MLPClassifier, neural_network.MLPClassifier, X, y,
                                           max_iter=50, early_stopping=True)
    assert abs(ours - theirs) < 0.04 and ours > 0.88
    assert clf.out_activation_ == "logistic" and clf.coefs_[-1].shape == (100, 1)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_diabetes_side_by_side_with_sklearn():
    X, y = load_diabetes(return_X_y=True)
    ours, theirs, reg, ref = _side_by_side(MLPRegressor, neural_network.MLPRegressor, X, y,
                                           hidden_layer_sizes=(32,), learning_rate_init=0.05,
                                           max_iter=300)
    assert abs(ours - theirs) < 0.1 and ours > 0.2
    # the loss curve is scikit-learn's: half the squared error (+ the L2 term)
    assert reg.loss_curve_[0] > 0.5 * np.var(y) and reg.loss_curve_[-1] < 0.5 * np.var(y)


def test_convergence_rule_and_warning():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    # a tolerance no loss can beat: stops after n_iter_no_change + 1 epochs without gain
    clf = MLPClassifier(hidden_layer_sizes=(8,), tol=100.0, n_iter_no_change=4, max_iter=50,
                        random_state=0).fit(X, y)
    assert clf.n_iter_ == 6
    assert clf.best_loss_ == min(clf.loss_curve_)


def test_an_estimator_fit_checks_its_inputs_and_plans_its_kernels_once(monkeypatch):
    """Not once per epoch: the per-fit work of fastnet.train.fit runs once for all the
    epochs of an estimator's fit, and the epochs are scikit-learn's (tol rule included)."""
    from fastnet import compiler, inputs
    X, y = load_digits(return_X_y=True)
    calls = []
    for name, module in [("warm", compiler), ("check_finite", inputs)]:
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name, **k:
                            calls.append(name) or real(*a, **k))
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(7\\)"):
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=7, random_state=0).fit(X / 16, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == 7 and clf.t_ == 7 * len(X)
    assert calls.count("warm") == 1 and calls.count("check_finite") <= 2   # X and T
    calls.clear()
    clf = MLPClassifier(hidden_layer_sizes=(8,), tol=100.0, n_iter_no_change=2, max_iter=50,
                        random_state=0, early_stopping=True).fit(X / 16, y)
    assert clf.n_iter_ == 4 == len(clf.validation_scores_) and calls.count("warm") == 1


def test_adaptive_learning_rate_divides_by_five():
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate="adaptive",
                        tol=100.0, n_iter_no_change=2, max_iter=7, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X / 16, y)
    assert clf.n_iter_ == 7    # 'adaptive' does not stop while lr > 1e-6
    assert clf._optimizer.lr == pytest.approx(0.001 / 25)


def test_invscaling_learning_rate():
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate="invscaling",
                        power_t=0.5, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X / 16, y)
    assert clf._optimizer.lr == pytest.approx(0.001 / (2 * len(X) + 1) ** 0.5)


def test_partial_fit_and_warm_start():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X[:100], y[:100])
    for s in range(0, len(X), 300):
        clf.partial_fit(X[s:s + 300], y[s:s + 300], classes=np.arange(10))
    assert clf.n_iter_ == len(range(0, len(X), 300)) and clf.t_ == len(X)
    assert list(clf.classes_) == list(range(10))
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y.astype(float))
        first = reg.coefs_[0].copy()
        reg.fit(X, y.astype(float))
    assert reg.n_iter_ == 10 and len(reg.loss_curve_) == 10
    assert not np.array_equal(first, reg.coefs_[0])


def test_lbfgs_and_bad_parameters_are_clear_errors():
    X, y = np.zeros((10, 2)), np.arange(10) % 2
    with pytest.raises(ValueError, match="lbfgs.*not supported"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="learning_rate must be one of"):
        MLPClassifier(learning_rate=0.1).fit(X, y)
    with pytest.raises(ValueError, match="activation must be one of"):
        MLPClassifier(activation="bogus").fit(X, y)


def test_logistic_activation_and_coefs_layout():
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(16, 8), activation="logistic", max_iter=2,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X / 16, y)
    assert clf.net_.layers[0].activation == "sigmoid"
    assert [c.shape for c in clf.coefs_] == [(64, 16), (16, 8), (8, 10)]
    # the forward pass from coefs_/intercepts_ reproduces predict_proba
    h = X / 16
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        h = 1 / (1 + np.exp(-(h @ W + b)))
    u = h @ clf.coefs_[-1] + clf.intercepts_[-1]
    p = np.exp(u - u.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p / p.sum(axis=1, keepdims=True), clf.predict_proba(X / 16),
                               atol=1e-5)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


def test_pipeline_and_grid_search(digits):
    X_tr, X_te, y_tr, y_te = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=15, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(16,), (64,)],
                                 "mlpclassifier__learning_rate_init": [1e-3, 1e-2]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_tr, y_tr)
    assert set(search.best_params_) == {"mlpclassifier__hidden_layer_sizes",
                                        "mlpclassifier__learning_rate_init"}
    assert search.score(X_te, y_te) > 0.93


def test_string_labels_probabilities_and_pickle(digits):
    X_tr, X_te, y_tr, y_te = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=20, learning_rate_init=0.01,
                        random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_tr / 16, names[y_tr])
    assert list(clf.classes_) == sorted(names)
    proba = clf.predict_proba(X_te / 16)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert (clf.predict(X_te / 16) == clf.classes_[proba.argmax(axis=1)]).all()
    assert clf.score(X_te / 16, names[y_te]) > 0.9
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X_te / 16), proba)
    # a pickle of an older fastnet (no format_version: every W stored (out, in)) still loads
    state = clf.__getstate__()
    first = clf.net_.layers[0]
    old = state["_net_state"]
    del old["format_version"]
    n = first.W.size
    old["params"][:n] = first.W.ravel()
    older = MLPClassifier.__new__(MLPClassifier)
    older.__setstate__(state)
    np.testing.assert_array_equal(older.predict_proba(X_te / 16), proba)
    assert clf.get_params()["hidden_layer_sizes"] == (32,)
    assert clf.set_params(max_iter=3).max_iter == 3


def test_regressor_early_stopping():
    X, y = make_regression(400, 5, noise=5.0, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300,
                       early_stopping=True, n_iter_no_change=5, random_state=0)
    reg.fit(X, y / y.std())
    assert reg.score(X, y / y.std()) > 0.95
    assert reg.n_iter_ < 300 and len(reg.validation_scores_) == reg.n_iter_


def test_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        MLPClassifier().fit(np.zeros((5, 2)), np.ones(5))


def test_class_weight_and_dropout_extras():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    labels = np.where(y == 1, "benign", "malignant")
    params = dict(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPClassifier(**params).fit(X, labels)
        heavy = MLPClassifier(class_weight={"malignant": 20.0}, **params).fit(X, labels)
        dropped = MLPClassifier(dropout=0.3, **params).fit(X, labels)
    assert (heavy.predict(X) == "malignant").sum() > (plain.predict(X) == "malignant").sum()
    assert dropped.net_.layers[0].dropout == 0.3 and dropped.score(X, labels) > 0.9
    with pytest.raises(ValueError, match="not in classes_"):
        MLPClassifier(class_weight={"other": 2.0}, **params).fit(X, labels)


def test_sample_weight_equals_repeated_samples():
    X, y = load_digits(return_X_y=True)
    X, y = X[:150] / 16, y[:150]
    w = np.random.default_rng(0).integers(0, 3, size=150)
    params = dict(hidden_layer_sizes=(16,), max_iter=20, learning_rate_init=0.01,
                  shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPClassifier(**params).fit(X, y, sample_weight=w)
        repeated = MLPClassifier(**params).fit(X.repeat(w, axis=0), y.repeat(w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-4)
