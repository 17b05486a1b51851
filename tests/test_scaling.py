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
