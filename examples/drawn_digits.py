"""Digits drawn like phone photos: how many does a model read right after fastnet's image preparation?

    python examples/drawn_digits.py MODEL [--n 20] [--seed 0] [--out DIR] [--show DIR]

Writes ``n`` image files of hand-drawn-looking digits 0-9 (smooth strokes through jittered
control points, slanted, turned and stretched at random) to DIR, in the mix of issue 20:

  thick   thick strokes on white paper (PNG)
  small   a small digit off-centre on a larger page (PNG)
  grey    grey paper, grey ink, sensor noise and blur, a JPEG; every other one stored turned
          with the EXIF orientation tag that says how to turn it back, as phones do
  shadow  white paper under a soft-edged shadow and a light gradient (JPEG)
  thin    a thin pen on a large page, the digit a quarter of it (PNG)

in the proportions 1:1:1:1:2 (20 digits: 4 thick, 3 small, 3 grey, 3 shadow, 7 thin). Each
file goes through ``fastnet.images.load_digit`` (what ``fastnet predict`` does) and the
model's prediction is compared with the digit drawn; the counts per kind are printed. Needs
Pillow (``pip install "fastnet[images]"``). MODEL: a model file or a run folder.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fastnet as fn  # noqa: E402  (from this checkout even when not installed)
from fastnet.images import load_digit  # noqa: E402

KINDS = {"thick": 1, "small": 1, "grey": 1, "shadow": 1, "thin": 2}
"""The kinds of drawing and their shares of a set."""

# Each digit: strokes through control points in a unit box (x right, y down); a stroke whose
# first and last points are equal is closed. Curves are Catmull-Rom splines through them.
_O = [(0.5, 0.03), (0.82, 0.25), (0.8, 0.72), (0.5, 0.97), (0.2, 0.75), (0.18, 0.28), (0.5, 0.03)]
STROKES = {
    0: [_O],
    1: [[(0.32, 0.22), (0.58, 0.03), (0.55, 0.5), (0.52, 0.97)]],
    2: [[(0.18, 0.28), (0.45, 0.04), (0.8, 0.22), (0.62, 0.55), (0.2, 0.95), (0.5, 0.93),
         (0.86, 0.95)]],
    3: [[(0.18, 0.15), (0.55, 0.03), (0.78, 0.24), (0.45, 0.47), (0.82, 0.68), (0.55, 0.96),
         (0.16, 0.85)]],
    4: [[(0.55, 0.03), (0.15, 0.62), (0.88, 0.62)], [(0.66, 0.3), (0.65, 0.97)]],
    5: [[(0.82, 0.04), (0.3, 0.05), (0.24, 0.45), (0.62, 0.4), (0.82, 0.68), (0.55, 0.95),
         (0.17, 0.86)]],
    6: [[(0.72, 0.03), (0.38, 0.3), (0.22, 0.7), (0.45, 0.96), (0.78, 0.78), (0.6, 0.5),
         (0.26, 0.62)]],
    7: [[(0.14, 0.06), (0.86, 0.06), (0.6, 0.5), (0.42, 0.97)]],
    8: [[(0.5, 0.48), (0.76, 0.25), (0.5, 0.03), (0.24, 0.25), (0.5, 0.48), (0.8, 0.73),
         (0.5, 0.97), (0.2, 0.73), (0.5, 0.48)]],
    9: [[(0.76, 0.3), (0.5, 0.03), (0.24, 0.25), (0.5, 0.5), (0.76, 0.3), (0.72, 0.65),
         (0.66, 0.97)]],
}


def _spline(points, per_segment=12):
    """Catmull-Rom curve through ``points`` (closed when the first and last are equal)."""
    p = np.asarray(points, float)
    closed = np.allclose(p[0], p[-1]) and len(p) > 3
    ext = np.vstack([p[-2], p, p[1]]) if closed else np.vstack([2 * p[0] - p[1], p,
                                                                2 * p[-1] - p[-2]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(ext) - 2):
        a, b, c, d = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        out.append(0.5 * (2 * b + (c - a) * t + (2 * a - 5 * b + 4 * c - d) * t ** 2
                          + (3 * b - a - 3 * c + d) * t ** 3))
    out.append(p[-1:])
    return np.vstack(out)


def strokes(digit, rng):
    """The digit's strokes as (m, 2) point arrays in about the unit box, drawn by a hand:
    control points jittered, then slanted, turned and stretched at random."""
    slant = rng.uniform(-0.25, 0.15)
    turn = np.deg2rad(rng.uniform(-8, 8))
    aspect = rng.uniform(0.75, 1.15)
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    out = []
    for stroke in STROKES[digit]:
        p = np.asarray(stroke, float)
        p = p + rng.normal(0, 0.025, p.shape) * ~np.all(p == p[0], axis=1, keepdims=True)
        if np.allclose(stroke[0], stroke[-1]):
            p[-1] = p[0]                              # a closed stroke stays closed
        q = _spline(p) - 0.5
        q[:, 0] = (q[:, 0] + slant * q[:, 1]) * aspect
        out.append(q @ rot.T + 0.5)
    return out


def draw(digit, rng, page, box, width, paper=255, ink=0):
    """A PIL "L" image ``page`` = (w, h) with the digit drawn in ``box`` (left, top, size)
    pixels at pen ``width``."""
    from PIL import Image, ImageDraw
    im = Image.new("L", page, paper)
    pen = ImageDraw.Draw(im)
    left, top, size = box
    for q in strokes(digit, rng):
        pts = [(left + size * x, top + size * y) for x, y in q]
        pen.line(pts, fill=ink, width=max(1, int(round(width))), joint="curve")
    return im


def render(kind, digit, rng):
    """(PIL image, file suffix, save options) of one drawing of ``digit`` of ``kind``."""
    from PIL import Image, ImageFilter
    if kind == "thick":
        side = int(rng.integers(240, 400))
        size = side * rng.uniform(0.55, 0.75)
        box = ((side - size) / 2, (side - size) / 2, size)
        return draw(digit, rng, (side, side), box, size * rng.uniform(0.09, 0.14)), ".png", {}
    if kind == "small":
        w, h = int(rng.integers(360, 640)), int(rng.integers(300, 480))
        size = min(w, h) * rng.uniform(0.15, 0.25)
        box = (rng.uniform(0.05, 0.9) * (w - size), rng.uniform(0.05, 0.9) * (h - size), size)
        return draw(digit, rng, (w, h), box, max(2, size * 0.08)), ".png", {}
    if kind == "grey":
        w, h = int(rng.integers(480, 800)), int(rng.integers(480, 800))
        size = min(w, h) * rng.uniform(0.45, 0.65)
        box = ((w - size) / 2 + rng.uniform(-0.1, 0.1) * w, (h - size) / 2, size)
        im = draw(digit, rng, (w, h), box, size * rng.uniform(0.05, 0.09),
                  paper=int(rng.integers(135, 185)), ink=int(rng.integers(40, 85)))
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0)))
        a = np.asarray(im, np.float32) + rng.normal(0, 6, (h, w))
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).convert("RGB")
        save = {"quality": int(rng.integers(60, 85))}
        if rng.random() < 0.5:                       # stored turned, the EXIF tag undoes it
            tag, turn = [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270),
                         (3, Image.Transpose.ROTATE_180)][int(rng.integers(3))]
            exif = Image.Exif()
            exif[0x0112] = tag
            im, save["exif"] = im.transpose(turn), exif
        return im, ".jpg", save
    if kind == "shadow":
        w, h = int(rng.integers(480, 800)), int(rng.integers(480, 800))
        size = min(w, h) * rng.uniform(0.45, 0.65)
        box = ((w - size) / 2, (h - size) / 2, size)
        im = draw(digit, rng, (w, h), box, size * rng.uniform(0.05, 0.1),
                  paper=int(rng.integers(215, 245)), ink=int(rng.integers(20, 60)))
        ys, xs = np.mgrid[0:h, 0:w] / max(w, h)
        angle = rng.uniform(0, 2 * np.pi)      # a shadow's soft edge across the page
        edge = np.cos(angle) * (xs - xs.mean()) + np.sin(angle) * (ys - ys.mean())
        edge = edge - rng.uniform(-0.15, 0.15)
        depth = rng.uniform(0.35, 0.6)
        shade = 1 - depth / (1 + np.exp(-edge / rng.uniform(0.02, 0.06)))
        shade *= np.linspace(rng.uniform(0.75, 1), 1, w)[None, :]      # and a light gradient
        a = np.asarray(im, np.float32) * shade + rng.normal(0, 3, (h, w))
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        return im, ".jpg", {"quality": int(rng.integers(75, 92))}
    if kind == "thin":
        side = int(rng.integers(800, 1200))
        size = side * rng.uniform(0.2, 0.3)
        box = (rng.uniform(0.2, 0.6) * side, rng.uniform(0.2, 0.6) * side, size)
        im = draw(digit, rng, (side, side), box, rng.choice([1, 2, 3]),
                  ink=int(rng.integers(0, 90)))
        return im, ".png", {}
    raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")


def mix(n):
    """The kind of each of ``n`` drawings: KINDS' shares, rounded by largest remainder."""
    share = np.array(list(KINDS.values()), float)
    exact = n * share / share.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[:n - counts.sum()]:
        counts[i] += 1
    return [k for k, c in zip(KINDS, counts) for _ in range(c)]


def write_set(folder, n, seed=0):
    """Draw ``n`` digits (labels cycling 0-9 through the set) into ``folder``; returns
    [(path, digit, kind)]."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    drawn = []
    for i, kind in enumerate(mix(n)):
        digit = (i + seed) % 10
        im, suffix, save = render(kind, digit, rng)
        path = os.path.join(folder, f"{i:03d}_{kind}_{digit}{suffix}")
        im.save(path, **save)
        drawn.append((path, digit, kind))
    return drawn


def measure(net, drawn, show_dir=None):
    """{kind: (right, total)} of ``net``'s predictions on the drawn files, and the
    predictions."""
    X = np.stack([load_digit(path, show_dir) for path, _, _ in drawn])
    predicted = net.predict(X)
    counts = {}
    for (_, digit, kind), p in zip(drawn, predicted):
        right, total = counts.get(kind, (0, 0))
        counts[kind] = (right + int(p == digit), total + 1)
    return counts, predicted


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="model file or run folder (e.g. runs/mlp)")
    p.add_argument("--n", type=int, default=20, help="digits to draw (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seeds the drawings (default 0)")
    p.add_argument("--out", default="drawn_digits", help="folder for the images "
                   "(default drawn_digits)")
    p.add_argument("--show", default=None, help="also write the 28×28 inputs the model saw here")
    args = p.parse_args(argv)
    model = os.path.join(args.model, "model.npz") if os.path.isdir(args.model) else args.model
    drawn = write_set(args.out, args.n, args.seed)
    counts, predicted = measure(fn.load(model), drawn, args.show)
    for (path, digit, _), q in zip(drawn, predicted):
        if q != digit:
            print(f"wrong: {os.path.basename(path)} read as {q}")
    right = sum(r for r, _ in counts.values())
    print(", ".join(f"{kind} {r}/{t}" for kind, (r, t) in counts.items())
          + f": {right}/{len(drawn)} right")
    return 0


if __name__ == "__main__":
    sys.exit(main())
