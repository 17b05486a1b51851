"""Hostile files: forged checkpoints and model files, compressed-member bombs, huge
claimed layers, cut history.csv files, file modes under a umask; a fuzz of meta.json.

Forgeries come in two kinds: edited without updating the checksum (caught by the
checksum, which covers meta.json), and rewritten with a valid checksum (caught by the
checks of each value against the network and the data)."""
import copy
import json
import math
import os
import re
import signal
import stat
import tracemalloc
import zipfile

import numpy as np
import pytest

import fastnet as fn
from fastnet import io as fio
from fastnet.callbacks import load_checkpoint, read_history_csv

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings, strategies as st  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

N = 64          # training samples
P = 6 * 5 + 5 + 5 + 5 * 3 + 3   # parameters of small_net: W, b, PReLU slopes; W, b
BATCH = 16
MEMORY_BOUND = 200 << 20


def small_net():
    return fn.Network([fn.Dense(6, 5, activation="prelu"), fn.Dense(5, 3)], seed=1)


class SigintAt(fn.Callback):
    def on_epoch_end(self, net, epoch, logs):
        if epoch == 0:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(X, y, checkpoint path): a checkpoint taken mid-epoch 2 (position 16, with order)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, 6)).astype(np.float32)
    y = rng.integers(0, 3, N)
    folder = tmp_path_factory.mktemp("run")
    with pytest.raises(fn.TrainingInterrupted):
        small_net().fit(X, y, epochs=3, batch_size=BATCH, optimizer=fn.Adam(0.01),
                        verbose=False, handle_sigint=True,
                        callbacks=[SigintAt(), fn.RunDirectory(folder)])
    return X, y, folder / "checkpoint.npz"


def write_raw(path, arrays, meta):
    """An archive with ``meta`` exactly as given (no checksum recomputed)."""
    with zipfile.ZipFile(path, "w") as z:
        for name, a in arrays.items():
            with z.open(name + ".npy", "w") as m:
                np.lib.format.write_array(m, np.asarray(a))
        z.writestr("meta.json", json.dumps(meta))
    return path


def leaves(obj, where=()):
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from leaves(v, where + (k,))
    elif isinstance(obj, list) and obj:
        for i, v in enumerate(obj):
            yield from leaves(v, where + (i,))
    else:
        yield where, obj


def changed(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 1
    if isinstance(v, str):
        return v + "x"
    return 0 if v is None else [0]


def set_at(meta, where, value):
    meta = copy.deepcopy(meta)
    node = meta
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    return meta


def test_the_fixture_is_a_mid_epoch_checkpoint(run):
    X, _, path = run
    net, state = load_checkpoint(path, n_samples=N)
    assert (state["epoch"], state["position"], state["n_train"]) == (1, BATCH, N)
    assert sorted(state["order"]) == list(range(N))


# ---------------------------------------------------------------- edited, checksum stale
def test_every_field_of_meta_json_edited_is_refused_by_the_checksum(run, tmp_path):
    arrays, meta = fio.read_archive(run[2])
    cases = [(w, v) for w, v in leaves(meta) if w != ("sha256",)]
    assert len(cases) > 40 and (("training", "position"), BATCH) in cases
    for where, value in cases:
        path = write_raw(tmp_path / "edited.npz", arrays, set_at(meta, where, changed(value)))
        words = {("format",): "format is", ("format_version",): "format version 4"}
        with pytest.raises(ValueError) as e:
            load_checkpoint(path, n_samples=N)
        assert str(path) in str(e.value), where
        assert words.get(where, "meta.json checksum mismatch") in str(e.value), where


@pytest.mark.parametrize("where, value", [
    (("training", "position"), -5), (("training", "position"), 10**9),
    (("training", "epoch"), -3), (("layers", 0, "activation"), "relu")])
def test_the_issue_s_meta_edits_are_refused(run, tmp_path, where, value):
    arrays, meta = fio.read_archive(run[2])
    path = write_raw(tmp_path / "edited.npz", arrays, set_at(meta, where, value))
    with pytest.raises(ValueError, match="edited.npz.*meta.json checksum mismatch"):
        load_checkpoint(path, n_samples=N)


# ---------------------------------------------------------------- forged, checksum valid
def forge(run, tmp_path, where=None, value=None, arrays_edit=None, drop=None):
    arrays, meta = fio.read_archive(run[2])
    if where is not None:
        meta = set_at(meta, where, value)
    if arrays_edit is not None:
        arrays = dict(arrays, **arrays_edit)
    if drop is not None:
        arrays.pop(drop)
    path = tmp_path / "forged.npz"
    fio.write_archive(path, arrays, meta)
    return path


T = "training"
FORGED_META = [
    ((T, "position"), -5, r"'training.position' is -5, expected an integer in \[0, 64\]"),
    ((T, "position"), 10**9, r"'training.position' is 1000000000, expected an integer in"),
    ((T, "position"), 2.5, r"'training.position' is 2.5, expected an integer"),
    ((T, "epoch"), -3, r"'training.epoch' is -3, expected an integer in \[0, 3\]"),
    ((T, "epoch"), 4, r"'training.epoch' is 4, expected an integer in \[0, 3\]"),
    ((T, "epochs"), -1, r"'training.epochs' is -1, expected an integer >= 0"),
    ((T, "n_train"), 0, r"'training.n_train' is 0, expected an integer >= 1"),
    ((T, "n_train"), N + 1, r"extra.order.npy: holds int64\(64,\) but the metadata needs"),
    ((T, "batch_size"), 0, r"'training.batch_size' is 0, expected an integer >= 1"),
    ((T, "correct"), -1, r"'training.correct' is -1, expected an integer in \[0, 16\]"),
    ((T, "skipped"), 17, r"'training.skipped' is 17, expected an integer in \[0, 16\]"),
    ((T, "loss_sum"), math.nan, r"'training.loss_sum' is nan, expected a finite number"),
    ((T, "seconds"), -1.0, r"'training.seconds' is -1.0, expected a finite number >= 0"),
    ((T, "stopped"), "no", r"'training.stopped' is 'no', expected true or false"),
    ((T, "finished"), True, r"'training.finished' is True, expected False"),
    ((T, "rng"), {"bit_generator": "PCG64", "state": "x"}, r"'training.rng' is .*PCG64"),
    ((T, "rng"), "seed", r"'training.rng' is 'seed', expected a PCG64 state"),
    ((T, "history"), [], r"'training.history' is \[\], expected an object"),
    ((T, "history", "loss"), [1.0, 2.0], r"'training.history.loss' is \[1.0, 2.0\], "
                                         r"expected a list of at most 1 numbers"),
    ((T, "history", "loss"), ["x"], r"'training.history.loss' .* at most 1 numbers"),
    ((T, "seed"), -1, r"'training.seed' is -1, expected an integer >= 0"),
    (("layers", 0, "activation"), "nope", r"meta.json layers\[0\]: unknown activation"),
    (("layers", 0, "out_features"), 0, r"meta.json layers\[0\]: Dense out_features must"),
    (("layers", 0, "in_features"), 7, r"params.npy: holds float32\(58,\) but the metadata "
                                      r"needs float32\(63,\)"),
    (("layers", 0, "bias"), False, r"params.npy: holds float32\(58,\) but the metadata "
                                   r"needs float32\(53,\)"),
    (("layers", 0, "wings"), 2, r"layers\[0\]: .*unexpected keyword argument 'wings'"),
    (("layers",), [], r"field 'layers' has 0 entries, expected 1..1000"),
    (("layers",), "6-5-3", r"field 'layers' is '6-5-3', expected a list"),
    (("dtype",), "float16", r"field 'dtype' is 'float16', expected float32 or float64"),
    (("dtype",), "float64", r"params.npy: holds float32\(58,\) but the metadata needs "
                            r"float64\(58,\)"),
    (("loss",), "hinge", r"metadata does not describe the arrays .*unknown loss 'hinge'"),
    (("seed",), -2, r"metadata does not describe the arrays .*seed"),
    (("optimizer", "t"), -1, r"'optimizer.t' is -1, expected an integer >= 0"),
    (("optimizer", "config", "name"), "adamw", r"optimizer config: .*'adamw'"),
    (("optimizer", "config", "lr"), -1.0, r"optimizer config: .*lr"),
]


@pytest.mark.parametrize("where, value, words", FORGED_META,
                         ids=[f"{'.'.join(map(str, w))}={v!r}"[:40] for w, v, _ in FORGED_META])
def test_forged_meta_with_a_valid_checksum_is_refused_naming_the_field(run, tmp_path, where,
                                                                        value, words):
    path = forge(run, tmp_path, where, value)
    with pytest.raises(ValueError, match="forged.npz: .*" + words):
        load_checkpoint(path, n_samples=N)


def order_with(i, value, dtype=np.int64):
    order = np.arange(N, dtype=dtype)[::-1].copy()
    order[i] = value
    return order


FORGED_ORDERS = [
    ("1e9", order_with(3, 10**9), "holds the sample index 1000000000, but the training data "
                                  "has 64 samples"),
    ("-1e9", order_with(3, -10**9), "holds the sample index -1000000000; indices are >= 0"),
    ("-1", order_with(3, -1), "holds the sample index -1; indices are >= 0"),
    ("n", order_with(0, N), "holds the sample index 64, but the training data has 64"),
    ("duplicate", order_with(0, 5), "repeats sample indices; it must be a permutation"),
    ("all zero", np.zeros(N, np.int64), "repeats sample indices"),
    ("uint64 huge", order_with(3, 2**63 + 5, np.uint64), "holds the sample index "
                                                         "9223372036854775813, but the"),
    ("float", np.arange(N, dtype=np.float64), r"extra.order.npy: holds float64\(64,\) but "
                                              "the metadata needs iu"),
    ("short", np.arange(N - 1), r"extra.order.npy: holds int64\(63,\) but the metadata "
                                r"needs iu\(64,\)"),
    ("2-d", np.arange(N).reshape(8, 8), r"extra.order.npy: holds int64\(8, 8\)"),
]


@pytest.mark.parametrize("order, words", [c[1:] for c in FORGED_ORDERS],
                         ids=[c[0] for c in FORGED_ORDERS])
def test_forged_sample_orders_are_refused(run, tmp_path, order, words):
    path = forge(run, tmp_path, arrays_edit={"extra.order": order})
    with pytest.raises(ValueError, match="forged.npz: .*" + words):
        load_checkpoint(path, n_samples=N)


def test_an_order_is_checked_against_the_data_size_given(run):
    with pytest.raises(ValueError, match=r"'training.n_train' is 64, expected an integer in "
                                         r"\[1, 63\]"):
        load_checkpoint(run[2], n_samples=N - 1)
    with pytest.raises(TypeError, match="n_samples must be an integer"):
        load_checkpoint(run[2], n_samples="64")


def test_mid_epoch_checkpoint_without_its_order(run, tmp_path):
    path = forge(run, tmp_path, drop="extra.order")
    with pytest.raises(ValueError, match="forged.npz: checkpoint taken mid-epoch lacks the "
                                         "sample order"):
        load_checkpoint(path, n_samples=N)


def test_missing_optimizer_state_and_unknown_members(run, tmp_path):
    path = forge(run, tmp_path, drop="opt.m")
    with pytest.raises(ValueError, match=r"forged.npz: .*members missing: \['opt.m.npy'\]"):
        load_checkpoint(path)
    path = forge(run, tmp_path, arrays_edit={"opt.z": np.zeros(P, np.float32)})
    with pytest.raises(ValueError, match="forged.npz: .*unexpected member opt.z.npy"):
        load_checkpoint(path)


def test_a_valid_forgery_resumes_and_trains(run, tmp_path):
    """The checks refuse nothing a run can produce: a rewritten but consistent
    checkpoint (another valid order) resumes and finishes."""
    X, y, _ = run
    order = np.random.default_rng(7).permutation(N)
    net, state = load_checkpoint(forge(run, tmp_path, arrays_edit={"extra.order": order}),
                                 n_samples=N)
    np.testing.assert_array_equal(state["order"], order)
    h = net.fit(X, y, epochs=3, batch_size=BATCH, optimizer=net.optimizer, resume=state,
                verbose=False)
    assert len(h["loss"]) == 3 and np.isfinite(net.params).all()


def test_a_checkpoint_from_before_stopped_and_finished_still_resumes(run, tmp_path):
    arrays, meta = fio.read_archive(run[2])
    for key in ("stopped", "finished"):
        del meta["training"][key]
    fio.write_archive(tmp_path / "older.npz", arrays, meta)
    _, state = load_checkpoint(tmp_path / "older.npz", n_samples=N)
    assert (state["stopped"], state["finished"]) == (False, False)


def test_duplicate_keys_in_meta_json_are_refused(run, tmp_path):
    arrays, meta = fio.read_archive(run[2])
    path = write_raw(tmp_path / "dup.npz", arrays, meta)
    text = json.dumps(meta)
    with zipfile.ZipFile(path, "w") as z:
        for name, a in arrays.items():
            with z.open(name + ".npy", "w") as m:
                np.lib.format.write_array(m, a)
        z.writestr("meta.json", '{"dtype": "float64", ' + text[1:])
    with pytest.raises(ValueError, match=r"dup.npz: .*meta.json is not valid JSON .*duplicate "
                                         r"keys"):
        fn.load(path)


# ---------------------------------------------------------------- memory bounds
def _peak_while(fn_, *args):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as e:
            fn_(*args)
        return tracemalloc.get_traced_memory()[1], str(e.value)
    finally:
        tracemalloc.stop()


def npy_header(shape, dtype=np.float32):
    import io
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
            "shape": shape})
    return f.getvalue()


ZEROS = 512 << 20   # what the bomb inflates to


@pytest.fixture(scope="module")
def bombs(run, tmp_path_factory):
    """Model files (about 0.5 MB) whose params.npy is deflated zeros inflating to 512 MiB:
    'honest' (the zip and .npy headers say so), 'lying' (the zip header declares the
    P floats the layers need, the stream goes on for 512 MiB)."""
    arrays, meta = fio.read_archive(run[2])
    folder = tmp_path_factory.mktemp("bombs")
    out = {}
    for kind, shape in (("honest", (ZEROS // 4,)), ("lying", (P,))):
        path = folder / f"{kind}.npz"
        head = npy_header(shape)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            with z.open("params.npy", "w") as m:
                m.write(head)
                block = bytes(1 << 20)
                for _ in range(ZEROS >> 20):
                    m.write(block)
            for name, a in arrays.items():
                if name != "params":
                    with z.open(name + ".npy", "w") as m:
                        np.lib.format.write_array(m, a)
            z.writestr("meta.json", json.dumps(meta))
        if kind == "lying":   # declare header + P floats in the local and central headers
            raw = bytearray(path.read_bytes())
            size = (len(head) + P * 4).to_bytes(4, "little")
            local = 0   # params.npy is the first member
            eocd = raw.rfind(b"PK\x05\x06")
            central = int.from_bytes(raw[eocd + 16:eocd + 20], "little")
            assert raw[local:local + 4] == b"PK\x03\x04" and \
                raw[central:central + 4] == b"PK\x01\x02"
            raw[local + 22:local + 26] = size
            raw[central + 24:central + 28] = size
            path.write_bytes(bytes(raw))
        assert path.stat().st_size < 2 << 20
        out[kind] = path
    return out


@pytest.mark.parametrize("kind, words", [
    ("honest", r"params.npy: holds float32\(134217728,\) but the metadata needs "
               r"float32\(58,\)"),
    ("lying", r"Bad CRC-32 for file 'params.npy'")])
def test_compressed_member_bombs_are_refused_in_bounded_memory(bombs, kind, words):
    peak, message = _peak_while(fn.load, bombs[kind])
    assert f"{kind}.npz: not a valid fastnet model file" in message
    assert re.search(words, message), message
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.0f} MiB"


def test_honest_bomb_without_layer_expectations_is_bounded_by_the_file_size(bombs):
    peak, message = _peak_while(fio.read_archive, bombs["honest"])
    assert "params.npy: 536870912 bytes is more than this file may hold" in message
    assert peak < MEMORY_BOUND


def test_meta_claiming_a_huge_layer_is_refused_without_allocating(run, tmp_path):
    """The issue's 206 KB file whose meta.json claims a 3-million-wide layer."""
    wide = [fn.Dense(6, 3_000_000, activation="relu").config(),
            fn.Dense(3_000_000, 3).config()]
    path = forge(run, tmp_path, ("layers",), wide)
    peak, message = _peak_while(fn.load, path)
    assert "params.npy: holds float32(58,) but the metadata needs float32(30000003,)" \
        in message
    assert peak < MEMORY_BOUND
    huge = [fn.Dense(784, 3_000_000).config(), fn.Dense(3_000_000, 3_000_000).config()]
    peak, message = _peak_while(fn.load, forge(run, tmp_path, ("layers",), huge))
    assert "params.npy: holds float32(58,) but the metadata needs" in message
    assert peak < MEMORY_BOUND


def test_huge_meta_json_is_refused_before_reading(tmp_path):
    path = tmp_path / "meta.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("meta.json", b" " * (fio.MAX_META_BYTES + 1))
    peak, message = _peak_while(fn.load, path)
    assert f"meta.json declares {fio.MAX_META_BYTES + 1} bytes, more than the" in message
    assert peak < MEMORY_BOUND


def test_other_compression_methods_are_refused(run, tmp_path):
    arrays, meta = fio.read_archive(run[2])
    path = tmp_path / "bz.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as z:
        for name, a in arrays.items():
            with z.open(name + ".npy", "w") as m:
                np.lib.format.write_array(m, a)
        z.writestr("meta.json", json.dumps(meta), compress_type=zipfile.ZIP_STORED)
    with pytest.raises(ValueError, match="unsupported compression method 12"):
        fn.load(path)


def test_a_deflated_copy_of_a_good_file_loads(run, tmp_path):
    arrays, meta = fio.read_archive(run[2])
    path = write_raw(tmp_path / "deflated.npz", arrays, meta)   # ZIP_STORED by default
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "d.npz", "w",
                                                       zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info))
    net, _ = load_checkpoint(tmp_path / "d.npz", n_samples=N)
    np.testing.assert_array_equal(net.params, arrays["params"])


# ---------------------------------------------------------------- file modes
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        fio.write_text(tmp_path / "a.txt", "x")
        fn.save(small_net(), tmp_path / "m.npz")
        assert os.umask(umask) == umask   # the writes left the process's umask alone
    finally:
        os.umask(old)
    for name in ("a.txt", "m.npz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_run_folder_files_follow_the_umask(run):
    old = os.umask(0o022)
    os.umask(old)
    folder = run[2].parent
    for name in ("checkpoint.npz", "history.csv"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o666 & ~old, name


# ---------------------------------------------------------------- history.csv
def test_history_of_a_run_interrupted_in_its_first_epoch(tmp_path):
    path = tmp_path / "history.csv"
    fio.write_text(path, fn.callbacks.history_csv({}))
    assert read_history_csv(path) == {"epoch": [], "loss": []}


@pytest.mark.parametrize("text, words", [
    ("", r"lacks \['epoch', 'loss'\]"),
    ("epo", r"lacks \['epoch', 'loss'\]"),
    ("epoch,loss\n1,0.5\nx,0.4\n", r"row 2, column 'epoch': 'x' is not an integer"),
    ("epoch,loss\n1,abc\n", r"row 1, column 'loss': 'abc' is not a number"),
    ("epoch,loss\n1\n", r"row 1 does not have the header's 2 cells"),
    ("epoch,loss\n1,0.5,7\n", r"row 1 does not have the header's 2 cells"),
    (b"epoch,loss\n1,\xff\n", "not a history.csv .*UnicodeDecodeError"),
])
def test_broken_history_csv_is_a_clear_error(tmp_path, text, words):
    path = tmp_path / "history.csv"
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    with pytest.raises(ValueError, match="history.csv: .*" + words):
        read_history_csv(path)


def test_history_csv_round_trip_with_missing_cells(tmp_path):
    path = tmp_path / "history.csv"
    fio.write_text(path, fn.callbacks.history_csv({"epoch": [1, 2], "loss": [0.5, 0.25],
                                                   "val_loss": [0.75, None]}))
    back = read_history_csv(path)
    assert back["epoch"] == [1, 2] and back["loss"] == [0.5, 0.25]
    assert back["val_loss"][0] == 0.75 and math.isnan(back["val_loss"][1])
    assert "accuracy" not in back


# ---------------------------------------------------------------- fuzz
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) |
    st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6)


def near(value):
    """Values close to a field's own: the forgeries most likely to slip through."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(value - 20, value + 20) | st.sampled_from([0, -1, N, 10**9])
    if isinstance(value, float):
        return st.floats(value - 10, value + 10) | st.sampled_from([0.0, -0.0, math.nan])
    return json_values


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_forged_meta_json_is_refused_or_resumes(run, tmp_path, data):
    """A random field (or sub-field) replaced by a random JSON value, the checksum
    recomputed: load_checkpoint raises ValueError/TypeError naming the file, or the
    checkpoint resumes and trains to the end with finite weights."""
    X, y, ckpt = run
    arrays, meta = fio.read_archive(ckpt)
    paths = [w for w, _ in leaves(meta) if w[0] not in ("sha256", "arrays_sha256")]
    where = data.draw(st.sampled_from(paths))
    if data.draw(st.booleans()):   # a whole sub-tree replaced
        where = where[:data.draw(st.integers(1, len(where)))]
        value = data.draw(json_values)
    else:
        old = meta
        for k in where:
            old = old[k]
        value = data.draw(near(old))
    forged = set_at(meta, where, value)
    path = tmp_path / "fuzz.npz"
    try:
        fio.write_archive(path, arrays, forged)
    except ValueError:   # json refuses to write it (e.g. a float beyond the range)
        return
    try:
        net, state = load_checkpoint(path, n_samples=N)
    except (ValueError, TypeError) as e:
        assert "fuzz.npz" in str(e)
        event("refused")
        return
    assert 0 <= state["epoch"] <= state["epochs"] and 0 <= state["position"] <= N
    try:
        net.fit(X, y, epochs=3, batch_size=BATCH, optimizer=net.optimizer, resume=state,
                verbose=False)
    except ValueError as e:   # fit's own refusal (e.g. another batch size)
        assert "resume" in str(e)
        event("refused by fit")
    else:
        assert np.isfinite(net.params).all()
        event("resumed")


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.integers(-2**63, 2**63 - 1), min_size=N, max_size=N) |
       st.permutations(range(N)).map(list))
def test_fuzz_sample_orders_are_permutations_or_refused(run, tmp_path, order):
    path = forge(run, tmp_path, arrays_edit={"extra.order": np.array(order, np.int64)})
    try:
        _, state = load_checkpoint(path, n_samples=N)
    except ValueError as e:
        assert "forged.npz: checkpoint array 'order'" in str(e)
        assert sorted(order) != list(range(N))
    else:
        assert sorted(state["order"]) == list(range(N))
