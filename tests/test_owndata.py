"""Your own data end to end: `fastnet train --data` on CSV (string labels, regression),
NPZ files made here, the honest validation split, the scaler in the model file,
and `evaluate`/`predict` on models that are not MNIST's."""
import csv
import json

import numpy as np
import pytest
from conftest import KernelCount

import fastnet as fn
from fastnet import callbacks, metrics
from fastnet.cli import main
from fastnet.inputs import split_indices
from fastnet.scaling import Scaler

QUICK = ["--threads", "1", "--no-progress", "--batch-size", "32"]
ANIMALS = ["cat", "dog", "fox"]


def write_csv(path, X, y, names=None, target="label"):
    names = names or [f"f{i}" for i in range(X.shape[1])]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names + ([target] if y is not None else []))
        for i, row in enumerate(X):
            w.writerow([f"{v:.6g}" for v in row] + ([y[i]] if y is not None else []))
    return path


def blobs(n, k, seed, scale=(1, 50, 1000, 1)):
    """k separable classes in 4 features of very different scales (means at 0, 100, 5000, 0)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centres = np.random.default_rng(99).normal(0, 4, (k, 4))
    X = (centres[labels] + rng.normal(0, 1, (n, 4))) * scale + [0, 100, 5000, 0]
    return X, labels


@pytest.fixture(scope="module")
def animals(tmp_path_factory):
    """A CSV run with string labels: train/test CSVs, the run folder and train's stdout."""
    d = tmp_path_factory.mktemp("animals")
    X, ids = blobs(400, 3, 1)
    write_csv(d / "train.csv", X[:300], [ANIMALS[i] for i in ids[:300]])
    write_csv(d / "test.csv", X[300:], [ANIMALS[i] for i in ids[300:]])
    write_csv(d / "rows.csv", X[300:305], None)
    out = d / "run"
    code = main(["train", "--data", str(d / "train.csv"), "--test-data", str(d / "test.csv"),
                 "--hidden", "16", "--epochs", "4", "--out", str(out), *QUICK])
    assert code == 0
    return d, out, X, ids


def test_csv_string_labels_train_with_inferred_shapes_and_classes(animals, capsys):
    d, out, X, ids = animals
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["layers"] == [4, 16, 3] and cfg["task"] == "classification"
    assert cfg["loss"] == "softmax_cross_entropy" and cfg["data"].endswith("train.csv")
    net = fn.load(out / "model.npz")
    assert net.classes == ANIMALS and net.task == "classification"
    test = json.loads((out / "test.json").read_text())
    assert test["n"] == 100 and test["accuracy"] > 0.9


def test_test_set_never_touches_training(animals):
    d, out, X, ids = animals
    cfg = json.loads((out / "config.json").read_text())
    split = cfg["split"]
    assert split["n_train"] + split["n_validation"] == 300 and split["n_validation"] == 30
    assert split["n_test"] == 100 and split["test_source"].endswith("test.csv")
    history = callbacks.read_history_csv(out / "history.csv")
    assert not any("test" in k for k in history)
    test = json.loads((out / "test.json").read_text())
    assert history["val_loss"][-1] != pytest.approx(test["loss"], rel=1e-6)
    # the validation rows (the seeded stratified split) are training rows, none of the test
    labels = np.array([ANIMALS.index(a) for a in np.array(ANIMALS)[ids[:300]]])
    train_idx, val_idx = split_indices(300, 0.1, np.random.default_rng(cfg["seed"]), labels)
    assert len(val_idx) == split["n_validation"]
    assert not set(map(tuple, X[val_idx].round(3))) & set(map(tuple, X[300:].round(3)))
    # the scaler was fitted on the training part only, not on validation or test rows
    net = fn.load(out / "model.npz")
    assert net.scaler.mode == "auto" and not net.scaler.is_pixels   # auto: standardised
    np.testing.assert_allclose(net.scaler.shift, X[:300][train_idx].mean(axis=0), rtol=1e-4)


def test_evaluate_and_predict_show_class_names(animals, capsys):
    d, out, X, ids = animals
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "100 samples of" in text and all(f"\n{a:>5} " in text for a in ANIMALS)
    assert main(["predict", str(out / "model.npz"), str(d / "rows.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    net = fn.load(out / "model.npz")
    want = [ANIMALS[c] for c in net.predict(X[300:305])]
    assert [line.split()[1] for line in lines] == want
    # a CSV that still has the run's target column: that column is not a feature
    assert main(["predict", str(out), str(d / "test.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 100 and [line.split()[1] for line in lines[:5]] == want


def test_plot_any_model(animals, capsys):
    pytest.importorskip("matplotlib")
    d, out, X, ids = animals
    assert main(["plot", str(out), "--out", str(d / "plots")]) == 0
    assert (d / "plots" / "confusion.png").is_file() and (d / "plots" / "loss.png").is_file()


def test_scaler_round_trips_through_save_and_load(tmp_path):
    X, y = blobs(200, 3, 2)
    net = fn.Network([fn.Dense(4, 8, activation="relu"), fn.Dense(8, 3)], seed=1)
    net.scaler = Scaler("standard").fit(X)
    net.classes = ["a", "b", "c"]
    net.fit(X, y, epochs=2, batch_size=20, verbose=False)
    fn.save(net, tmp_path / "m.npz")
    back = fn.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.scaler.shift, net.scaler.shift)
    np.testing.assert_array_equal(back.scaler.factor, net.scaler.factor)
    assert back.classes == ["a", "b", "c"]
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))
    # the scaler is applied: the same as scaling by hand for a network without one
    bare = fn.load(tmp_path / "m.npz")
    bare.scaler = None
    np.testing.assert_allclose(bare.predict_proba(net.scaler.transform(X)),
                               net.predict_proba(X), rtol=1e-6)


def test_fit_warns_on_unscaled_float_data():
    X, y = blobs(100, 2, 3)
    net = fn.Network([fn.Dense(4, 2)])
    with pytest.warns(UserWarning, match="unscaled"):
        net.fit(X, y, epochs=1, verbose=False)


def test_validation_rows_are_checked_and_scaled_once_not_every_epoch(monkeypatch):
    from fastnet import inputs, scaling
    X, y = blobs(200, 3, 4)
    calls = []
    for name, module in [("check_finite", inputs), ("transform", scaling.Scaler)]:
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, real=real, name=name: calls.append(name) or real(*a))
    counts = []
    for epochs in (1, 4):
        net = fn.Network([fn.Dense(4, 8, activation="relu"), fn.Dense(8, 3)], seed=1)
        net.scaler = Scaler("standard").fit(X)
        calls.clear()
        history = net.fit(X, y, epochs=epochs, batch_size=20, validation_split=0.2,
                          verbose=False)
        assert len(history["val_loss"]) == epochs
        counts.append(list(calls))
    assert counts[0] == counts[1] and "transform" not in counts[0]


def test_a_run_splits_its_data_once(tmp_path, monkeypatch, capsys):
    from fastnet import inputs, runs
    X, y = blobs(200, 3, 5)
    write_csv(tmp_path / "train.csv", X, [ANIMALS[i] for i in y])
    split = inputs.split_indices
    drawn = []

    def spy(*args, **kwargs):
        drawn.append(split(*args, **kwargs))
        return drawn[-1]
    monkeypatch.setattr(inputs, "split_indices", spy)
    monkeypatch.setattr(runs, "split_indices", spy, raising=False)
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--hidden", "8", "--epochs",
                 "1", "--out", str(tmp_path / "run"), *QUICK]) == 0
    assert len(drawn) == 1
    train_idx, val_idx = drawn[0]
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (cfg["split"]["n_train"], cfg["split"]["n_validation"]) == (180, 20) == \
        (len(train_idx), len(val_idx))
    # the scaler was fitted on exactly the rows fit trained on
    net = fn.load(tmp_path / "run" / "model.npz")
    np.testing.assert_allclose(net.scaler.shift, X[train_idx].mean(axis=0), rtol=1e-5)
    out = capsys.readouterr().out
    assert "180 train / 20 validation" in out and "features scaled auto: standard" in out


def test_validation_split_is_stratified_and_seeded():
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    a = split_indices(100, 0.2, np.random.default_rng(5), y)
    b = split_indices(100, 0.2, np.random.default_rng(5), y)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    train_idx, val_idx = a
    assert np.bincount(y[val_idx]).tolist() == [18, 2]
    assert sorted(np.r_[train_idx, val_idx]) == list(range(100))


def test_npz_binary_run_and_evaluate_metrics_match_sklearn(tmp_path, capsys):
    skm = pytest.importorskip("sklearn.metrics")
    X, y = blobs(500, 2, 4)
    np.savez(tmp_path / "d.npz", x_train=X[:400], y_train=y[:400], x_test=X[400:],
             y_test=y[400:])
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--hidden", "8", "--epochs", "3",
                 "--out", str(out), *QUICK]) == 0
    assert "task binary" in capsys.readouterr().out
    net = fn.load(out / "model.npz")
    assert net.n_outputs == 1 and net.loss == "binary_cross_entropy"
    assert main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    p = net.predict_proba(X[400:])[:, 0]
    pred = (p > 0.5).astype(int)
    assert f"ROC AUC {skm.roc_auc_score(y[400:], p):.4f}" in text
    assert f"F1 {skm.f1_score(y[400:], pred):.4f}" in text
    assert f"precision {skm.precision_score(y[400:], pred, zero_division=0):.4f}" in text


def test_regression_csv_and_its_metrics_match_sklearn(tmp_path, capsys):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(6)
    X = rng.normal(0, 1, (400, 3)) * [1, 100, 10]
    t = X[:, 0] + X[:, 1] / 100 - X[:, 2] / 10 + rng.normal(0, 0.1, 400) + 0.5
    write_csv(tmp_path / "train.csv", X[:300], t[:300], target="price")
    write_csv(tmp_path / "test.csv", X[300:], t[300:], target="price")
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--test-data",
                 str(tmp_path / "test.csv"), "--target", "price", "--hidden", "16", "--lr",
                 "0.01", "--epochs", "8", "--out", str(out), *QUICK]) == 0
    assert "task regression" in capsys.readouterr().out
    net = fn.load(out / "model.npz")
    assert net.loss == "sum_of_squares" and net.n_outputs == 1
    assert main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    pred = net.predict(X[300:].astype(np.float32))[:, 0]
    truth = t[300:].astype(np.float32)
    assert f"RMSE {np.sqrt(skm.mean_squared_error(truth, pred)):.4g}" in text
    assert f"MAE {skm.mean_absolute_error(truth, pred):.4g}" in text
    r2 = skm.r2_score(truth, pred)
    assert f"R² {r2:.4f}" in text and r2 > 0.5
    test = json.loads((out / "test.json").read_text())
    assert test["r2"] == pytest.approx(r2, abs=1e-4)


def test_five_class_metrics_match_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    y, pred = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    cm = metrics.confusion_matrix(y, pred, 5)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, pred, labels=range(5)))
    precision, recall, f1, support = metrics.per_class(cm)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=range(5), zero_division=0)
    np.testing.assert_allclose(precision, p)
    np.testing.assert_allclose(recall, r)
    np.testing.assert_allclose(f1, f)
    np.testing.assert_array_equal(support, s)


def test_five_class_model_evaluates_with_its_names(tmp_path, capsys):
    names = ["ant", "bee", "cow", "elk", "owl"]
    X, ids = blobs(300, 5, 8)
    write_csv(tmp_path / "five.csv", X, [names[i] for i in ids])
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "five.csv"), "--hidden", "8", "--epochs",
                 "2", "--validation-split", "0", "--out", str(out), *QUICK]) == 0
    assert not (out / "test.json").exists()
    assert (out / "best.npz").read_bytes() == (out / "model.npz").read_bytes()
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--data", str(tmp_path / "five.csv")]) == 0
    text = capsys.readouterr().out
    assert "300 samples" in text and all(f"\n{n:>5} " in text for n in names)


def test_resume_of_a_data_run_equals_the_uninterrupted_run(tmp_path, monkeypatch, capsys):
    X, ids = blobs(300, 3, 9)
    write_csv(tmp_path / "d.csv", X, [ANIMALS[i] for i in ids])
    args = ["train", "--data", str(tmp_path / "d.csv"), "--hidden", "8", "--epochs", "3",
            *QUICK]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    original = callbacks.RunDirectory.on_checkpoint

    def stop_after_first_epoch(self, state):
        original(self, state)
        if state.epoch == 1:
            raise fn.TrainingInterrupted(state)

    monkeypatch.setattr(callbacks.RunDirectory, "on_checkpoint", stop_after_first_epoch)
    assert main([*args, "--out", str(tmp_path / "cut")]) == 130
    monkeypatch.setattr(callbacks.RunDirectory, "on_checkpoint", original)
    assert main(["resume", str(tmp_path / "cut"), *QUICK[:3]]) == 0
    whole, cut = fn.load(tmp_path / "whole" / "model.npz"), fn.load(tmp_path / "cut" / "model.npz")
    assert not whole.sparse_inputs   # standardised features: the first layer out-major
    np.testing.assert_array_equal(whole.params, cut.params)
    assert cut.classes == ANIMALS


def test_early_stopping_says_why_and_restores_the_best(tmp_path, capsys):
    X, ids = blobs(300, 3, 10)
    write_csv(tmp_path / "d.csv", X, [ANIMALS[i] for i in ids])
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--hidden", "8", "--epochs", "30",
                 "--lr", "3", "--early-stopping", "1", "--out", str(out), *QUICK]) == 0
    text = capsys.readouterr().out
    assert "early stopping after epoch" in text and "restored the weights of epoch" in text
    best = fn.load(out / "best.npz")
    np.testing.assert_array_equal(fn.load(out / "model.npz").params, best.params)


def test_data_errors_are_clear(tmp_path, capsys):
    X, ids = blobs(50, 3, 11)
    write_csv(tmp_path / "d.csv", X, list(ids))
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--layers", "5,8,3",
                 "--out", str(tmp_path / "r"), *QUICK]) == 1
    assert "--layers must start with 4" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--target", "nope",
                 "--out", str(tmp_path / "r"), *QUICK]) == 1
    assert "nope" in capsys.readouterr().err
    assert main(["train", "--early-stopping", "2", "--validation-split", "0",
                 "--out", str(tmp_path / "r"), *QUICK]) == 1
    assert "needs a validation set" in capsys.readouterr().err


def test_predict_shows_inputs_and_warns_on_blank_images(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    out = tmp_path / "run"
    assert main(["train", "--limit", "300", "--hidden", "8", "--epochs", "1", "--out",
                 str(out), *QUICK]) == 0
    page = np.full((60, 40), 255, np.uint8)
    Image.fromarray(page).save(tmp_path / "blank.png")
    page[10:50, 18:23] = 0                       # a thick black 1
    Image.fromarray(page).save(tmp_path / "one.png")
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "one.png"), str(tmp_path / "blank.png"),
                 "--show", str(tmp_path / "seen")]) == 0
    err = capsys.readouterr().err
    assert "blank.png: image looks blank" in err
    assert "low confidence" in err                # a blank input gets no confident digit
    seen = np.asarray(Image.open(tmp_path / "seen" / "one.png"))
    assert seen.shape == (28, 28) and seen.max() == 255
    assert (tmp_path / "seen" / "blank.png").is_file()


# ------------------------------------------------ float64 .npy: memory-mapped, streamed
def float64_npy(folder, n=60_000, features=64):
    """A float64 X.npy (n × features, far from standardised) and y.npy written here."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, n)
    np.save(folder / "X.npy", (rng.normal(0, 1, (n, features)) + y[:, None]) * 40 + 500)
    np.save(folder / "y.npy", y)
    return folder / "X.npy"


def fitted(X, y, callbacks=()):
    net = fn.Network([fn.Dense(X.shape[1], 8, activation="relu"), fn.Dense(8, 3)], seed=3)
    net.scaler = Scaler("standard")
    history = net.fit(X, y, epochs=1, batch_size=512, optimizer=fn.SGD(0.05, momentum=0.9),
                      validation_split=0.1, seed=4, verbose=False, callbacks=list(callbacks))
    del history["seconds"]
    return net, history


def peak_bytes(run):
    """(run()'s result, the peak of the memory Python allocated while it ran)."""
    import tracemalloc
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def same_training(a, b, history_a=None, history_b=None):
    """The same run to float32 rounding: a float64 memory map is converted batch by batch,
    an array in memory once to float32, so the inputs may differ in their last bit."""
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-5)
    np.testing.assert_allclose(a.scaler.shift, b.scaler.shift, rtol=1e-6)
    if history_a is not None:
        assert history_a["accuracy"] == history_b["accuracy"]
        assert history_a["val_accuracy"] == history_b["val_accuracy"]
        np.testing.assert_allclose(history_a["loss"], history_b["loss"], rtol=1e-5)


def test_a_float64_npy_loads_mapped_and_fit_streams_it_equal_to_the_array_in_memory(
        tmp_path):
    from fastnet import datasets, inputs
    path = float64_npy(tmp_path)
    X, y = datasets.load(path)
    assert isinstance(X, np.memmap) and X.dtype == np.float64 and not X.flags.writeable
    fitted(X[:64], y[:64])                                   # compiled before measuring
    count = KernelCount()
    X, y = datasets.load(path)
    (net, history), peak = peak_bytes(lambda: fitted(X, y, [count]))
    assert peak < X.nbytes / 4, f"peak {peak} bytes for a {X.nbytes}-byte X"
    assert count.end == count.begin          # the warm-up planned the float64 gathers
    assert np.shares_memory(inputs.check_input(net, X), X)   # what is gathered
    assert history["val_accuracy"][-1] > 0.9
    in_memory = np.load(path)
    assert type(in_memory) is np.ndarray and in_memory.dtype == np.float64
    net2, history2 = fitted(in_memory, y)
    same_training(net, net2, history, history2)
    np.testing.assert_allclose(net2.predict_proba(in_memory[:500]),
                               net.predict_proba(X[:500]), atol=1e-5)


def test_fastnet_train_and_predict_stream_a_float64_npy_like_the_data_in_memory(
        tmp_path, capsys):
    from fastnet import inputs
    path = float64_npy(tmp_path)
    quick = [*QUICK, "--epochs", "1", "--hidden", "8", "--batch-size", "512"]
    assert main(["train", "--data", str(tmp_path / "X.npy"), "--limit", "64", "--out",
                 str(tmp_path / "warm"), *quick]) == 0            # compiled before measuring
    code, peak = peak_bytes(lambda: main(["train", "--data", str(path), "--out",
                                          str(tmp_path / "mapped"), *quick]))
    assert code == 0
    assert peak < path.stat().st_size / 4, f"peak {peak} for a {path.stat().st_size}-byte file"
    assert "no test set (" in capsys.readouterr().err   # X.npy's rows are not a test set
    in_memory = np.load(path)
    np.savez(tmp_path / "data.npz", X=in_memory, y=np.load(tmp_path / "y.npy"))
    assert main(["train", "--data", str(tmp_path / "data.npz"), "--out",
                 str(tmp_path / "memory"), *quick]) == 0
    mapped = fn.load(tmp_path / "mapped" / "model.npz")
    same_training(mapped, fn.load(tmp_path / "memory" / "model.npz"))
    # predict MODEL X.npy: the rows reach the network memory-mapped, float64
    np.save(tmp_path / "rows.npy", in_memory[:7])
    seen = []
    check_input = inputs.check_input

    def spy(net, X, name="X"):
        seen.append((type(X), X.dtype))
        return check_input(net, X, name)
    capsys.readouterr()
    inputs.check_input = spy
    try:
        assert main(["predict", str(tmp_path / "mapped"), str(tmp_path / "rows.npy")]) == 0
    finally:
        inputs.check_input = check_input
    assert seen == [(np.memmap, np.float64)]
    predicted = [int(line.split(":")[1].split()[0])
                 for line in capsys.readouterr().out.splitlines()]
    assert predicted == mapped.predict(in_memory[:7]).tolist()


def test_a_loaded_memmap_is_checked_for_nan_once_in_chunks(tmp_path, monkeypatch):
    from fastnet import checks, datasets
    monkeypatch.setattr(checks, "CHUNK_BYTES", 4 * 4 * 8)         # chunks of 4 rows
    X, y = blobs(300, 3, 5)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    scans = []
    nonfinite = checks.nonfinite

    def spy(A, dtype=None):
        if isinstance(A, np.memmap) and \
                getattr(A, checks.FINITE_MARK, None) != np.dtype(dtype or A.dtype).str:
            scans.append(A.shape)                    # a memmap read to check it
        return nonfinite(A, dtype)
    monkeypatch.setattr(checks, "nonfinite", spy)
    mapped, labels = datasets.load(tmp_path / "X.npy")
    net = fn.Network([fn.Dense(4, 8, activation="relu"), fn.Dense(8, 3)], seed=0)
    net.scaler = Scaler("standard")
    net.fit(mapped, labels, epochs=1, batch_size=32, verbose=False)
    net.predict(mapped)
    assert scans == [(300, 4)]                       # datasets' check; fit's reuses it
    X[201, 2] = np.nan                               # past the first chunks
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match=r"X.npy.*features row 201 holds NaN"):
        datasets.load(tmp_path / "X.npy")
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")          # not through load
    with pytest.raises(ValueError, match=r"X must be finite, but it holds 1 NaN or infinite "
                                         r"values \(first at index \(201, 2\): nan\)"):
        net.fit(mapped, labels, epochs=1, verbose=False)


def test_an_integer_npy_streams_too(tmp_path):
    from fastnet import datasets, inputs
    X, y = blobs(400, 3, 8)
    np.save(tmp_path / "X.npy", np.round(X).astype(np.int16))
    np.save(tmp_path / "y.npy", y)
    mapped, labels = datasets.load(tmp_path / "X.npy")
    assert isinstance(mapped, np.memmap) and mapped.dtype == np.int16
    net, history = fitted(mapped, labels)
    assert np.shares_memory(inputs.check_input(net, mapped), mapped)
    net2, history2 = fitted(np.array(mapped), labels)     # in memory: once to float32
    same_training(net, net2, history, history2)


def test_a_run_on_a_relative_data_path_resumes_from_another_folder(tmp_path, monkeypatch):
    """config.json keeps the data's absolute path: `fastnet resume` and `evaluate RUN` work
    from any folder, and never pick up another file of the same name there."""
    X, ids = blobs(200, 3, 11)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_csv(tmp_path / "a" / "d.csv", X, [ANIMALS[i] for i in ids])
    write_csv(tmp_path / "b" / "d.csv", X[:50] * 0, [ANIMALS[0]] * 50)   # a decoy
    monkeypatch.chdir(tmp_path / "a")
    assert main(["train", "--data", "d.csv", "--hidden", "8", "--epochs", "1", "--out",
                 str(tmp_path / "run"), *QUICK]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data"] == str(tmp_path / "a" / "d.csv")
    monkeypatch.chdir(tmp_path / "b")
    assert main(["resume", str(tmp_path / "run"), *QUICK[:3]]) == 0   # finished: nothing to do
    assert main(["evaluate", str(tmp_path / "run")]) == 0


def test_csv_columns_are_matched_to_the_training_data_by_name(tmp_path, capsys):
    """A test or evaluation CSV with the columns in another order is read in the training
    order (the model keeps the names); one that lacks a column is refused, naming it."""
    X, ids = blobs(240, 3, 12)
    write_csv(tmp_path / "d.csv", X, [ANIMALS[i] for i in ids])
    names = [f"f{j}" for j in range(X.shape[1])]   # write_csv's
    with open(tmp_path / "d.csv", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    order = [header.index("label")] + [header.index(n) for n in reversed(names)]
    with open(tmp_path / "shuffled.csv", "w", newline="") as f:
        csv.writer(f).writerows([[r[i] for i in order] for r in rows])
    with open(tmp_path / "short.csv", "w", newline="") as f:
        csv.writer(f).writerows([[r[i] for i in order[:-1]] for r in rows])
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--test-data",
                 str(tmp_path / "shuffled.csv"), "--hidden", "8", "--epochs", "2",
                 "--out", str(out), *QUICK]) == 0
    assert fn.load(out / "model.npz").features == names
    reordered = json.loads((out / "test.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", str(tmp_path / "d.csv")]) == 0
    same = capsys.readouterr().out
    assert f"accuracy {100 * reordered['accuracy']:.2f}%" in same, same
    assert main(["evaluate", str(out), "--data", str(tmp_path / "short.csv")]) == 1
    assert f"missing ['{names[0]}']" in capsys.readouterr().err


def test_integer_targets_that_look_like_a_quantity_ask_for_the_task(tmp_path, capsys):
    """Scores 25..346 (the diabetes set) are not 347 classes: the run asks for --task
    instead of training a 347-way classifier; with --task regression it trains."""
    from sklearn.datasets import load_diabetes
    d = load_diabetes()
    write_csv(tmp_path / "d.csv", d.data, d.target.astype(int))
    args = ["train", "--data", str(tmp_path / "d.csv"), "--hidden", "8", "--epochs", "1",
            "--lr", "1e-5", *QUICK]
    assert main([*args, "--out", str(tmp_path / "r1")]) == 1
    assert "give --task regression" in capsys.readouterr().err
    assert main([*args, "--task", "regression", "--out", str(tmp_path / "r2")]) == 0
    assert fn.runs.infer_task(np.arange(300) % 30) == "classification"   # 10 of each id
    assert fn.runs.infer_task(np.repeat([0, 3, 7], 2)) == "classification"   # ids below 20
    with pytest.raises(fn.runs.RunError, match="give --task"):
        fn.runs.infer_task(np.arange(60) % 30)   # 2 of each: as likely a quantity


def test_evaluate_a_run_on_an_npz_without_a_test_part(tmp_path, capsys):
    """As for a CSV run: its training data, with a note saying so."""
    X, ids = blobs(200, 3, 13)
    np.savez(tmp_path / "d.npz", X=X.astype(np.float32), y=ids)
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--hidden", "8", "--epochs", "1",
                 "--out", str(out), *QUICK]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    captured = capsys.readouterr()
    assert "training (no test set) data" in captured.err and "200 samples" in captured.out


def test_predictions_piped_into_a_reader_that_leaves_stop_quietly(tmp_path):
    """`fastnet predict ... | head -1`: no "Broken pipe" error when head exits."""
    import subprocess
    import sys
    X, ids = blobs(5000, 3, 14)
    write_csv(tmp_path / "d.csv", X, [ANIMALS[i] for i in ids])
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--hidden", "8", "--epochs", "1",
                 "--out", str(out), *QUICK]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "fastnet", "predict", str(out),
                             str(tmp_path / "d.csv")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline()
    proc.stdout.close()   # the reader leaves after one line of about 5000
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141 and "Broken pipe" not in err, err


def test_a_timestamp_feature_keeps_its_float64_precision(tmp_path):
    """A unix-time column (1.7e9 s) whose classes differ by 40 s: float32 steps by 128 s
    there, so converted first it held no signal. It loads as float64 and is standardised
    from it (the gather kernels subtract the shift in float64), so it separates the classes
    as it does for scikit-learn."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    X = np.c_[1.7e9 + 40 * y + rng.normal(0, 5, 600), rng.normal(size=600)]
    for name, rows in (("train.csv", slice(0, 500)), ("test.csv", slice(500, None))):
        np.savetxt(tmp_path / name, np.c_[X[rows], y[rows]], fmt=["%.3f", "%.6g", "%d"],
                   delimiter=",", header="ts,noise,label", comments="")
    data = fn.datasets.load(tmp_path / "train.csv")
    assert data.X.dtype == np.float64 and len(np.unique(data.X[:, 0])) > 400   # float32: 3
    assert fn.datasets.load(tmp_path / "test.csv").X.dtype == np.float64
    net = fn.Network([fn.Dense(2, 8, activation="relu"), fn.Dense(8, 2)], seed=0,
                     sparse_inputs=False)
    net.scaler = Scaler("standard")
    net.fit(data.X, data.y, epochs=20, batch_size=32, verbose=False)
    exact = (data.X - net.scaler.shift.astype(np.float64)) * net.scaler.factor
    np.testing.assert_allclose(fn.inputs.scaled(net, data.X), exact, rtol=1e-12)
    test = fn.datasets.load(tmp_path / "test.csv")
    assert net.evaluate(test.X, test.y)["accuracy"] >= 0.95   # 1.0 measured; 0.5 rounded
    # ordinary measurements still load as float32
    write_csv(tmp_path / "plain.csv", X[:, 1:] * 1000, y, names=["noise"])
    assert fn.datasets.load(tmp_path / "plain.csv").X.dtype == np.float32


def test_a_one_row_file_keeps_a_timestamp_in_float64(tmp_path):
    """A row to predict has no range of its own: a constant feature counts as rounded when
    float32's step there exceeds the rule's share of 1 (a timestamp: 128 s)."""
    (tmp_path / "one.csv").write_text("ts,x\n1700000033,0.5\n")
    X = fn.datasets.load(tmp_path / "one.csv", target=None).X
    assert X.dtype == np.float64 and X[0, 0] == 1700000033
    (tmp_path / "small.csv").write_text("a,b\n12.5,0.5\n")
    assert fn.datasets.load(tmp_path / "small.csv", target=None).X.dtype == np.float32
