"""Digit preparation for `fastnet predict`: MNIST-like 28×28 from images people take."""

import numpy as np
import pytest

from fastnet import images

Image = pytest.importorskip("PIL.Image")
ImageDraw = pytest.importorskip("PIL.ImageDraw")

FOUR = [(0.62, 0.85), (0.62, 0.15), (0.2, 0.62), (0.8, 0.62)]   # a "4" as one polyline


def draw_four(size=(240, 300), width=22, paper=255, ink=0, box=(0.2, 0.1, 0.8, 0.9)):
    """A "4" drawn as a polyline inside ``box`` (fractions of the page) on plain paper."""
    w, h = size
    im = Image.new("L", size, paper)
    x0, y0, x1, y1 = box
    pts = [(w * (x0 + (x1 - x0) * x), h * (y0 + (y1 - y0) * y)) for x, y in FOUR]
    ImageDraw.Draw(im).line(pts, fill=ink, width=width, joint="curve")
    return im


def prepared(im, tmp_path, name="d.png", **save):
    path = tmp_path / name
    im.save(path, **save)
    return images.load_inputs(path).reshape(28, 28)


def correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture
def clean(tmp_path):
    return prepared(draw_four(), tmp_path, "clean.png")


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
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() == 1
    rows, cols = np.nonzero(x > 0.5)
    assert rows.max() - rows.min() + 1 == 20    # longer side scaled to 20 pixels
    ys, xs = np.indices(x.shape)
    assert abs((ys * x).sum() / x.sum() - 13.5) <= 1 and abs((xs * x).sum() / x.sum() - 13.5) <= 1
    dark = 1 - paper                             # the same digit, light on dark
    np.testing.assert_allclose(images.to_mnist(dark), x.reshape(-1), atol=1e-6)


def test_blank_image_warns_and_gives_zeros(tmp_path):
    with pytest.warns(UserWarning, match="looks blank"):
        assert not images.to_mnist(np.ones((10, 10))).any()
    noisy = Image.fromarray(np.random.default_rng(0).integers(225, 236, (200, 150), np.uint8))
    with pytest.warns(UserWarning, match="blank.jpg: image looks blank"):
        assert not prepared(noisy, tmp_path, "blank.jpg", quality=80).any()


def test_blank_page_in_a_shadow_is_blank(tmp_path):
    """The shadow's gradient, up to the image's border, is paper, not ink."""
    shade = np.linspace(0.3, 1, 400)[None, :] * np.linspace(0.55, 1, 300)[:, None]
    noise = np.random.default_rng(0).normal(0, 0.01, shade.shape)
    page = Image.fromarray((np.clip(shade * 0.9 + noise, 0, 1) * 255).astype(np.uint8))
    with pytest.warns(UserWarning, match="looks blank"):
        assert not prepared(page, tmp_path, "shadow.jpg", quality=80).any()


def test_bad_shapes_and_files(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        images.to_mnist(np.ones((3, 4, 5)))
    np.save(tmp_path / "bad.npy", np.zeros((3, 5)))
    with pytest.raises(ValueError, match="bad.npy"):
        images.load_inputs(tmp_path / "bad.npy")
    with pytest.raises(FileNotFoundError):
        images.load_inputs(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="junk.png: cannot read"):
        images.load_inputs(tmp_path / "junk.png")


def test_too_many_pixels_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (300, 200), 255).save(path)
    with pytest.raises(ValueError, match=r"huge.png: 300×200 pixels is more than 50,000"):
        images.read_gray(path, max_pixels=50_000)


def test_png_and_jpeg_agree(tmp_path, clean):
    jpeg = prepared(draw_four().convert("RGB"), tmp_path, "d.jpg", quality=85)
    assert np.abs(clean - jpeg).max() < 0.25 and correlation(clean, jpeg) > 0.97
    assert clean.max() == 1 and clean[:, :3].max() == 0


def test_shadow_gradient(tmp_path, clean):
    im = np.asarray(draw_four(), np.float32)
    shade = np.linspace(0.35, 1.0, im.shape[1])[None, :] * np.linspace(0.6, 1, im.shape[0])[:, None]
    shadowed = Image.fromarray((im * shade).astype(np.uint8))
    assert correlation(prepared(shadowed, tmp_path, "shadow.jpg", quality=85), clean) > 0.8


def test_grey_paper_and_grey_ink(tmp_path, clean):
    grey = draw_four(paper=150, ink=70)
    rng = np.random.default_rng(1)
    noisy = np.clip(np.asarray(grey, np.float32) + rng.normal(0, 6, grey.size[::-1]), 0, 255)
    x = prepared(Image.fromarray(noisy.astype(np.uint8)), tmp_path, "grey.jpg", quality=70)
    assert correlation(x, clean) > 0.8


def test_thin_strokes_on_a_large_page(tmp_path, clean):
    thin = draw_four(size=(800, 800), width=1, box=(0.35, 0.3, 0.6, 0.62))
    x = prepared(thin, tmp_path, "thin.png")
    assert x.max() == 1 and (x > 0.5).sum() > 40       # contrast stretched, strokes kept
    assert correlation(x, clean) > 0.8


@pytest.mark.parametrize("tag,turn", [(6, Image.Transpose.ROTATE_90),
                                      (8, Image.Transpose.ROTATE_270),
                                      (3, Image.Transpose.ROTATE_180)])
def test_exif_orientation(tmp_path, clean, tag, turn):
    """A camera stores the pixels turned and says so in the EXIF tag: read it upright."""
    upright = prepared(draw_four().convert("RGB"), tmp_path, "up.jpg", quality=95)
    stored = draw_four().convert("RGB").transpose(turn)
    exif = Image.Exif()
    exif[0x0112] = tag
    x = prepared(stored, tmp_path, "rot.jpg", quality=95, exif=exif)
    assert np.abs(x - upright).max() < 0.2 and correlation(x, clean) > 0.95


def test_sixteen_bit_png(tmp_path, clean):
    a16 = (np.asarray(draw_four(), np.uint16) * 257).astype(np.uint16)
    path = tmp_path / "d16.png"
    Image.fromarray(a16).save(path)                  # mode I;16
    with Image.open(path) as im:
        assert im.mode.startswith("I")
    np.testing.assert_allclose(images.read_gray(path), np.asarray(draw_four()) / 255, atol=1e-6)
    x = images.load_inputs(path).reshape(28, 28)
    np.testing.assert_allclose(x, clean, atol=1e-5)


def test_palette_png(tmp_path, clean):
    x = prepared(draw_four().convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE,
                                                    colors=4), tmp_path, "pal.png")
    assert correlation(x, clean) > 0.95


def test_transparent_png_counts_as_paper(tmp_path, clean):
    rgba = Image.new("RGBA", (240, 300), (0, 0, 0, 0))
    rgba.putalpha(Image.eval(draw_four(), lambda v: 255 - v))   # ink opaque, paper clear
    assert correlation(prepared(rgba, tmp_path, "clear.png"), clean) > 0.95


def test_show_dir_writes_what_the_model_sees(tmp_path, clean):
    draw_four().save(tmp_path / "four.png")
    x = images.load_inputs(tmp_path / "four.png", show_dir=tmp_path / "seen")
    with Image.open(tmp_path / "seen" / "four.png") as im:
        assert im.size == (28, 28)
        np.testing.assert_allclose(np.asarray(im) / 255, x.reshape(28, 28), atol=1 / 255)
