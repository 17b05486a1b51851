"""Input scaling fitted on the training set, storable in a model file.

Modes:
  auto      uint8 features (pixels): x / 255 when the background is dark (the mean pixel
            is below ``LIGHT_BACKGROUND`` of 255, as MNIST's 0.13 and Fashion-MNIST's 0.29),
            else centred, (x - mean) / 255 per feature, so light-background images
            (inverted digits, scans of paper) reach the first layer as MNIST does, not as
            inputs near 1 everywhere (pre-activations and first-layer steps several times
            MNIST's, too large for its learning rate); anything else as ``standard``
  none      unchanged
  unit      min-max to [0, 1]: (x - min) / (max - min), range 0 → 1
  standard  (x - mean) / std per feature, std 0 (or below float32's smallest normal) → 1

The statistics come from ``fit`` on the training set only, in one pass over chunks
of it (a memory-mapped data set is never read whole), and are applied unchanged to
validation, test and prediction inputs: by the gather kernels, batch by batch, when a
network trains or predicts (``fastnet.inputs.input_scaling``), or by ``transform``.
"""
import warnings

import numpy as np

MODES = ("auto", "none", "unit", "standard")
UNSCALED_LIMIT = 10.0
LIGHT_BACKGROUND = 0.5   # auto centres uint8 pixels whose mean is at least this (× 255)
DARK_PIXELS = f"auto: pixels / 255, dark background (mean pixel < {LIGHT_BACKGROUND})"
"""What ``auto`` does to uint8 pixels below LIGHT_BACKGROUND, as a run's log line says it."""
# A feature whose spread (std or range) is at most this counts as constant (factor 1): its
# reciprocal would not fit float32 (a subnormal spread gave an infinite factor).
SPREAD_FLOOR = float(np.finfo(np.float32).tiny)
CHUNK_BYTES = 1 << 20   # float64 bytes per chunk of the statistics, so memory-mapped data streams


class Scaler:
    """x -> (x - shift) * factor per feature, with shift/factor fitted by ``fit``."""

    def __init__(self, mode="auto"):
        if mode not in MODES:
            raise ValueError(f"scale mode must be one of {', '.join(MODES)}; got {mode!r}")
        self.mode = mode
        self.shift = self.factor = None   # (n_features,) float32 each, or None: unchanged
        self.pixels = False   # fitted on uint8 (0..255) inputs: later ones come in those units

    def fit(self, X, rows=None):
        """Fit the statistics of the mode on training features X (n, n_features), or on
        its ``rows`` only (indices; read in chunks, so a memory-mapped X is not copied)."""
        X = _two_d(X, "X")
        if rows is not None:
            rows = np.asarray(rows)
            if rows.ndim != 1 or rows.dtype.kind not in "iu" or (
                    len(rows) and not 0 <= rows.min() <= rows.max() < len(X)):
                raise ValueError(f"rows must be a 1-D array of row indices of X (0 to "
                                 f"{len(X) - 1}), got shape {rows.shape} dtype {rows.dtype}")
            rows = np.asarray(rows, np.int64)   # no copy when already int64
        if (len(X) if rows is None else len(rows)) == 0:
            raise ValueError("cannot fit a scaler on no samples (X has 0 rows)")
        n_features = X.shape[1]
        self.shift = self.factor = None
        self.pixels = X.dtype == np.uint8
        mode = self.mode
        if mode == "auto":
            mode = "pixels" if X.dtype == np.uint8 else "standard"
        if mode == "pixels":
            mean = _mean(X, rows)
            light = mean.mean() >= LIGHT_BACKGROUND * 255
            self.shift = (mean if light else np.zeros(n_features)).astype(np.float32)
            self.factor = np.full(n_features, 1 / 255, np.float32)
        elif mode == "unit":
            low, high = _min_max(X, rows)
            span = high - low
            self.shift = low.astype(np.float32)
            self.factor = (1.0 / np.where(span > SPREAD_FLOOR, span, 1.0)).astype(np.float32)
        elif mode == "standard":
            mean, std = _mean_std(X, rows)
            self.shift = mean.astype(np.float32)
            self.factor = (1.0 / np.where(std > SPREAD_FLOOR, std, 1.0)).astype(np.float32)
        return self

    def transform(self, X):
        """Scaled float32 copy of X (X itself when the mode leaves it unchanged)."""
        X = _two_d(X, "X")
        if self.shift is None:
            if self.mode != "none":
                raise ValueError(f"Scaler({self.mode!r}) is not fitted: call fit(X_train) first")
            return X
        if X.shape[1] != len(self.shift):
            raise ValueError(f"X has {X.shape[1]} features; the scaler was fitted on "
                             f"{len(self.shift)}")
        return (X.astype(np.float32) - self.shift) * self.factor

    @property
    def is_pixels(self):
        """True when the scaler is x / 255 on every feature (dark-background uint8 pixels
        under 'auto')."""
        return self.shift is not None and not self.shift.any() and \
            bool(np.all(self.factor == np.float32(1 / 255)))

    @property
    def takes_pixels(self):
        """True when the scaler was fitted on uint8 pixels (any mode): inputs must be given
        as 0..255 values, not 0..1 images."""
        return self.shift is not None and self.pixels

    def describe(self):
        """What the scaler does, for a run's log line: e.g. ``auto: centred pixels``."""
        if self.shift is None:
            return self.mode if self.mode == "none" else f"{self.mode} (unfitted)"
        if self.is_pixels:
            return DARK_PIXELS if self.mode == "auto" else f"{self.mode}: pixels / 255"
        if self.mode == "auto" and self.takes_pixels:
            return (f"auto: centred pixels (x - mean) / 255, light background (mean pixel "
                    f"{self.shift.mean() / 255:.2f} >= {LIGHT_BACKGROUND})")
        return "auto: standard" if self.mode == "auto" else self.mode

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def state(self):
        """Plain arrays to store in a model file (``from_state`` reads them back)."""
        state = {"mode": np.array(self.mode)}
        if self.shift is not None:
            state["shift"], state["factor"] = self.shift, self.factor
            state["pixels"] = np.array(self.pixels)
        return state

    @classmethod
    def from_state(cls, state):
        mode = str(np.asarray(state["mode"]))
        scaler = cls(mode)
        if ("shift" in state) != ("factor" in state):
            raise ValueError("scaler state needs both 'shift' and 'factor', or neither")
        if "shift" in state:
            shift = np.asarray(state["shift"], np.float32)
            factor = np.asarray(state["factor"], np.float32)
            if shift.ndim != 1 or shift.shape != factor.shape or not (
                    np.isfinite(shift).all() and np.isfinite(factor).all()):
                raise ValueError(f"scaler state: shift {shift.shape} and factor "
                                 f"{factor.shape} must be equal-length finite vectors")
            scaler.shift, scaler.factor = shift, factor
            # files before "pixels" was stored: only auto's pixel branches had factor 1/255
            pixels = np.asarray(state.get("pixels", mode == "auto" and bool(np.all(
                factor == np.float32(1 / 255)))))
            if pixels.dtype != bool or pixels.ndim:
                raise ValueError(f"scaler state: pixels must be true or false, got {pixels}")
            scaler.pixels = bool(pixels)
        return scaler

    def __repr__(self):
        fitted = "unfitted" if self.shift is None else f"{len(self.shift)} features"
        return f"Scaler({self.mode!r}, {fitted})"


def warn_unscaled(X, name="X", limit=UNSCALED_LIMIT, pixels=True):
    """UserWarning when features lie far outside [-limit, limit]: unscaled data trains
    badly (near chance) without an error. uint8 features count as pixels scaled by 1/255
    unless ``pixels`` is False (``--scale none``). Returns True if it warned."""
    X = _two_d(X, name)
    if (X.dtype == np.uint8 and pixels) or len(X) == 0:
        return False
    low, high = _min_max(X)
    worst = float(max(-low.min(), high.max()))
    if worst <= limit:
        return False
    warnings.warn(f"{name} has features up to {worst:g} in size, far outside "
                  f"[-{limit:g}, {limit:g}]: unscaled inputs train badly. Scale them "
                  "(fastnet.scaling.Scaler('standard').fit(X_train), or --scale auto), or "
                  "give 0..255 pixels as uint8 (scaled by 1/255)", UserWarning, stacklevel=2)
    return True


def _two_d(X, name):
    X = np.asarray(X) if not isinstance(X, np.ndarray) else X
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a 2-D numeric array (n_samples, n_features), got "
                         f"shape {X.shape} dtype {X.dtype}")
    return X


def _chunks(X, rows=None):
    """X (or its rows ``rows``, each chunk read in ascending order) in consecutive chunks of about CHUNK_BYTES as float64."""
    step = max(CHUNK_BYTES // (8 * max(X.shape[1], 1)), 1)
    n = len(X) if rows is None else len(rows)
    for start in range(0, n, step):
        yield X[start:start + step] if rows is None else X[np.sort(rows[start:start + step])]


def _min_max(X, rows=None):
    low = np.full(X.shape[1], np.inf)
    high = np.full(X.shape[1], -np.inf)
    for chunk in _chunks(X, rows):
        low = np.minimum(low, chunk.min(axis=0))
        high = np.maximum(high, chunk.max(axis=0))
    return low, high


def _mean(X, rows=None):
    """Per-feature mean in float64, by chunks (no float copy of the data)."""
    total = np.zeros(X.shape[1])
    for chunk in _chunks(X, rows):
        total += chunk.sum(axis=0, dtype=np.float64)
    return total / (len(X) if rows is None else len(rows))


def _mean_std(X, rows=None):
    """Per-feature mean and population std in float64, by chunks (Chan's pairwise update)."""
    n = 0
    mean = np.zeros(X.shape[1])
    m2 = np.zeros(X.shape[1])
    for chunk in _chunks(X, rows):
        chunk = np.asarray(chunk, np.float64)
        k = len(chunk)
        c_mean = chunk.mean(axis=0)
        deviations = chunk - c_mean
        c_m2 = np.square(deviations, out=deviations).sum(axis=0)
        delta = c_mean - mean
        mean = mean + delta * k / (n + k)
        m2 = m2 + c_m2 + delta ** 2 * n * k / (n + k)
        n += k
    return mean, np.sqrt(m2 / max(n, 1))
