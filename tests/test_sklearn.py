"""scikit-learn compatibility: every estimator check, Pipeline, GridSearchCV, pickling.

No check is skipped or marked xfail: ``parametrize_with_checks`` runs the full
``check_estimator`` suite of scikit-learn on both estimators.
"""
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastnet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@parametrize_with_checks([MLPClassifier(hidden_layer_sizes=(16,), epochs=60, random_state=0),
                          MLPRegressor(hidden_layer_sizes=(16,), epochs=60, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


def test_pipeline_and_grid_search(digits):
    X_tr, X_te, y_tr, y_te = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(epochs=15, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(16,), (64,)],
                                 "mlpclassifier__learning_rate": [1e-3, 1e-2]}, cv=2)
    search.fit(X_tr, y_tr)
    assert set(search.best_params_) == {"mlpclassifier__hidden_layer_sizes",
                                        "mlpclassifier__learning_rate"}
    assert search.score(X_te, y_te) > 0.93


def test_string_labels_probabilities_and_pickle(digits):
    X_tr, X_te, y_tr, y_te = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    clf = MLPClassifier(hidden_layer_sizes=(32,), epochs=20, random_state=1)
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
    assert clf.set_params(epochs=3).epochs == 3


def test_regressor_scores_and_early_stopping():
    X, y = make_regression(400, 5, noise=5.0, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(32,), epochs=300, early_stopping=True, patience=5,
                       random_state=0)
    reg.fit(X, y * 100)       # scale of y does not matter: it is standardised
    assert reg.score(X, y * 100) > 0.95
    assert reg.n_iter_ < 300 and len(reg.loss_curve_) == reg.n_iter_


def test_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        MLPClassifier().fit(np.zeros((5, 2)), np.ones(5))
