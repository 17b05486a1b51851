"""The first layer's layout follows its inputs (``Network(sparse_inputs=)``): Wᵀ (in, out)
for sparse inputs, whose zero blocks the kernels skip, W (out, in) like the other layers
for dense ones. It is the same model either way; model files and pickles do not depend on
it; ``fastnet train`` and the estimators choose it from the data."""
import json
import pickle
import zipfile

import numpy as np
import pytest
from conftest import KernelCount

import fastnet as fn
from fastnet import compiler, inputs, passes, precompile
from fastnet.sklearn import MLPClassifier


def pair(**kw):
    """The same network in both layouts: (sparse, dense)."""
    return [fn.Network([fn.Dense(12, 40, activation="relu"),
                        fn.Dense(40, 9, activation="tanh"), fn.Dense(9, 3)],
                       seed=3, sparse_inputs=sparse, **kw) for sparse in (True, False)]


def dense_data(n=96):
    X = np.random.default_rng(0).normal(size=(n, 12)).astype(np.float32)
    return X, np.arange(n) % 3


def test_either_layout_is_the_same_model():
    sparse, dense = pair(dtype=np.float64)
    assert sparse.layers[0].W.flags.f_contiguous and dense.layers[0].W.flags.c_contiguous
    np.testing.assert_array_equal(sparse.layers[0].W, dense.layers[0].W)   # same draw
    X, y = dense_data()
    assert sparse.loss_and_gradient(X, y) == pytest.approx(dense.loss_and_gradient(X, y),
                                                           rel=1e-12)
    for a, b in zip(sparse.layers, dense.layers):
        np.testing.assert_allclose(a.dW, b.dW, rtol=1e-10, atol=1e-13)
    for net in (sparse, dense):
        net.fit(X, y, epochs=3, batch_size=16, optimizer=fn.Adam(0.01), verbose=False)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X), atol=1e-10)
    np.testing.assert_allclose(sparse.canonical(sparse.params), dense.canonical(dense.params),
                               atol=1e-10)


def test_a_dense_layout_trains_bit_for_bit_again_and_compiles_nothing_mid_run():
    X, y = dense_data(200)
    runs = []
    for _ in range(2):
        net = pair()[1]
        count = KernelCount()
        net.fit(X, y, epochs=2, batch_size=32, optimizer=fn.SGD(0.05, momentum=0.9),
                validation_split=0.2, verbose=False, callbacks=[count])
        assert count.end == count.begin
        runs.append(net.params.copy())
    np.testing.assert_array_equal(*runs)
    assert not {k for k, _ in passes.planned_calls(
        net, X, 1.0, inputs.encode_targets(net, y, len(y)), 0)} & {
        passes.dense_forward_in_major}   # one kernel fewer to compile


def test_typical_calls_cover_a_dense_first_layer():
    net = pair()[1]
    X, y = dense_data()
    Xc, scale = inputs.as_input(net, X)
    T = inputs.encode_targets(net, y, len(y))

    def signatures(calls):
        return {(k.py_func.__name__, compiler.signature(k, a)) for k, a in calls}
    planned = signatures(passes.planned_calls(net, Xc, scale, T, fn.SGD(0.1).kind, Xc))
    assert planned <= signatures(precompile.typical_calls())


def test_model_files_do_not_depend_on_the_layout(tmp_path):
    sparse, dense = pair()
    X, y = dense_data()
    dense.fit(X, y, epochs=2, batch_size=16, optimizer=fn.Adam(0.01), verbose=False)
    sparse.params[...] = sparse.from_canonical(dense.canonical(dense.params))
    np.testing.assert_array_equal(sparse.layers[0].W, dense.layers[0].W)
    fn.save(dense, tmp_path / "dense.npz")
    fn.save(sparse, tmp_path / "sparse.npz", optimizer=None)
    archives = [np.load(tmp_path / f"{n}.npz") for n in ("dense", "sparse")]
    np.testing.assert_array_equal(archives[0]["params"], archives[1]["params"])
    for name, flag in (("dense", False), ("sparse", None)):
        with zipfile.ZipFile(tmp_path / f"{name}.npz") as z:
            assert json.loads(z.read("meta.json")).get("sparse_inputs") is flag
    back = fn.load(tmp_path / "dense.npz")
    assert back.sparse_inputs is False
    np.testing.assert_array_equal(back.params, dense.params)
    np.testing.assert_array_equal(back.predict_proba(X), dense.predict_proba(X))
    for k, v in dense.optimizer.state.items():
        np.testing.assert_array_equal(back.optimizer.state[k], v)


@pytest.mark.parametrize("X, scale, sparse", [
    (np.r_[np.zeros((90, 20)), np.ones((10, 20))].astype(np.uint8), "auto", True),
    (np.r_[np.zeros((90, 20)), np.ones((10, 20))].astype(np.uint8), "none", True),
    (np.r_[np.zeros((90, 20)), np.ones((10, 20))].astype(np.uint8), "standard", False),
    (np.full((100, 20), 200, np.uint8), "auto", False),   # light background: centred
    (np.r_[np.zeros((90, 20)), np.ones((10, 20))], "none", True),
    (np.r_[np.zeros((90, 20)), np.ones((10, 20))], "auto", False),   # floats: standardised
    (np.random.default_rng(0).normal(size=(100, 20)), "none", False),
    # 80 % zeros scattered at random: 3 % of the 4 x 4 blocks the sparse kernels skip
    (np.where(np.random.default_rng(0).random((400, 40)) < 0.8, 0, 1.0), "none", False),
    (np.c_[np.ones((400, 10)), np.zeros((400, 30))], "none", True),   # 75 % of blocks 0
    (np.zeros((0, 20)), "none", False),
])
def test_looks_sparse(X, scale, sparse):
    assert inputs.looks_sparse(X, scale) is sparse


def test_estimators_choose_the_layout_from_the_data_and_pickle_it():
    X, y = dense_data(120)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(X, y)
    assert clf.net_.sparse_inputs is False
    back = pickle.loads(pickle.dumps(clf))
    assert back.net_.sparse_inputs is False
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.coefs_[0], clf.coefs_[0])
    mostly_zero = np.c_[X, np.zeros((len(X), 3 * X.shape[1]))]   # unused features, as blank pixels
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    assert clf.fit(mostly_zero, y).net_.sparse_inputs is True


def test_the_argument_is_checked():
    with pytest.raises((TypeError, ValueError), match="sparse_inputs"):
        fn.Network([fn.Dense(3, 2)], sparse_inputs="yes")


def test_a_dense_first_layer_with_prelu_dropout_weights_and_clipping():
    X, y = dense_data(120)
    trained = []
    for sparse in (True, False):
        net = fn.Network([fn.Dense(12, 24, activation="prelu", dropout=0.3), fn.Dense(24, 3)],
                         seed=1, sparse_inputs=sparse, dtype=np.float64)
        count = KernelCount()
        net.fit(X, y, epochs=2, batch_size=32, optimizer=fn.Adam(0.01, clipnorm=1.0),
                class_weight="balanced", validation_split=0.25, verbose=False,
                callbacks=[count])
        assert count.end == count.begin
        trained.append(net)
    np.testing.assert_allclose(trained[0].predict_proba(X), trained[1].predict_proba(X),
                               atol=1e-10)   # the same masks and steps: the same model


def test_estimator_pickles_keep_optimizer_state_and_best_weights_in_the_file_layout():
    X, y = dense_data(120)
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", momentum=0.9, max_iter=2,
                        random_state=0, early_stopping=True, n_iter_no_change=5).fit(X, y)
    net, state = clf.net_, clf.__getstate__()
    assert net.sparse_inputs is False and clf._best_params is not None
    np.testing.assert_array_equal(state["_best_params"], net.canonical(clf._best_params))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf))._best_params,
                                  clf._best_params)
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", momentum=0.9, max_iter=2,
                        random_state=0).fit(X, y)
    clf.partial_fit(X, y)
    net, state = clf.net_, clf.__getstate__()
    assert clf._optimizer.state
    for k, v in clf._optimizer.state.items():
        np.testing.assert_array_equal(state["_optimizer"].state[k], net.canonical(v))
    back = pickle.loads(pickle.dumps(clf))
    for k, v in clf._optimizer.state.items():
        np.testing.assert_array_equal(back._optimizer.state[k], v)
    back.partial_fit(X, y)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(back.net_.params, clf.net_.params)


def test_unit_scaling_of_negative_features_is_dense():
    X = np.zeros((100, 20))
    X[:, :4] = -1.0   # 80 % of the 4 x 4 blocks zero, but negative values
    assert inputs.looks_sparse(X, "none") and not inputs.looks_sparse(X, "unit")


def test_saving_with_another_networks_optimizer_says_so(tmp_path):
    sparse, dense = pair()
    X, y = dense_data()
    small = fn.Network([fn.Dense(12, 3)], sparse_inputs=False)
    small.fit(X, y, epochs=1, batch_size=32, optimizer=fn.Adam(0.01), verbose=False)
    with pytest.raises(ValueError, match="optimizer .* of another network"):
        fn.save(dense, tmp_path / "m.npz", optimizer=small.optimizer)
    assert not (tmp_path / "m.npz").exists()
