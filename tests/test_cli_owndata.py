"""`fastnet train` defaults on light-background pixels (scaling's auto rule), and
`evaluate`/`plot` scoring a model in one pass over the data."""
import gzip
import json

import numpy as np
import pytest

import fastnet as fn
from fastnet import passes
from fastnet.cli import main
from fastnet.datasets import load_mnist
from fastnet.scaling import LIGHT_BACKGROUND, Scaler

QUICK = ["--threads", "1", "--no-progress"]


def write_idx(path, a):
    header = bytes([0, 0, 8, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + a.astype(np.uint8).tobytes())


def test_auto_scales_dark_pixels_by_255_and_centres_light_ones():
    (X, _), _ = load_mnist()
    dark = Scaler("auto").fit(X[:2000])
    assert dark.is_pixels and dark.describe() == "auto: pixels / 255, dark background " \
        f"(mean pixel < {LIGHT_BACKGROUND})"
    light = Scaler("auto").fit(255 - X[:2000])
    assert not light.is_pixels and light.takes_pixels
    np.testing.assert_allclose(light.shift, (255 - X[:2000]).mean(axis=0), rtol=1e-5)
    # centred inverted digits are the centred digits, negated
    centred = (X[:5].astype(np.float32) - X[:2000].mean(axis=0)) / 255
    np.testing.assert_allclose(light.transform(255 - X[:5]), -centred, atol=1e-5)
    assert f">= {LIGHT_BACKGROUND}" in light.describe() and "mean pixel 0.87" in light.describe()


@pytest.mark.parametrize("mode", ["auto", "unit", "standard"])
def test_fit_on_rows_of_a_memory_mapped_array_equals_fit_on_those_rows(tmp_path, mode,
                                                                       monkeypatch):
    monkeypatch.setattr("fastnet.scaling.CHUNK_BYTES", 64 * 784 * 8)   # chunks of 64 rows
    (X, _), _ = load_mnist()
    np.save(tmp_path / "X.npy", 255 - X[:500])
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    rows = np.random.default_rng(0).permutation(500)[:450]
    a, b = Scaler(mode).fit(mapped, rows), Scaler(mode).fit(255 - X[:500][rows])
    np.testing.assert_allclose(a.shift, b.shift, rtol=1e-5)
    np.testing.assert_allclose(a.factor, b.factor, rtol=1e-5)
    with pytest.raises(ValueError, match="rows must be a 1-D array of row indices of X"):
        Scaler(mode).fit(mapped, [0, 500])


def test_inverted_mnist_idx_trains_with_the_defaults(tmp_path, capsys):
    """Inverted pixels are near 1 almost everywhere: with x / 255 the MNIST recipe (lr 0.1)
    stays at chance; centred, they train as MNIST does."""
    (X, y), (Xt, yt) = load_mnist()
    d = tmp_path / "inverted"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte.gz", 255 - X[:4000].reshape(-1, 28, 28))
    write_idx(d / "train-labels-idx1-ubyte.gz", y[:4000])
    write_idx(d / "t10k-images-idx3-ubyte.gz", 255 - Xt[:1000].reshape(-1, 28, 28))
    write_idx(d / "t10k-labels-idx1-ubyte.gz", yt[:1000])
    out = tmp_path / "run"
    assert main(["train", "--data", str(d), "--epochs", "2", "--out", str(out), *QUICK]) == 0
    text = capsys.readouterr().out
    assert "3600 train / 400 validation / 1000 test" in text
    assert "scaled auto: centred pixels (x - mean) / 255, light background" in text
    test = json.loads((out / "test.json").read_text())
    assert test["n"] == 1000 and test["accuracy"] >= 0.85      # 0.89 measured; chance 0.1
    net = fn.load(out / "model.npz")                           # the centring is in the model
    assert net.scaler.takes_pixels and net.scaler.shift.mean() > LIGHT_BACKGROUND * 255
    assert main(["evaluate", str(out)]) == 0
    assert f"accuracy {100 * test['accuracy']:.2f}%" in capsys.readouterr().out
    # predict: a 0..1 image reaches the model as the 0..255 pixels it was trained on
    np.save(tmp_path / "digits.npy", (255 - Xt[:20]).astype(np.float32) / 255)
    assert main(["predict", str(out), str(tmp_path / "digits.npy")]) == 0
    said = [int(line.split()[1]) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_array_equal(said, net.predict(255 - Xt[:20]))


def binary_model(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(0, 1, (300, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    np.savez(tmp_path / "d.npz", x_train=X[:200], y_train=y[:200], x_test=X[200:],
             y_test=y[200:])
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--hidden", "8", "--epochs", "2",
                 "--out", str(out), *QUICK]) == 0
    return out, X[200:], y[200:]


def test_evaluate_and_plot_score_a_binary_model_in_one_pass(tmp_path, capsys, monkeypatch):
    out, X, y = binary_model(tmp_path)
    net = fn.load(out / "model.npz")
    expected = net.evaluate(X, y)
    seen = []
    forward = passes.forward
    monkeypatch.setattr(passes, "forward", lambda net, ws, *a, **k: (
        seen.append(ws.x.shape[0]), forward(net, ws, *a, **k))[1])
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    assert sum(seen) == len(X)                       # each test row forward once
    text = capsys.readouterr().out
    assert f"loss {expected['loss']:.4f}   accuracy {100 * expected['accuracy']:.2f}%" in text
    pytest.importorskip("matplotlib")
    seen.clear()
    assert main(["plot", str(out), "--out", str(tmp_path / "plots")]) == 0
    assert sum(seen) == len(X) and (tmp_path / "plots" / "confusion.png").is_file()


def _pixel_csv(path, X, y, fmt):
    header = ",".join([f"p{i}" for i in range(X.shape[1])] + ["label"])
    np.savetxt(path, np.c_[X, y], fmt=fmt, delimiter=",", header=header, comments="")


def test_a_pixel_csv_model_scales_a_test_csv_of_fractional_pixels_too(tmp_path, capsys):
    """A run on a CSV of 0..255 integers (uint8 pixels) keeps its x / 255 in the model, so a
    test CSV holding one non-integer value (read as floats) is scaled the same: it scored
    a loss of 72 instead of 0.4, unscaled, before."""
    from sklearn.datasets import load_digits
    d = load_digits()
    X, y = (d.data * 16).clip(0, 255).astype(int), d.target
    _pixel_csv(tmp_path / "train.csv", X[:1400], y[:1400], "%d")
    _pixel_csv(tmp_path / "test_int.csv", X[1400:], y[1400:], "%d")
    fractional = X[1400:].astype(float)
    fractional[0, 5] += 0.5
    _pixel_csv(tmp_path / "test.csv", fractional, y[1400:], "%g")
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--epochs", "2",
                 "--out", str(out), *QUICK]) == 0
    assert "scaled auto: pixels / 255, dark background" in capsys.readouterr().out
    assert fn.load(out / "model.npz").scaler.is_pixels
    losses = []
    for name in ("test_int.csv", "test.csv"):
        assert main(["evaluate", str(out), "--data", str(tmp_path / name)]) == 0
        losses.append(float(capsys.readouterr().out.split("loss ")[1].split()[0]))
    assert losses[0] < 2 and losses[1] == pytest.approx(losses[0], abs=1e-3)


def test_predict_gives_0_to_1_images_to_a_standardised_pixel_model_as_pixels(tmp_path, capsys):
    """A model standardised on uint8 MNIST takes 0..255 pixels; a 0..1 array reaches it as
    those pixels (it was standardised as if 0..255 before)."""
    (X, y), (Xt, yt) = load_mnist()
    np.savez(tmp_path / "small.npz", x_train=X[:1000], y_train=y[:1000])
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "small.npz"), "--scale", "standard",
                 "--epochs", "1", "--out", str(out), *QUICK]) == 0
    capsys.readouterr()
    np.save(tmp_path / "u8.npy", Xt[:20])
    np.save(tmp_path / "f01.npy", Xt[:20].astype(np.float32) / 255)
    said = []
    for name in ("u8.npy", "f01.npy"):
        assert main(["predict", str(out), str(tmp_path / name)]) == 0
        said.append([line.split()[1] for line in capsys.readouterr().out.splitlines()])
    assert said[0] == said[1]
    np.testing.assert_array_equal(np.array(said[0], int),
                                  fn.load(out / "model.npz").predict(Xt[:20]))
