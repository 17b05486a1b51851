"""Turn a photo or drawing of a digit into an MNIST-like 28×28 input.

Reading uses Pillow (the ``images`` extra: ``pip install "fastnet[images]"``; matplotlib
depends on it too) for PNG, JPEG and the rest; the preparation is NumPy only. The digit
is prepared the way MNIST's were (LeCun et al.):

1. grayscale in [0, 1]; inverted when the background (the border pixels) is light,
   so the digit is bright on dark like MNIST;
2. cropped to the bounding box of the ink (pixels above 20 % of the maximum);
3. resized (antialiased) so its longer side is 20 pixels, keeping the aspect ratio;
4. placed in a 28×28 frame with its centre of mass at the centre.
"""
from pathlib import Path

import numpy as np

DIGIT_BOX = 20
SIDE = 28


def read_gray(path):
    """The image at ``path`` as a float32 (H, W) array in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError('reading images needs Pillow: pip install "fastnet[images]" '
                          "(or give the pixels as an .npy array)") from None
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                # transparent pixels count as background: composite over white
                rgba = img.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(bg, rgba)
            gray = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{path}: cannot read as an image ({e})") from None
    return gray


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


def to_mnist(gray):
    """A 2-D grayscale array in [0, 1] (any size) -> (784,) float32 MNIST-style digit."""
    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2 or min(g.shape) < 1:
        raise ValueError(f"expected a 2-D grayscale image, got shape {g.shape}")
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if border.mean() > 0.5:
        g = 1.0 - g
    g = g - g.min()
    if g.max() <= 0:
        return np.zeros(SIDE * SIDE, np.float32)   # blank image
    g /= g.max()
    ys, xs = np.nonzero(g > 0.2)
    g = g[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = g.shape
    f = DIGIT_BOX / max(h, w)
    h2, w2 = max(1, round(h * f)), max(1, round(w * f))
    small = np.clip(resize(g, h2, w2), 0, 1)
    mass = small.sum()
    cy = (np.arange(h2)[:, None] * small).sum() / mass
    cx = (np.arange(w2)[None, :] * small).sum() / mass
    top = int(np.clip(round(SIDE / 2 - 0.5 - cy), 0, SIDE - h2))
    left = int(np.clip(round(SIDE / 2 - 0.5 - cx), 0, SIDE - w2))
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top:top + h2, left:left + w2] = small
    return out.reshape(-1)


def load_digit(path):
    """Read an image file and prepare it as one (784,) float32 MNIST-style input."""
    return to_mnist(read_gray(path))


def load_inputs(path, n_inputs=SIDE * SIDE):
    """Inputs from an image file, or from an .npy array of shape (784,), (28, 28),
    (n, 784) or (n, 28, 28) (uint8 0..255 or floats 0..1). Returns (n, 784)."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        return load_digit(path)[None, :]
    if not path.is_file():
        raise FileNotFoundError(f"array file not found: {path}")
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read as a .npy array ({e})") from None
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected a numeric array, got dtype {a.dtype}")
    if a.size % n_inputs or a.size == 0:
        raise ValueError(f"{path}: expected shape (784,), (28, 28), (n, 784) or (n, 28, 28), "
                         f"got {a.shape}")
    a = a.reshape(-1, n_inputs)
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
    return a
