"""Model files: round trips, checksums, corruption and a fuzzed loader; atomic writes."""
import json
import os
import zipfile

import numpy as np
import pytest

import fastnet as fn
from fastnet import io as fio

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def small_net(dtype=np.float32, seed=0):
    return fn.Network([fn.Dense(6, 5, activation="prelu"), fn.Dense(5, 4, activation="tanh",
                                                                   bias=False),
                       fn.Dense(4, 3)], seed=seed, dtype=dtype)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    net = small_net()
    net.fit(X, y, epochs=2, batch_size=16, optimizer=fn.Adam(0.01, schedule=fn.Cosine(2)),
            verbose=False)
    path = tmp_path_factory.mktemp("io") / "model.npz"
    fn.save(net, path)
    return net, X, path


def test_round_trip_identical_predictions(trained):
    net, X, path = trained
    back = fn.load(path)
    assert [layer.config() for layer in back.layers] == [layer.config() for layer in net.layers]
    assert back.loss == net.loss and back.dtype == net.dtype
    np.testing.assert_array_equal(back.params, net.params)
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))
    assert back.optimizer.config() == net.optimizer.config()
    assert back.optimizer.t == net.optimizer.t == 8
    for k in ("m", "v"):
        np.testing.assert_array_equal(back.optimizer.state[k], net.optimizer.state[k])


def test_float64_and_no_optimizer(tmp_path):
    net = small_net(np.float64, seed=3)
    fn.save(net, tmp_path / "m.npz")
    back = fn.load(tmp_path / "m.npz")
    assert back.dtype == np.float64 and not hasattr(back, "optimizer")
    np.testing.assert_array_equal(back.params, net.params)


def test_file_is_a_plain_npz_with_version_and_checksum(trained):
    net, _, path = trained
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["params"], net.params)
    _, meta = fio.read_archive(path)
    assert meta["fastnet_version"] == fn.__version__ and meta["format_version"] == 3
    assert meta["sha256"] == fio.meta_sha256(meta) and len(meta["arrays_sha256"]) == 64


def _flip(src, dst, pos):
    raw = bytearray(src.read_bytes())
    raw[pos] ^= 0xFF
    dst.write_bytes(bytes(raw))


def test_one_corrupted_byte_in_the_weights_is_a_clear_error(trained, tmp_path):
    net, _, path = trained
    raw = path.read_bytes()
    pos = raw.find(net.params[7:9].tobytes())
    assert pos > 0
    bad = tmp_path / "bad.npz"
    _flip(path, bad, pos)
    with pytest.raises(ValueError, match="bad.npz"):
        fn.load(bad)


def test_sha256_catches_what_the_zip_crc_does_not(trained, tmp_path):
    """Rewrite the archive with changed weights but the old meta.json: valid zip, wrong data."""
    net, _, path = trained
    bad = tmp_path / "swapped.npz"
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(bad, "w") as out:
        for info in z.infolist():
            data = z.read(info)
            if info.filename == "params.npy":
                data = data[:-4] + bytes(4)
            out.writestr(info.filename, data)
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        fn.load(bad)


def test_every_flipped_byte_is_an_error_or_harmless(trained, tmp_path):
    """Flip bytes all over the file: load raises ValueError naming the file, or (for bytes
    nobody reads, such as zip timestamps) returns exactly the saved network."""
    net, _, path = trained
    size = path.stat().st_size
    bad = tmp_path / "flip.npz"
    outcomes = {"error": 0, "harmless": 0}
    for pos in range(0, size, max(1, size // 300)):
        _flip(path, bad, pos)
        try:
            back = fn.load(bad)
        except ValueError as e:
            assert "flip.npz" in str(e)
            outcomes["error"] += 1
        else:
            np.testing.assert_array_equal(back.params, net.params)
            outcomes["harmless"] += 1
    assert outcomes["error"] > outcomes["harmless"]


def test_truncated_files_are_errors(trained, tmp_path):
    raw = trained[2].read_bytes()
    bad = tmp_path / "cut.npz"
    for n in list(range(0, 64)) + list(range(64, len(raw), 97)):
        bad.write_bytes(raw[:n])
        with pytest.raises(ValueError, match="cut.npz"):
            fn.load(bad)


def test_missing_file_and_wrong_kinds_of_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        fn.load(tmp_path / "nope.npz")
    np.savez(tmp_path / "plain.npz", params=np.zeros(3))
    with pytest.raises(ValueError, match="no meta.json"):
        fn.load(tmp_path / "plain.npz")
    np.save(tmp_path / "arr.npy", np.zeros(3))
    with pytest.raises(ValueError, match="arr.npy"):
        fn.load(tmp_path / "arr.npy")
    (tmp_path / "obj.npz").write_bytes(b"")
    with pytest.raises(ValueError):
        fn.load(tmp_path / "obj.npz")


def test_newer_format_version_is_rejected(trained, tmp_path):
    net = trained[0]
    fio.write_archive(tmp_path / "new.npz", {"params": net.params},
                      {"format": fio.FORMAT, "format_version": fio.FORMAT_VERSION + 1,
                       "fastnet_version": "99.0"})
    with pytest.raises(ValueError, match="format version"):
        fn.load(tmp_path / "new.npz")


def write_legacy(path, arrays, meta):
    """A file as fastnet wrote it before format version 3: only the arrays hashed."""
    meta = {k: v for k, v in meta.items() if k not in ("sha256", "arrays_sha256")}
    meta["sha256"] = fio.arrays_sha256(arrays)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, a in arrays.items():
            with z.open(name + ".npy", "w", force_zip64=True) as m:
                np.lib.format.write_array(m, a, allow_pickle=False)
        z.writestr("meta.json", json.dumps(meta, indent=1))


def test_format_version_2_files_still_load(trained, tmp_path):
    net, X, path = trained
    arrays, meta = fio.read_archive(path)
    write_legacy(tmp_path / "v2.npz", arrays, dict(meta, format_version=2))
    back = fn.load(tmp_path / "v2.npz")
    np.testing.assert_array_equal(back.params, net.params)
    np.testing.assert_array_equal(back.optimizer.state["m"], net.optimizer.state["m"])


def test_format_version_1_files_still_load(trained, tmp_path):
    """Version 1 stored every W (out, in); version 2 stores the first layer's transposed.
    A version 1 file (parameters and optimizer state) loads to the same network."""
    net, X, path = trained
    arrays, meta = fio.read_archive(path)

    def out_major(flat):  # the first segment, Wᵀ (in, out), back to W (out, in)
        first, old = net.layers[0], flat.copy()
        n = first.W.size
        old[:n] = flat[:n].reshape(first.in_features, first.out_features).T.ravel()
        return old

    assert not np.array_equal(out_major(net.params), net.params)
    old = {k: out_major(v) if v.shape == net.params.shape else v for k, v in arrays.items()}
    write_legacy(tmp_path / "v1.npz", old, dict(meta, format_version=1))
    back = fn.load(tmp_path / "v1.npz")
    np.testing.assert_array_equal(back.params, net.params)
    np.testing.assert_array_equal(back.layers[0].W, net.layers[0].W)
    for k in ("m", "v"):
        np.testing.assert_array_equal(back.optimizer.state[k], net.optimizer.state[k])
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))


def test_a_version_3_file_relabelled_as_version_2_is_refused(trained, tmp_path):
    """The checksum rule follows the layout (arrays_sha256 present), not the version
    field it covers, so editing the version cannot switch the meta.json check off."""
    arrays, meta = fio.read_archive(trained[2])
    text = json.dumps(dict(meta, format_version=2))
    with zipfile.ZipFile(tmp_path / "relabelled.npz", "w") as z:
        for name, a in arrays.items():
            with z.open(name + ".npy", "w") as m:
                np.lib.format.write_array(m, a)
        z.writestr("meta.json", text)
    with pytest.raises(ValueError, match="relabelled.npz.*checksum mismatch"):
        fn.load(tmp_path / "relabelled.npz")


def test_arrays_that_do_not_fit_the_layers(trained, tmp_path):
    net = trained[0]
    _, meta = fio.read_archive(trained[2])
    fio.write_archive(tmp_path / "short.npz", {"params": net.params[:-1]}, meta)
    n = net.params.size
    with pytest.raises(ValueError, match=rf"short.npz.*params.npy: holds float32\({n - 1},\) "
                                         rf"but the metadata needs float32\({n},\)"):
        fn.load(tmp_path / "short.npz")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_only_valueerror(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "fuzz.npz"
    path.write_bytes(data)
    with pytest.raises(ValueError):
        fn.load(path)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_mutated_model_files(trained, tmp_path_factory, data):
    """Random cuts, overwrites and insertions of a real model file."""
    net, _, path = trained
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["cut", "set", "insert"]))
        if kind == "cut":
            del raw[pos:]
            if not raw:
                break
        elif kind == "set":
            raw[pos] = data.draw(st.integers(0, 255))
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    bad = tmp_path_factory.getbasetemp() / "mutated.npz"
    bad.write_bytes(bytes(raw))
    try:
        back = fn.load(bad)
    except ValueError:
        return
    np.testing.assert_array_equal(back.params, net.params)  # only harmless changes load


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    fio.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with fio.atomic_write(target, "w") as f:
            f.write("half of the new")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]   # no temp file left behind
