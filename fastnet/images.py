"""Turn a photo or drawing of a digit into an MNIST-like 28×28 input.

Reading uses Pillow (the ``images`` extra: ``pip install "fastnet[images]"``; matplotlib
depends on it too) for PNG, JPEG and the rest: EXIF orientation is applied, 16-bit and
palette images are converted to 8-bit-equivalent grey levels, and an image over
``MAX_PIXELS`` is refused before it is decoded. The preparation is NumPy only:

1. grayscale in [0, 1], inverted when the ink is lighter than the paper (the sparse tail of
   the image less its local mean: light or dark) so the paper is light;
2. the paper is estimated by a morphological closing with a window a third of the image
   (strokes vanish, shadows and grey paper stay) and divided out: ink = (paper - g) / paper;
3. ink is separated from paper noise by Otsu's threshold (at least ``MIN_INK`` of the paper's
   grey and ``MIN_CONTRAST`` in absolute terms); an image with no such ink is reported
   blank (a warning, and zeros);
4. cropped to the ink's bounding box (dust outside 99.6 % of the ink mass dropped), thin
   strokes thickened to about a tenth of the digit's size as MNIST's pen strokes are;
5. resized (antialiased) so its longer side is 20 pixels, placed in a 28×28 frame with its
   centre of mass at the centre, like MNIST (LeCun et al.), and stretched so its brightest
   pixel is 1.
"""
import warnings
from pathlib import Path

import numpy as np

from .datasets import npy_rows

DIGIT_BOX = 20
SIDE = 28
MAX_PIXELS = 50_000_000    # images larger than this are refused before decoding
WORK_SIDE = 512            # larger images are block-averaged down to about this first
MIN_INK = 0.15             # ink must be this much darker than the paper around it, relatively
MIN_CONTRAST = 0.08        # and absolutely (grey levels in [0, 1])
STROKE = 0.1               # MNIST's pen width as a fraction of the digit's longer side
MASS_KEPT = 0.996          # the ink box keeps this much of the ink mass


def read_gray(path, max_pixels=MAX_PIXELS):
    """The image at ``path`` as a float32 (H, W) array in [0, 1], upright per its EXIF tag."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:
        raise ImportError('reading images needs Pillow: pip install "fastnet[images]" '
                          "(or give the pixels as an .npy array)") from None
    size = None
    try:
        with warnings.catch_warnings():   # the size is checked here, before decoding
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.size[0] * img.size[1] <= max_pixels:
                    img.load()
                    return _gray(ImageOps.exif_transpose(img))
                size = img.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
            ValueError) as e:
        raise ValueError(f"{path}: cannot read as an image ({e})") from None
    raise ValueError(f"{path}: {size[0]}×{size[1]} pixels is more than {max_pixels:,}; "
                     "shrink the image first")


def _gray(img):
    """A decoded PIL image -> float32 grey levels in [0, 1]."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        full = 255.0 if img.mode in ("I", "F") and a.max() <= 255 else 65535.0
        if img.mode == "F" and a.max() <= 1.0:
            full = 1.0
        return np.clip(a / full, 0, 1).astype(np.float32)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        from PIL import Image   # transparent pixels count as paper: composite over white
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def _resample_matrix(n_in, n_out):
    """(n_out, n_in) weights of an antialiased linear (triangle) resampling filter."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centers = (np.arange(n_out) + 0.5) * scale - 0.5
    x = np.arange(n_in)
    w = np.maximum(0.0, 1.0 - np.abs(x[None, :] - centers[:, None]) / support)
    return w / w.sum(axis=1, keepdims=True)


def resize(img, height, width):
    """Antialiased resize of a 2-D array (NumPy only, separable triangle filter)."""
    wy = _resample_matrix(img.shape[0], height)
    wx = _resample_matrix(img.shape[1], width)
    rows = np.stack([(wy[i][:, None] * img).sum(axis=0) for i in range(height)])
    return np.stack([(wx[j][None, :] * rows).sum(axis=1) for j in range(width)], axis=1)


def _shrink(g, side=WORK_SIDE):
    """Block-average g by an integer factor so its longer side is at most about ``side``."""
    f = -(-max(g.shape) // side)
    if f <= 1:
        return g
    h, w = g.shape[0] // f * f, g.shape[1] // f * f
    if h == 0 or w == 0:
        return g
    return g[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def _filter(g, size, reduce, extend=None):
    """Separable running ``reduce`` (np.max or np.min) over a size×size window. Edges are
    padded with the edge value, or with ``extend=(low, high)`` continued linearly (odd
    reflection, clipped to [low, high]) so a closing follows a shadow up to the border."""
    if size <= 1:
        return g
    lo, hi = size // 2, size - 1 - size // 2
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (lo, hi)
        if extend is not None:
            padded = np.clip(np.pad(g, pad, mode="reflect", reflect_type="odd"), *extend)
        else:
            padded = np.pad(g, pad, mode="edge")
        g = reduce(np.lib.stride_tricks.sliding_window_view(padded, size, axis=axis), axis=-1)
    return g


def _otsu(values, bins=256):
    """Otsu's threshold on values in [0, 1]: the cut maximising the between-class variance."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist / max(hist.sum(), 1)
    omega = np.cumsum(p)
    mu = np.cumsum(p * (edges[:-1] + edges[1:]) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return float(edges[1 + int(np.nanargmax(np.nan_to_num(between[:-1], nan=-1.0)))])


def _mass_range(profile):
    """Index range holding MASS_KEPT of a 1-D ink profile's mass."""
    c = np.cumsum(profile) / profile.sum()
    tail = (1 - MASS_KEPT) / 2
    return int(np.searchsorted(c, tail)), int(np.searchsorted(c, 1 - tail)) + 1


def _box_mean(g, size):
    """Mean over a size×size window (edges padded), by cumulative sums."""
    lo, hi = size // 2, size - 1 - size // 2
    c = np.pad(g.astype(np.float64), ((lo + 1, hi), (lo + 1, hi)), mode="edge")
    c[0], c[:, 0] = 0, 0
    c = c.cumsum(axis=0).cumsum(axis=1)
    h, w = g.shape
    total = (c[size:size + h, size:size + w] - c[:h, size:size + w]
             - c[size:size + h, :w] + c[:h, :w])
    return total / size ** 2


def _light_ink(g, window):
    """Whether the ink is lighter than the paper: ink is the sparse tail of the image less
    its local mean (so shadows and gradients do not count), i.e. the residual's skew."""
    r = g - _box_mean(g, window)
    return float((r ** 3).mean()) > 0


def ink_of(gray):
    """Ink in [0, 1] (0 = paper) of a grayscale page, with shadows and paper tone divided
    out and paper noise zeroed. Returns (ink, looks_blank)."""
    g = _shrink(np.asarray(gray, dtype=np.float32))
    window = max(3, min(g.shape) // 3) | 1
    if _light_ink(g, window):
        g = 1.0 - g                        # light ink on dark: make the paper light
    grey = (g.min(), g.max())
    paper = _filter(_filter(g, window, np.max, grey), window, np.min, grey)   # a closing
    contrast = paper - g
    ink = np.clip(contrast / np.maximum(paper, 0.05), 0, 1)
    ink[contrast < MIN_CONTRAST] = 0       # noise in a dark shadow is large relative to paper
    if ink.max() < MIN_INK:
        return np.zeros_like(ink), True
    threshold = max(MIN_INK, _otsu(ink))
    return np.where(ink >= threshold, ink, 0).astype(np.float32), False


def to_mnist(gray, name="image", show=None):
    """A 2-D grayscale array in [0, 1] (any size) -> (784,) float32 MNIST-style digit.

    A blank image (no ink) gives zeros and a UserWarning ``<name>: image looks blank``.
    ``show``: a path where the 28×28 result is written as a PNG (needs Pillow).
    """
    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2 or min(g.shape) < 1:
        raise ValueError(f"expected a 2-D grayscale image, got shape {g.shape}")
    ink, blank = ink_of(g)
    out = np.zeros((SIDE, SIDE), np.float32)
    if blank:
        warnings.warn(f"{name}: image looks blank (no ink darker than the paper); "
                      "its prediction means nothing", UserWarning, stacklevel=2)
    else:
        out = _frame(ink)
    if show is not None:
        _write_png(out, show)
    return out.reshape(-1)


def _frame(ink):
    """Crop, thicken thin strokes, fit to 20×20, centre by mass in 28×28, stretch to 1."""
    top, bottom = _mass_range(ink.sum(axis=1))
    left, right = _mass_range(ink.sum(axis=0))
    ink = ink[top:bottom, left:right]
    mask = ink > 0
    inner = _filter(mask.astype(np.uint8), 3, np.min).astype(bool)
    edge = max(int((mask & ~inner).sum()), 1)
    width = 2 * mask.sum() / edge            # stroke width ≈ area / half the perimeter
    target = STROKE * max(ink.shape)
    if width < target / 2:
        grow = int(round(target - width)) | 1
        pad = grow // 2
        ink = _filter(np.pad(ink, pad), grow, np.max)
    h, w = ink.shape
    f = DIGIT_BOX / max(h, w)
    h2, w2 = max(1, round(h * f)), max(1, round(w * f))
    small = np.clip(resize(ink, h2, w2), 0, None)
    small /= small.max()
    cy = (np.arange(h2)[:, None] * small).sum() / small.sum()
    cx = (np.arange(w2)[None, :] * small).sum() / small.sum()
    top = int(np.clip(round(SIDE / 2 - 0.5 - cy), 0, SIDE - h2))
    left = int(np.clip(round(SIDE / 2 - 0.5 - cx), 0, SIDE - w2))
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top:top + h2, left:left + w2] = small
    return out


def _write_png(x, path):
    from PIL import Image
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8), "L").save(path)


def load_digit(path, show_dir=None):
    """Read an image file and prepare it as one (784,) float32 MNIST-style input.
    ``show_dir``: write the 28×28 input there as ``<name>.png`` (what the model sees)."""
    path = Path(path)
    show = None if show_dir is None else Path(show_dir) / f"{path.stem}.png"
    return to_mnist(read_gray(path), name=str(path), show=show)


def load_inputs(path, n_inputs=SIDE * SIDE, show_dir=None):
    """Inputs from an image file, or from an .npy array of shape (784,), (28, 28),
    (n, 784) or (n, 28, 28) (uint8 0..255 or floats 0..1). Returns (n, 784)."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        return load_digit(path, show_dir)[None, :]
    a = npy_rows(path, n_inputs)   # the checks of ``fastnet train --data X.npy``'s rows
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
    return a
