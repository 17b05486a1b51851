"""Input checking and target encoding: what ``fit``, ``predict`` and ``evaluate`` do to
the arrays they are given before any kernel sees them.

Each function takes the network only for its sizes, dtype and loss (``n_inputs``,
``n_outputs``, ``dtype``, ``loss_kind``, ``layers[0]``), and raises a ValueError or
TypeError naming the argument for anything it cannot use.
"""
import warnings

import numpy as np

from . import checks
from .kernels.dense import TILE
from .kernels.losses import BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY


STREAMED = tuple(np.dtype(t) for t in (np.float32, np.float64, np.int8, np.int16, np.int32,
                                       np.int64, np.uint16, np.uint32))
"""Dtypes of memory-mapped inputs (and uint8 pixels) the gather kernels read as they are,
converting each batch, so a data set larger than memory streams from disk."""


SPARSE_BLOCKS = 0.25   # the share of all-zero 4 × 4 blocks from which inputs count as sparse
SPARSE_PROBE_ROWS = 1024   # rows looked at (the first ones; a memory map reads only them)


def looks_sparse(X, scale="none"):
    """Whether a network's first layer should treat inputs X as sparse
    (``Network(sparse_inputs=)``): scaling ``scale`` (a ``scaling`` mode) keeps zeros 0
    and at least SPARSE_BLOCKS of the blocks of 4 samples × 4 features of the first
    SPARSE_PROBE_ROWS rows are all 0 (``zero_blocks``: what the sparse layout's kernels
    skip; blank pixels and unused one-hot columns make them, zeros scattered at random
    do not). 'standard', and 'auto' on anything but uint8 pixels, centre every feature:
    dense; 'unit' moves each feature's minimum to 0, so zeros stay 0 only where no value
    is negative."""
    X = np.asarray(X)
    if scale == "standard" or (scale == "auto" and X.dtype != np.uint8) or X.ndim != 2:
        return False
    probe = np.asarray(X[:SPARSE_PROBE_ROWS])
    if not probe.size or (scale == "unit" and probe.min() < 0):
        return False
    return zero_blocks(probe) >= SPARSE_BLOCKS


def zero_blocks(X):
    """The share of all-zero blocks of TILE samples × TILE features of X (n, C), the
    blocks the row-form kernels skip (``kernels.dense``): samples n/TILE apart, as a
    shuffled batch groups them, not neighbours (files sorted by class); X padded with
    zeros to whole blocks."""
    n, C = X.shape
    nonzero = np.pad(X != 0, ((0, -n % TILE), (0, -C % TILE)))
    rows, cols = nonzero.shape
    blocks = nonzero.reshape(TILE, rows // TILE, cols // TILE, TILE)
    return float(1 - blocks.any(axis=(0, 3)).mean())


def as_array(a, name):
    """np.asarray with an error naming the argument for ragged or odd inputs."""
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{name} must be an array of numbers, got {type(a).__name__} "
                        f"that NumPy cannot convert ({e})") from None


def check_finite(A, name, dtype=None):
    """ValueError naming the first NaN / inf of A, or (with ``dtype``) the first value
    that dtype cannot hold; one pass over chunks of rows (``checks.nonfinite``)."""
    found = checks.nonfinite(A, dtype)
    if found is not None:
        count, index, value = found
        beyond = f", beyond {np.dtype(dtype)}'s range" if np.isfinite(value) else ""
        raise ValueError(f"{name} must be finite, but it holds {count} NaN or infinite "
                         f"values (first at index {index}: {value!r}{beyond}); remove or "
                         "impute them")


def as_input(net, X, name="X"):
    """Return (X, scale): ``check_input``'s array and ``input_scaling``'s scale of it,
    which the gather kernels apply to each batch as they copy it."""
    X = check_input(net, X, name)
    return X, input_scaling(net, X)


def check_input(net, X, name="X"):
    """X as a 2-D uint8 or numeric array the gather kernels read as it is, without copying
    the data set.

    uint8 data (images) and a C-contiguous ``np.memmap`` (a ``.npy`` file loaded with
    ``mmap_mode``) of a ``STREAMED`` dtype stay as they are: the gather kernels convert
    and scale each batch. So does float64 data under a scaler that shifts it: the gather
    kernels subtract the shift in float64 (converted first, a timestamp of 1.7e9 s would
    be rounded to 128 s before standardising). Other real dtypes are converted once to
    ``net.dtype`` (no copy when X already is C-contiguous of that dtype). Rejects bool, complex, object and
    string dtypes, wrong shapes, NaN / inf and values ``net.dtype`` cannot hold; the
    finite check reads a memory map in chunks, once (``checks.nonfinite``).
    """
    given = X
    X = as_array(X, name)
    if X.dtype.kind not in "uif":
        raise TypeError(f"{name} must hold real numbers (float, int or uint8 images), got "
                        f"dtype {X.dtype}; convert it, e.g. {name}.astype(np.float32)")
    if X.ndim != 2:
        hint = "; for one sample use X.reshape(1, -1)" if X.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array (n_samples, {net.n_inputs}), got "
                         f"{X.ndim}-D shape {X.shape}{hint}")
    if X.shape[1] != net.n_inputs:
        raise ValueError(f"{name} has {X.shape[1]} features (columns) but the first layer "
                         f"{net.layers[0]!r} expects {net.n_inputs}; got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no samples: shape {X.shape}")
    if X.dtype == np.uint8:
        return np.ascontiguousarray(X)
    if isinstance(given, np.memmap) and X.dtype in STREAMED and X.flags.c_contiguous:
        if X.dtype.kind == "f":   # the memmap itself: one found finite before is not reread
            check_finite(given, name, net.dtype)
        return X
    if X.dtype == np.float64 and _shifts(getattr(net, "scaler", None)):
        X = np.ascontiguousarray(X)
        check_finite(X, name, net.dtype)
        return X
    with np.errstate(over="ignore"):  # beyond float32's range becomes inf: caught below
        X = np.ascontiguousarray(X, dtype=net.dtype)
    check_finite(X, name)
    return X


def _shifts(scaler):
    """Whether ``scaler`` (a ``Scaler`` or None) subtracts a shift once fitted."""
    return scaler is not None and scaler.mode != "none" and (
        scaler.shift is None or bool(scaler.shift.any()))


def input_scaling(net, X):
    """What the gather kernels apply to checked inputs X: a number (x · scale) or a pair
    (shift, factor) of (n_features,) float32 vectors ((x - shift) · factor per feature).
    With ``net.scaler`` (a fitted ``fastnet.scaling.Scaler``, restored by ``fastnet.load``)
    its statistics, except that uint8 pixels under a 1/255 scaler keep the scalar fast
    path; without one, uint8 × 1/255 and anything else × 1."""
    scaler = getattr(net, "scaler", None)
    if scaler is not None and not (X.dtype == np.uint8 and scaler.is_pixels):
        if scaler.shift is None:
            if scaler.mode != "none":
                raise ValueError(f"{scaler!r} is not fitted: call fit(X_train) first")
            return 1.0                           # Scaler("none"): uint8 as it is, not / 255
        if X.shape[1] != len(scaler.shift):
            raise ValueError(f"X has {X.shape[1]} features; the scaler was fitted on "
                             f"{len(scaler.shift)}")
        if scaler.takes_pixels and X.dtype.kind == "f":
            _warn_unit_images(X)
        return scaler.shift, scaler.factor
    return 1.0 / 255.0 if X.dtype == np.uint8 else 1.0


def _warn_unit_images(X):
    """UserWarning when float inputs to a model fitted on 0..255 pixels all lie in [0, 1]
    (its first SPARSE_PROBE_ROWS rows): 0..1 images, which it would scale by 1/255 again."""
    probe = np.asarray(X[:SPARSE_PROBE_ROWS])
    if probe.size and 0 < probe.max() <= 1 and probe.min() >= 0:
        warnings.warn("X looks like 0..1 images, but the model's scaler was fitted on 0..255 "
                      "pixels and takes its inputs in those units: give X * 255 (or uint8 "
                      "pixels)", UserWarning, stacklevel=4)


def scaled(net, X):
    """X as the first layer sees it, float64: ``input_scaling``'s x · scale or
    (x - shift) · factor, as the gather kernels apply it."""
    X = check_input(net, X)
    scale = input_scaling(net, X)
    if isinstance(scale, tuple):
        shift, factor = scale
        return (X.astype(np.float64) - shift) * factor
    return X.astype(np.float64) * scale


def encode_targets(net, y, n, name="y"):
    """Targets as a float (n, K) array matching the loss.

    softmax_cross_entropy: class ids (n,) in [0, K) or rows of K probabilities;
    binary_cross_entropy: 0/1 targets (n,) for one output or (n, K);
    sum_of_squares: finite (n,) for one output or (n, K).
    """
    K = net.n_outputs
    y = as_array(y, name)
    if y.dtype.kind not in "uifb":
        raise TypeError(f"{name} must hold numbers (class ids or targets), got dtype "
                        f"{y.dtype}")
    if y.shape[:1] != (n,):
        raise ValueError(f"{name} must have {n} rows (one per sample of X), got shape "
                         f"{y.shape}")
    if y.ndim == 1 and net.loss_kind == SOFTMAX_CROSS_ENTROPY:
        return _one_hot(y, n, K, net.dtype, name)
    if y.ndim == 1 and K == 1:
        y = y.reshape(n, 1)
    if y.ndim != 2 or y.shape[1] != K:
        ids = "class ids (n,) or " if net.loss_kind == SOFTMAX_CROSS_ENTROPY else ""
        raise ValueError(f"{name} must be {ids}shape ({n}, {K}) for a network with {K} "
                         f"outputs, got shape {y.shape}")
    with np.errstate(over="ignore"):
        T = np.ascontiguousarray(y, dtype=net.dtype)
    check_finite(T, name)
    if net.loss_kind == BINARY_CROSS_ENTROPY and not np.isin(T, (0, 1)).all():
        v = T[~np.isin(T, (0, 1))][0]
        raise ValueError(f"{name} must hold binary targets 0 or 1 for "
                         f"binary_cross_entropy, got {v.item()!r}")
    if net.loss_kind == SOFTMAX_CROSS_ENTROPY:
        sums = T.sum(axis=1, dtype=np.float64)
        if T.min() < 0 or np.abs(sums - 1).max() > 1e-3:
            raise ValueError(f"{name} rows must be class probabilities (one-hot or soft "
                             f"labels: >= 0, summing to 1) for softmax_cross_entropy; got "
                             f"min {T.min():g}, row sums in [{sums.min():g}, {sums.max():g}]")
    return T


def _one_hot(y, n, K, dtype, name):
    """Class ids y (n,) in [0, K) as one-hot rows (n, K)."""
    if y.dtype.kind == "f":
        whole = np.isfinite(y)
        whole[whole] = np.mod(y[whole], 1) == 0
        if not whole.all():
            raise ValueError(f"{name} must hold integer class ids in [0, {K}), got "
                             f"{y[~whole][0].item()!r} (dtype {y.dtype})")
    bad = (y < 0) | (y >= K)
    if bad.any():
        raise ValueError(f"{name} must hold class ids in [0, {K}) for a network with "
                         f"{K} outputs, got {y[bad][0].item()!r} at index {np.argmax(bad)}")
    T = np.zeros((n, K), dtype)
    T[np.arange(n), y.astype(np.int64)] = 1
    return T


def class_labels(net, T):
    """The class of each row of encoded targets T for stratifying a split: the argmax
    for softmax, the 0/1 target of a one-output sigmoid; None for other losses."""
    if net.loss_kind == SOFTMAX_CROSS_ENTROPY:
        return T.argmax(axis=1)
    if net.loss_kind == BINARY_CROSS_ENTROPY and T.shape[1] == 1:
        return T[:, 0].astype(np.int64)
    return None


def split_indices(n, fraction, rng, labels=None):
    """(train, validation) sorted indices of n samples: a seeded random ``fraction``
    (round(n * fraction) samples) held out, stratified by ``labels`` (n,) when given:
    each class gives its share (largest remainders round up), keeping one training
    sample."""
    if not 0 <= fraction < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {fraction!r}")
    n_val = int(round(n * fraction))
    if fraction and not 0 < n_val < n:
        raise ValueError(f"validation_split={fraction} leaves no samples for "
                         f"training or validation out of {n}")
    if not n_val:
        return np.arange(n), np.arange(0)
    perm = rng.permutation(n)
    if labels is None:
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    labels = np.asarray(labels)[perm]
    order = np.argsort(labels, kind="stable")            # perm grouped by class
    starts = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]])
    sizes = np.diff(np.r_[starts, n])
    room = np.maximum(sizes - 1, 0)                      # each class keeps a training sample
    quota = np.minimum(sizes * (n_val / n), room)
    take = np.floor(quota).astype(np.int64)
    rest = np.argsort(take - quota, kind="stable")       # largest remainders first
    for c in rest[:max(0, min(n_val - take.sum(), int((take < room).sum())))]:
        take[c] += take[c] < room[c]
    held = np.zeros(n, bool)
    for start, k in zip(starts, take):
        held[order[start:start + k]] = True
    if not held.any():   # every class a single sample: no stratum to draw from
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    return np.sort(perm[~held]), np.sort(perm[held])


def validation_data(net, data):
    """Check (X_val, y_val) once: X_val checked like X (``check_input``; its scaling is
    ``input_scaling``'s), y_val encoded like y."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"validation_data must be a pair (X_val, y_val), got "
                        f"{type(data).__name__}")
    X_val = check_input(net, data[0], "validation_data X_val")
    T_val = encode_targets(net, data[1], X_val.shape[0], "validation_data y_val")
    return X_val, T_val
