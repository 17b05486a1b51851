"""fastnet.scaling: statistics fitted on the training set, stored, and a loud warning."""
import warnings

import numpy as np
import pytest

from fastnet.scaling import Scaler, warn_unscaled


def data():
    rng = np.random.default_rng(0)
    return rng.normal([5, -300, 0], [2, 40, 0], (1000, 3)).astype(np.float32)


def test_auto_scales_pixels_by_1_over_255():
    X = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_allclose(Scaler().fit_transform(X), [[0, 0.2, 1]], rtol=1e-6)


def test_auto_and_standard_standardise_with_training_statistics():
    X = data()
    for mode in ("auto", "standard"):
        Z = Scaler(mode).fit_transform(X)
        np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-4)
        np.testing.assert_allclose(Z.std(axis=0), [1, 1, 0], atol=1e-4)   # std 0 -> 1
    scaler = Scaler("standard").fit(X)
    np.testing.assert_allclose(scaler.transform(X[:1] * 0), ((0 - X.mean(0)) / np.where(
        X.std(0) > 0, X.std(0), 1))[None, :], rtol=1e-4)   # new data: the fitted statistics


def test_unit_maps_training_range_to_0_1_and_none_leaves_data():
    X = data()
    Z = Scaler("unit").fit_transform(X)
    np.testing.assert_allclose(Z.min(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(Z.max(axis=0), [1, 1, 0], atol=1e-6)
    assert Scaler("none").fit_transform(X) is X


def test_statistics_stream_through_chunks_of_a_memory_map(tmp_path):
    X = np.random.default_rng(1).normal(3, 2, (70_000, 2)).astype(np.float32)  # > 1 chunk
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    s = Scaler("standard").fit(mapped)
    np.testing.assert_allclose(s.shift, X.mean(0, dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(1 / s.factor, X.std(0, dtype=np.float64), rtol=1e-5)


def test_state_round_trips_through_an_npz(tmp_path):
    X = data()
    for mode in ("auto", "none", "unit", "standard"):
        scaler = Scaler(mode).fit(X)
        np.savez(tmp_path / "m.npz", **{f"scale_{k}": v for k, v in scaler.state().items()})
        with np.load(tmp_path / "m.npz") as z:
            back = Scaler.from_state({k[6:]: z[k] for k in z.files})
        assert back.mode == mode
        np.testing.assert_array_equal(back.transform(X), scaler.transform(X))


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="one of auto, none, unit, standard"):
        Scaler("minmax")
    with pytest.raises(ValueError, match="not fitted"):
        Scaler("standard").transform(data())
    with pytest.raises(ValueError, match="X has 2 features; the scaler was fitted on 3"):
        Scaler("unit").fit(data()).transform(np.ones((1, 2)))
    with pytest.raises(ValueError, match="2-D numeric"):
        Scaler().fit(np.ones(3))
    with pytest.raises(ValueError, match="0 rows"):
        Scaler().fit(np.ones((0, 3)))
    with pytest.raises(ValueError, match="equal-length finite"):
        Scaler.from_state({"mode": "unit", "shift": np.zeros(2), "factor": np.ones(3)})


def test_warn_unscaled_says_what_to_do():
    with pytest.warns(UserWarning, match=r"up to 255 .*Scaler\('standard'\).*uint8"):
        assert warn_unscaled(np.array([[0.0, 255.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_unscaled(np.array([[0, 255]], np.uint8))   # pixels: scaled anyway
        assert not warn_unscaled(Scaler().fit_transform(data()))
    with pytest.warns(UserWarning, match=r"up to 255 "):     # --scale none: as they are
        assert warn_unscaled(np.array([[0, 255]], np.uint8), pixels=False)


# ------------------------------------------------------------------ streaming a memory map
def _mapped_blobs(folder, n=80_000, features=64):
    """A float32 X.npy (n × features, far from standardised) and y.npy written here; X
    read back memory-mapped."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, n)
    X = (rng.normal(0, 1, (n, features)) + y[:, None]) * 40 + 500
    np.save(folder / "X.npy", X.astype(np.float32))
    np.save(folder / "y.npy", y)
    return np.load(folder / "X.npy", mmap_mode="r"), y


def _trained(X, y, scaler):
    import fastnet as fn
    net = fn.Network([fn.Dense(X.shape[1], 8, activation="relu"), fn.Dense(8, 3)], seed=3)
    net.scaler = scaler
    history = net.fit(X, y, epochs=1, batch_size=1024, optimizer=fn.SGD(0.05, momentum=0.9),
                      validation_split=0.1, seed=4, verbose=False)
    del history["seconds"]
    return net, history


def test_a_memory_mapped_float_npy_trains_by_streaming_without_a_copy(tmp_path):
    import tracemalloc

    from fastnet import inputs
    mapped, y = _mapped_blobs(tmp_path)
    _trained(mapped[:64], y[:64], Scaler("standard"))          # compiled before measuring
    tracemalloc.start()
    try:
        net, history = _trained(mapped, y, Scaler("standard"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.shares_memory(inputs.check_input(net, mapped), mapped)   # what is gathered
    assert peak < mapped.nbytes / 4, f"peak {peak} bytes for a {mapped.nbytes}-byte X"
    assert history["val_accuracy"][-1] > 0.9
    # the scaler was fitted on the training part, in chunks, not on the held-out rows
    in_memory = np.array(mapped)
    train_idx, _ = inputs.split_indices(len(y), 0.1, np.random.default_rng(4), y)
    np.testing.assert_allclose(net.scaler.shift, in_memory[train_idx].mean(0), rtol=1e-4)
    # the same run on the same numbers in memory: equal bit for bit
    net2, history2 = _trained(in_memory, y, Scaler("standard"))
    assert np.array_equal(net2.params, net.params) and history2 == history
    assert np.array_equal(net2.predict_proba(in_memory[:500]), net.predict_proba(mapped[:500]))


def test_fastnet_train_streams_a_memory_mapped_npy_as_it_trains_the_same_data_in_memory(
        tmp_path):
    import fastnet as fn
    from fastnet import datasets, inputs
    from fastnet.cli import main
    mapped, y = _mapped_blobs(tmp_path, n=6000, features=16)
    assert isinstance(datasets.load(tmp_path / "X.npy").X, np.memmap)
    np.savez(tmp_path / "data.npz", X=np.array(mapped), y=y)       # read into memory
    seen = []
    check_input = inputs.check_input

    def spy(net, X, name="X"):
        seen.append((name, type(X), X.shape))
        return check_input(net, X, name)
    quick = ["--threads", "1", "--no-progress", "--epochs", "2", "--hidden", "8",
             "--batch-size", "64"]
    inputs.check_input = spy
    try:
        assert main(["train", "--data", str(tmp_path / "X.npy"), "--out",
                     str(tmp_path / "mapped"), *quick]) == 0
    finally:
        inputs.check_input = check_input
    assert ("X", np.memmap, (6000, 16)) in seen
    assert main(["train", "--data", str(tmp_path / "data.npz"), "--out",
                 str(tmp_path / "memory"), *quick]) == 0
    a, b = fn.load(tmp_path / "mapped" / "model.npz"), fn.load(tmp_path / "memory" / "model.npz")
    assert a.scaler.mode == "auto" and a.scaler.shift.mean() > 100     # standardised
    assert np.array_equal(a.scaler.shift, b.scaler.shift)
    assert np.array_equal(a.params, b.params)


@pytest.mark.parametrize("mode", ["standard", "unit"])
def test_a_subnormal_spread_counts_as_constant(mode):
    X = np.zeros((10, 3))
    X[::2, 1] = 1e-39   # a spread float32 cannot invert
    X[:, 2] = np.arange(10)
    scaler = Scaler(mode).fit(X)
    assert np.isfinite(scaler.factor).all() and scaler.factor[1] == 1
    assert np.isfinite(scaler.transform(X)).all()


def test_a_scaler_remembers_that_it_was_fitted_on_pixels():
    """Fitted on uint8, any mode takes later inputs as 0..255 pixels (``takes_pixels``);
    the flag survives the state, and a state from before it was stored infers it."""
    X = np.random.default_rng(0).integers(0, 256, (50, 6), dtype=np.uint8)
    for mode in ("auto", "unit", "standard"):
        scaler = Scaler(mode).fit(X)
        assert scaler.takes_pixels
        assert Scaler.from_state(scaler.state()).takes_pixels
        assert not Scaler(mode).fit(X.astype(np.float32)).takes_pixels
    legacy = Scaler("auto").fit(X).state()
    del legacy["pixels"]
    assert Scaler.from_state(legacy).takes_pixels          # auto's x / 255
    legacy = Scaler("standard").fit(X).state()
    del legacy["pixels"]
    assert not Scaler.from_state(legacy).takes_pixels      # unknown: as before
    with pytest.raises(ValueError, match="pixels must be true or false"):
        Scaler.from_state(dict(Scaler("auto").fit(X).state(), pixels="yes"))


def test_a_pixel_model_warns_of_0_to_1_images():
    """A model fitted on 0..255 pixels takes floats in those units; 0..1 images (which it
    would divide by 255 again) get a warning naming the fix."""
    import fastnet as fn
    X = np.random.default_rng(0).integers(0, 256, (64, 6), dtype=np.uint8)
    net = fn.Network([fn.Dense(6, 4, activation="relu"), fn.Dense(4, 2)], seed=0)
    net.scaler = Scaler("auto")
    net.fit(X, np.arange(64) % 2, epochs=1, verbose=False)
    assert net.scaler.is_pixels and net.scaler.takes_pixels
    with pytest.warns(UserWarning, match=r"0\.\.1 images.*X \* 255"):
        net.predict(X / 255.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(net.predict(X.astype(np.float32)), net.predict(X))


def test_describe_names_the_mode_of_a_scaler_fitted_on_pixels():
    X = np.full((8, 3), 200, np.uint8)
    assert Scaler("standard").fit(X).describe() == "standard"
    assert Scaler("unit").fit(X).describe() == "unit"
    assert Scaler("auto").fit(X).describe().startswith("auto: centred pixels")
