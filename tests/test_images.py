"""Digit preparation for `fastnet predict`: MNIST-like 28×28 from any image."""
import numpy as np
import pytest

from fastnet import images


def test_resize_preserves_mean_and_constant_images():
    rng = np.random.default_rng(0)
    img = rng.random((57, 31))
    small = images.resize(img, 20, 11)
    assert small.shape == (20, 11)
    assert abs(small.mean() - img.mean()) < 0.02
    np.testing.assert_allclose(images.resize(np.full((9, 7), 0.3), 28, 28), 0.3)


def test_to_mnist_inverts_crops_scales_and_centres():
    paper = np.ones((300, 200))                 # white paper, a dark bar off-centre
    paper[40:260, 20:60] = 0.0
    x = images.to_mnist(paper).reshape(28, 28)
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    rows, cols = np.nonzero(x > 0.5)
    assert rows.max() - rows.min() + 1 == 20    # longer side scaled to 20 pixels
    ys, xs = np.indices(x.shape)
    assert abs((ys * x).sum() / x.sum() - 13.5) <= 1 and abs((xs * x).sum() / x.sum() - 13.5) <= 1
    dark = 1 - paper                             # the same digit, light on dark
    np.testing.assert_allclose(images.to_mnist(dark), x.reshape(-1), atol=1e-6)


def test_blank_image_and_bad_shapes(tmp_path):
    assert not images.to_mnist(np.ones((10, 10))).any()
    with pytest.raises(ValueError, match="2-D"):
        images.to_mnist(np.ones((3, 4, 5)))
    np.save(tmp_path / "bad.npy", np.zeros((3, 5)))
    with pytest.raises(ValueError, match="bad.npy"):
        images.load_inputs(tmp_path / "bad.npy")
    with pytest.raises(FileNotFoundError):
        images.load_inputs(tmp_path / "missing.png")


def test_png_and_jpeg_files(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    ImageDraw = pytest.importorskip("PIL.ImageDraw")
    im = Image.new("RGB", (120, 160), "white")
    ImageDraw.Draw(im).line([(60, 20), (60, 140)], fill="black", width=12)
    im.save(tmp_path / "one.png")
    im.save(tmp_path / "one.jpg", quality=90)
    a = images.load_inputs(tmp_path / "one.png")
    b = images.load_inputs(tmp_path / "one.jpg")
    assert a.shape == (1, 784) and np.abs(a - b).max() < 0.15
    assert a.reshape(28, 28)[:, 14].max() > 0.9 and a.reshape(28, 28)[:, :8].max() == 0
