"""Bad input at the API boundary: one row per case, the error type and the words
of its message (the argument's name, what was expected, what was given)."""
import numpy as np
import pytest

import fastnet as fn
from fastnet import SGD, AdaGrad, Adam, Cosine, Dense, Network, RMSProp, StepDecay
from fastnet.inputs import as_input, validation_data
from fastnet.optimizers import make_optimizer

N, C, K = 20, 6, 3
_rng = np.random.default_rng(0)
X = _rng.standard_normal((N, C)).astype(np.float32)
Y = _rng.integers(0, K, N)


def clf(**kw):
    """A small softmax classifier C -> 4 -> K."""
    return Network([Dense(C, 4, activation="relu"), Dense(4, K)], **kw)


def bce():
    return Network([Dense(C, K)], loss="binary_cross_entropy")


def reg():
    return Network([Dense(C, K)], loss="sum_of_squares")


def fit(**kw):
    args = dict(epochs=1, batch_size=8, verbose=False)
    args.update(kw)
    X_, y_ = args.pop("X", X), args.pop("y", Y)
    return (args.pop("net", None) or clf()).fit(X_, y_, **args)


def with_value(a, index, value):
    a = a.copy()
    a[index] = value
    return a


SHARED = Dense(4, 4)
LIVE = clf()


class NoHook:
    pass


CASES = [
    # ---------------------------------------------------------------- Dense
    ("dense-in-zero", lambda: Dense(0, 10), ValueError, ["in_features", ">= 1", "got 0"]),
    ("dense-out-negative", lambda: Dense(10, -3), ValueError, ["out_features", ">= 1", "-3"]),
    ("dense-in-float", lambda: Dense(2.5, 10), TypeError, ["in_features", "integer", "2.5"]),
    ("dense-out-string", lambda: Dense(10, "10"), TypeError, ["out_features", "integer", "'10'"]),
    ("dense-in-bool", lambda: Dense(True, 10), TypeError, ["in_features", "integer", "True"]),
    ("dense-activation-typo", lambda: Dense(4, 4, activation="rellu"), ValueError,
     ["unknown activation", "'rellu'", "did you mean 'relu'"]),
    ("dense-activation-none", lambda: Dense(4, 4, activation=None), TypeError,
     ["activation must be a string", "None"]),
    ("dense-init", lambda: Dense(4, 4, init="glorot"), ValueError,
     ["unknown init", "'glorot'", "'he'", "'xavier'"]),
    ("dense-negative-slope-nan", lambda: Dense(4, 4, "leaky_relu", negative_slope=float("nan")),
     ValueError, ["negative_slope", "finite", "nan"]),
    ("dense-rrelu-order", lambda: Dense(4, 4, "rrelu", rrelu_range=(0.3, 0.1)), ValueError,
     ["rrelu_range upper", ">= 0.3", "0.1"]),
    ("dense-rrelu-scalar", lambda: Dense(4, 4, "rrelu", rrelu_range=0.2), TypeError,
     ["rrelu_range", "pair", "0.2"]),
    ("dense-bias-string", lambda: Dense(4, 4, bias="no"), TypeError,
     ["bias must be True or False", "'no'"]),
    # ---------------------------------------------------------------- Network
    ("net-sizes-do-not-chain", lambda: Network([Dense(784, 256), Dense(128, 10)]), ValueError,
     ["do not chain", "layers[0]", "Dense(784, 256", "layers[1]", "Dense(128, 10", "outputs 256",
      "expects 128"]),
    ("net-empty", lambda: Network([]), ValueError, ["at least one Dense layer", "empty"]),
    ("net-single-layer-not-list", lambda: Network(Dense(4, 2)), TypeError,
     ["layers must be a list", "Dense"]),
    ("net-not-a-layer", lambda: Network([Dense(4, 4), "relu"]), TypeError,
     ["layers[1]", "fastnet.Dense", "str"]),
    ("net-same-layer-twice", lambda: Network([SHARED, SHARED]), ValueError,
     ["layers[1] = Dense(4, 4", "appears twice", "Dense(**layer.config())"]),
    ("net-layer-of-another-network", lambda: Network(LIVE.layers), ValueError,
     ["layers[0] = Dense(6, 4", "already belongs to another Network"]),
    ("net-loss-typo", lambda: Network([Dense(4, 2)], loss="crossentropy"), ValueError,
     ["unknown loss", "'crossentropy'", "did you mean 'cross_entropy'"]),
    ("net-loss-not-str", lambda: Network([Dense(4, 2)], loss=None), TypeError,
     ["loss must be a string", "None"]),
    ("net-softmax-one-output", lambda: Network([Dense(4, 1)]), ValueError,
     ["at least 2 outputs", "Dense(4, 1", "binary_cross_entropy"]),
    ("net-hidden-softmax", lambda: Network([Dense(4, 4, "softmax"), Dense(4, 2)]), ValueError,
     ["softmax", "layers[0] = Dense(4, 4", "hidden"]),
    ("net-bce-softmax-output", lambda: Network([Dense(4, 2, "softmax")], loss="bce"), ValueError,
     ["'bce'", "sigmoid", "'softmax'"]),
    ("net-dtype-float16", lambda: clf(dtype=np.float16), TypeError,
     ["dtype", "float32 or float64", "float16"]),
    ("net-dtype-nonsense", lambda: clf(dtype="nope"), TypeError, ["dtype", "float32", "'nope'"]),
    ("net-seed-negative", lambda: clf(seed=-1), ValueError, ["seed", ">= 0", "-1"]),
    ("init-weights-seed", lambda: clf().init_weights(seed=-2), ValueError, ["seed", ">= 0", "-2"]),
    ("net-seed-float", lambda: clf(seed=1.5), TypeError, ["seed", "integer", "1.5"]),
    # ---------------------------------------------------------------- X
    ("X-1d", lambda: fit(X=X[0]), ValueError, ["X must be a 2-D array", "1-D", "(6,)",
                                                "reshape(1, -1)"]),
    ("X-3d", lambda: fit(X=X.reshape(N, 2, 3)), ValueError, ["X must be a 2-D", "3-D",
                                                             "(20, 2, 3)"]),
    ("X-wrong-width", lambda: fit(X=X[:, :5]), ValueError,
     ["X has 5 features", "Dense(6, 4", "expects 6", "(20, 5)"]),
    ("X-no-samples", lambda: fit(X=X[:0], y=Y[:0]), ValueError, ["X has no samples", "(0, 6)"]),
    ("X-nan", lambda: fit(X=with_value(X, (3, 2), np.nan)), ValueError,
     ["X must be finite", "1 NaN or infinite", "(3, 2)", "nan"]),
    ("X-inf", lambda: fit(X=with_value(X, (0, 0), -np.inf)), ValueError,
     ["X must be finite", "(0, 0)", "-inf"]),
    ("X-float64-beyond-float32", lambda: fit(X=with_value(X.astype(np.float64), (1, 1), 1e300)),
     ValueError, ["X must be finite", "(1, 1)", "inf"]),
    ("X-bool", lambda: fit(X=X > 0), TypeError, ["X must hold real numbers", "dtype bool"]),
    ("X-complex", lambda: fit(X=X.astype(complex)), TypeError, ["X", "real numbers",
                                                                "complex128"]),
    ("X-object", lambda: fit(X=X.astype(object)), TypeError, ["X", "real numbers", "object"]),
    ("X-strings", lambda: fit(X=X.astype(str)), TypeError, ["X", "real numbers", "<U"]),
    ("X-ragged", lambda: fit(X=[[1.0, 2.0], [3.0]]), TypeError,
     ["X must be an array of numbers", "list"]),
    ("X-none", lambda: fit(X=None), TypeError, ["X must hold real numbers", "object"]),
    # ---------------------------------------------------------------- y
    ("y-wrong-length", lambda: fit(y=Y[:-1]), ValueError, ["y must have 20 rows", "(19,)"]),
    ("y-class-too-big", lambda: fit(y=with_value(Y, 4, K)), ValueError,
     ["y must hold class ids in [0, 3)", "3 outputs", "got 3", "index 4"]),
    ("y-class-negative", lambda: fit(y=with_value(Y, 0, -1)), ValueError,
     ["class ids in [0, 3)", "got -1"]),
    ("y-class-fractional", lambda: fit(y=with_value(Y.astype(float), 2, 1.5)), ValueError,
     ["y must hold integer class ids", "1.5", "float64"]),
    ("y-class-nan", lambda: fit(y=with_value(Y.astype(float), 2, np.nan)), ValueError,
     ["y must hold integer class ids", "nan"]),
    ("y-one-hot-wrong-width", lambda: fit(y=np.eye(4)[Y]), ValueError,
     ["y must be class ids", "shape (20, 3)", "(20, 4)"]),
    ("y-soft-labels-not-summing-to-1", lambda: fit(y=2 * np.eye(K)[Y]), ValueError,
     ["y rows must be class probabilities", "summing to 1", "row sums in [2"]),
    ("y-one-hot-negative", lambda: fit(y=np.eye(K)[Y] - 0.5), ValueError,
     ["class probabilities", "min -0.5"]),
    ("y-binary-not-0-1", lambda: fit(net=bce(), y=with_value(np.eye(K)[Y], (5, 1), 2)),
     ValueError, ["y must hold binary targets 0 or 1", "binary_cross_entropy", "got 2"]),
    ("y-binary-1d-for-3-outputs", lambda: fit(net=bce(), y=Y % 2), ValueError,
     ["y must be shape (20, 3)", "3 outputs", "(20,)"]),
    ("y-regression-nan", lambda: fit(net=reg(), y=with_value(X[:, :K], (7, 0), np.nan)),
     ValueError, ["y must be finite", "(7, 0)", "nan"]),
    ("y-regression-inf", lambda: fit(net=reg(), y=with_value(X[:, :K], (1, 2), np.inf)),
     ValueError, ["y must be finite", "(1, 2)", "inf"]),
    ("y-strings", lambda: fit(y=Y.astype(str)), TypeError, ["y must hold numbers", "<U"]),
    ("y-none", lambda: fit(y=None), TypeError, ["y must hold numbers", "object"]),
    # ---------------------------------------------------------------- fit arguments
    ("fit-batch-size-zero", lambda: fit(batch_size=0), ValueError,
     ["batch_size", "integer >= 1", "got 0"]),
    ("fit-batch-size-float", lambda: fit(batch_size=32.0), TypeError,
     ["batch_size must be an integer", "32.0"]),
    ("fit-epochs-negative", lambda: fit(epochs=-1), ValueError, ["epochs", ">= 0", "got -1"]),
    ("fit-epochs-string", lambda: fit(epochs="3"), TypeError, ["epochs", "integer", "'3'"]),
    ("fit-validation-split-one", lambda: fit(validation_split=1.0), ValueError,
     ["validation_split", "in [0, 1)", "1.0"]),
    ("fit-validation-split-negative", lambda: fit(validation_split=-0.1), ValueError,
     ["validation_split", "[0, 1)", "-0.1"]),
    ("fit-validation-split-string", lambda: fit(validation_split="0.2"), TypeError,
     ["validation_split must be a real number", "'0.2'"]),
    ("fit-validation-split-empty", lambda: fit(validation_split=0.01), ValueError,
     ["validation_split=0.01", "no samples", "20"]),
    ("fit-validation-both", lambda: fit(validation_split=0.2, validation_data=(X, Y)),
     ValueError, ["validation_split or validation_data", "not both"]),
    ("fit-validation-data-not-pair", lambda: fit(validation_data=X), TypeError,
     ["validation_data must be a pair", "ndarray"]),
    ("fit-X-val-columns", lambda: fit(validation_data=(X[:7, :5], Y[:7])), ValueError,
     ["validation_data X_val has 5 features", "expects 6"]),
    ("fit-y-val-rows", lambda: fit(validation_data=(X[:7], Y[:6])), ValueError,
     ["validation_data y_val must have 7 rows", "(6,)"]),
    ("fit-y-val-class-range", lambda: fit(validation_data=(X[:7], Y[:7] + K)), ValueError,
     ["validation_data y_val", "class ids in [0, 3)"]),
    ("fit-seed-negative", lambda: fit(seed=-5), ValueError, ["seed", ">= 0", "-5"]),
    ("fit-callbacks-not-list", lambda: fit(callbacks=NoHook()), TypeError,
     ["callbacks must be a list", "NoHook"]),
    ("fit-callback-without-hook", lambda: fit(callbacks=[NoHook()]), TypeError,
     ["callbacks[0]", "on_epoch_end", "NoHook"]),
    ("fit-optimizer-typo", lambda: fit(optimizer="adamm"), ValueError,
     ["unknown optimizer", "'adamm'", "did you mean 'adam'"]),
    ("fit-optimizer-number", lambda: fit(optimizer=0.1), TypeError,
     ["optimizer must be an Optimizer, a name or a dict", "0.1"]),
    ("fit-optimizer-dict-no-name", lambda: fit(optimizer={"lr": 0.1}), ValueError,
     ["optimizer dict", "'name'", "{'lr': 0.1}"]),
    ("fit-optimizer-dict-bad-key", lambda: fit(optimizer={"name": "sgd", "lrr": 0.1}),
     TypeError, ["bad arguments for optimizer 'sgd'", "lrr"]),
    # ---------------------------------------------------------------- optimizers
    ("lr-zero", lambda: SGD(lr=0), ValueError, ["lr (learning rate)", "> 0", "got 0.0"]),
    ("lr-negative", lambda: Adam(lr=-1e-3), ValueError, ["lr (learning rate)", "> 0", "-0.001"]),
    ("lr-nan", lambda: SGD(lr=float("nan")), ValueError, ["lr (learning rate)", "finite",
                                                           "nan"]),
    ("lr-inf", lambda: RMSProp(lr=float("inf")), ValueError, ["lr (learning rate)", "inf"]),
    ("lr-string", lambda: SGD(lr="0.1"), TypeError, ["lr (learning rate) must be a real number",
                                                     "'0.1'"]),
    ("momentum-one", lambda: SGD(0.1, momentum=1.0), ValueError, ["momentum", "[0, 1)", "1.0"]),
    ("momentum-negative", lambda: SGD(0.1, momentum=-0.5), ValueError, ["momentum", "-0.5"]),
    ("nesterov-without-momentum", lambda: SGD(0.1, nesterov=True), ValueError,
     ["nesterov=True", "momentum > 0", "momentum=0.0"]),
    ("weight-decay-negative", lambda: SGD(0.1, weight_decay=-1), ValueError,
     ["weight_decay", ">= 0", "-1.0"]),
    ("nesterov-string", lambda: SGD(0.1, momentum=0.9, nesterov="yes"), TypeError,
     ["nesterov must be True or False", "'yes'"]),
    ("adam-decoupled-int", lambda: Adam(decoupled=2), TypeError,
     ["decoupled must be True or False", "2 (int)"]),
    ("beta1-one", lambda: Adam(beta1=1.0), ValueError, ["beta1", "[0, 1)", "1.0"]),
    ("beta2-negative", lambda: Adam(beta2=-0.1), ValueError, ["beta2", "[0, 1)", "-0.1"]),
    ("adam-eps-zero", lambda: Adam(eps=0), ValueError, ["eps", "> 0", "0.0"]),
    ("rmsprop-rho", lambda: RMSProp(rho=1.5), ValueError, ["rho", "[0, 1)", "1.5"]),
    ("adagrad-eps-negative", lambda: AdaGrad(eps=-1), ValueError, ["eps", "> 0", "-1.0"]),
    ("step-decay-size", lambda: StepDecay(step_size=0), ValueError, ["step_size", ">= 1", "0"]),
    ("step-decay-gamma", lambda: StepDecay(gamma=0), ValueError, ["gamma", "> 0", "0.0"]),
    ("cosine-epochs", lambda: Cosine(0), ValueError, ["total_epochs", ">= 1", "got 0"]),
    ("cosine-min-factor", lambda: Cosine(10, min_factor=2), ValueError,
     ["min_factor", "[0, 1]", "2.0"]),
    ("schedule-typo", lambda: SGD(0.1, schedule="cosin"), ValueError,
     ["unknown schedule", "'cosin'", "did you mean 'cosine'"]),
    ("schedule-dict-bad-key", lambda: SGD(0.1, schedule={"name": "step", "size": 3}),
     TypeError, ["bad arguments for schedule 'step'", "size"]),
    ("make-optimizer-bad-lr", lambda: make_optimizer({"name": "adam", "lr": 0}), ValueError,
     ["lr (learning rate)", "> 0"]),
    # ---------------------------------------------------------------- predict / evaluate
    ("predict-wrong-width", lambda: clf().predict(X[:, :4]), ValueError,
     ["X has 4 features", "expects 6"]),
    ("predict-1d", lambda: clf().predict(X[0]), ValueError, ["2-D", "reshape(1, -1)"]),
    ("predict-batch-size-zero", lambda: clf().predict(X, batch_size=0), ValueError,
     ["batch_size", ">= 1", "got 0"]),
    ("predict-proba-nan", lambda: clf().predict_proba(with_value(X, (2, 2), np.nan)), ValueError,
     ["X must be finite"]),
    ("evaluate-wrong-width-before-y", lambda: clf().evaluate(X[:, :5], Y[:3]), ValueError,
     ["X has 5 features"]),
    ("evaluate-y-rows", lambda: clf().evaluate(X, Y[:3]), ValueError,
     ["y must have 20 rows", "(3,)"]),
    ("loss-and-gradient-class-range", lambda: clf().loss_and_gradient(X, Y + 3), ValueError,
     ["class ids in [0, 3)"]),
]


@pytest.mark.parametrize("call,error,words", [pytest.param(*row[1:], id=row[0]) for row in CASES])
def test_bad_input_is_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"message {message!r} lacks {missing}"


def test_case_ids_are_unique():
    ids = [row[0] for row in CASES]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------ conversions: copy only when needed
def test_float32_c_contiguous_input_is_not_copied():
    net = clf()
    X32, scale = as_input(net, X)
    assert X32 is X and scale == 1.0


def test_uint8_images_are_not_copied_and_scaled_on_gather():
    images = _rng.integers(0, 256, (N, C), dtype=np.uint8)
    Xc, scale = as_input(clf(), images)
    assert np.shares_memory(Xc, images) and Xc.dtype == np.uint8 and scale == 1 / 255


@pytest.mark.parametrize("make", [
    pytest.param(lambda a: a.astype(np.float64), id="float64"),
    pytest.param(lambda a: np.asfortranarray(a), id="fortran-order"),
    pytest.param(lambda a: np.repeat(a, 2, axis=0)[::2], id="strided-rows"),
    pytest.param(lambda a: np.round(a * 10).astype(np.int64), id="int64"),
    pytest.param(lambda a: a.tolist(), id="list"),
])
def test_other_inputs_are_converted_once_to_float32_c_contiguous(make):
    src = make(X)
    Xc, scale = as_input(clf(), src)
    assert Xc.dtype == np.float32 and Xc.flags.c_contiguous and scale == 1.0
    assert not np.shares_memory(Xc, np.asarray(src))
    np.testing.assert_array_equal(Xc, np.asarray(src, dtype=np.float32))
    again, _ = as_input(clf(), Xc)          # a second pass (predict, evaluate) copies nothing
    assert again is Xc


def test_validation_data_is_converted_once():
    net = clf()
    X_val, T_val = validation_data(net, (X.astype(np.float64), Y))
    assert X_val.dtype == np.float32 and T_val.shape == (N, K)
    assert as_input(net, X_val)[0] is X_val


def test_layers_of_a_dead_network_can_be_reused():
    import gc
    layers = [Dense(C, 4, "relu"), Dense(4, K)]
    net = Network(layers)
    del net
    gc.collect()
    again = Network(layers)
    assert np.shares_memory(layers[0].W, again.params)


def test_copied_layers_of_a_live_network_can_be_reused():
    import copy
    import pickle
    net = clf()
    before = net.predict_proba(X)
    for layers in (copy.deepcopy(net.layers), pickle.loads(pickle.dumps(net.layers))):
        twin = Network(layers)
        assert not np.shares_memory(twin.params, net.params)
        np.testing.assert_array_equal(twin.params, net.params)
        np.testing.assert_array_equal(twin.predict_proba(X), before)
    np.testing.assert_array_equal(net.predict_proba(X), before)  # the live one is untouched


def test_float64_network_keeps_float64_input():
    X64 = X.astype(np.float64)
    assert as_input(clf(dtype=np.float64), X64)[0] is X64


def test_valid_edge_inputs_are_accepted():
    """Boundary values that are legal: epochs 0, batch larger than n, bool / float class ids,
    soft labels, one-output BCE with 1-D targets, numpy integer sizes."""
    net = clf()
    assert fit(net=net, epochs=0) == {}
    one = Network([Dense(np.int64(C), np.int32(1))], loss="binary_cross_entropy")
    for hist in (fit(batch_size=10 * N), fit(y=Y.astype(np.float32)),
                 fit(y=(Y % 2).astype(bool)), fit(y=np.full((N, K), 1 / K)),
                 fit(net=one, y=Y % 2), fit(optimizer={"name": "adam", "lr": np.float32(1e-3)})):
        assert len(hist["loss"]) == 1 and np.isfinite(hist["loss"][0]), hist
    assert isinstance(fn.DivergenceError("x"), FloatingPointError)
