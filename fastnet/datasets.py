"""IDX file reader, the MNIST data set shipped with fastnet, and ``load`` for your own
data (CSV, .npz, .npy pairs, IDX folders).

The IDX format (LeCun et al.) is a big-endian header followed by a raw payload:

    bytes 0-1  zero
    byte  2    element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64
    byte  3    number of dimensions n
    then n     uint32 sizes, then prod(sizes) elements, row-major

Files may be gzip-compressed (``.gz``). Every failure raises ``ValueError`` (or
``FileNotFoundError``) naming the file, including a header that claims more data than the
file holds (checked before anything is allocated for it).
"""
import gzip
import hashlib
import io
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checks
from .csvfile import read_csv
from .inputs import STREAMED

MNIST_DIR = Path(__file__).parent / "data" / "mnist"
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz",
                     "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971"),
    "train_labels": ("train-labels-idx1-ubyte.gz",
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "test_images": ("t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
MAX_DIMS = 32  # NumPy's limit on array dimensions (64 from NumPy 2)
MAX_GZIP_RATIO = 1032  # deflate expands at most ~1032:1
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, path)
    return raw


def _gunzip(raw, name):
    """Decompress gzip data, reading only as many bytes as the IDX header declares
    (plus one, to detect trailing data), so a corrupt header or a gzip bomb cannot
    expand into gigabytes. Reading to the end of the stream checks its CRC."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
            out = f.read(4)
            if len(out) == 4:
                out += f.read(4 * out[3])
            _, dims, expected = _header(out, name)
            if expected > MAX_GZIP_RATIO * len(raw) + 1024:
                raise ValueError(f"{name}: IDX header claims dims {dims} ({expected} bytes), more "
                                 f"than a gzip file of {len(raw)} bytes can hold")
            chunks = [out]
            left = expected - len(out) + 1
            while left > 0:   # in chunks: memory grows with the data, not with the header's claim
                chunk = f.read(min(left, 1 << 24))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{name}: corrupt or truncated gzip data ({e})") from None


def _header(raw, name):
    """Check the IDX header; return (dtype, dims, total file size it declares)."""
    if len(raw) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{name}: bad IDX magic number {bytes(raw[:4]).hex()} "
                         f"(expected 0000 + type in {sorted(hex(t) for t in IDX_DTYPES)} + ndim)")
    ndim = raw[3]
    if not 1 <= ndim <= MAX_DIMS:
        raise ValueError(f"{name}: IDX header declares {ndim} dimensions; expected 1 to "
                         f"{MAX_DIMS}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header: {ndim} dimensions need {header} bytes, "
                         f"file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    return dtype, dims, header + math.prod(dims) * dtype.itemsize  # Python ints: no overflow


def parse_idx(raw, name="<bytes>"):
    """Parse IDX bytes into a NumPy array (native byte order); ValueError if malformed."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name}: parse_idx needs bytes, got {type(raw).__name__}")
    dtype, dims, expected = _header(raw, name)
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise ValueError(f"{name}: IDX payload {what}: dims {dims} need {expected} bytes, "
                         f"file has {len(raw)}")
    try:  # an empty payload can still declare dims NumPy cannot represent, e.g. (0, 2^32-1, ...)
        data = np.frombuffer(raw, dtype, offset=4 + 4 * len(dims)).reshape(dims)
    except ValueError as e:
        raise ValueError(f"{name}: IDX dims {dims} cannot form an array ({e})") from None
    return data.astype(dtype.newbyteorder("="))


def read_idx(path, sha256=None):
    """Read an IDX file (optionally gzip-compressed) into a NumPy array.

    If ``sha256`` is given, the file's bytes on disk must have that digest.
    """
    path = Path(path)
    if sha256 is not None:
        if not path.is_file():
            raise FileNotFoundError(f"IDX file not found: {path}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            raise ValueError(f"{path}: SHA-256 mismatch (expected {sha256}, got {digest}); "
                             "the file is corrupt or not the file fastnet shipped")
    return parse_idx(_read_bytes(path), str(path))


def load_mnist(directory=None, flatten=True):
    """Load MNIST: ((X_train, y_train), (X_test, y_test)).

    Images are uint8 of shape (N, 784) (or (N, 28, 28) with ``flatten=False``),
    labels uint8 in 0..9. The shipped files are verified by SHA-256. Pass
    ``directory`` (or set ``FASTNET_MNIST_DIR``) to read the four files elsewhere.
    """
    directory = Path(directory or os.environ.get("FASTNET_MNIST_DIR") or MNIST_DIR)
    arrays = {key: read_idx(directory / fname, digest)
              for key, (fname, digest) in MNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{directory}: MNIST {split} images {images.shape} and labels "
                             f"{labels.shape} do not match")
        if flatten:
            arrays[f"{split}_images"] = images.reshape(len(images), -1)
    return ((arrays["train_images"], arrays["train_labels"]),
            (arrays["test_images"], arrays["test_labels"]))


# ---- user data sets: CSV, .npz, .npy pairs, IDX folders ------------------------------------

SPLITS = ("train", "test")
PIXEL_MIN_FEATURES = 64
FLOAT32_ROUNDING = 1e-4   # of a feature's range: more, and it stays float64 (_float32_rounds)
IDX_PATTERNS = {"train": ("*train-images*", "*train-labels*"),
                "test": ("*t10k-images*", "*t10k-labels*", "*test-images*", "*test-labels*")}


@dataclass
class Dataset:
    """What ``load`` read: unpacks as ``X, y``.

    X : (n, n_features) uint8 (pixels, scaled by 1/255 in training) or float32 (float64
        where float32 would round a feature, ``_float32_rounds``), or a read-only memory
        map of an ``inputs.STREAMED`` dtype (float64, integers);
    y : (n,) int64 class ids, or float32 targets (regression);
    classes : the class names (sorted) when the labels were strings, else None;
    features : the feature names (a CSV's header), else None; source : what was read.
    """
    X: np.ndarray
    y: np.ndarray
    classes: list = None
    features: list = None
    source: str = ""

    def __iter__(self):
        return iter((self.X, self.y))


def load(path, target="label", split="train", pixels=None):
    """Read a data set: ``X, y = load(path)`` (a ``Dataset``; ``.classes`` has string labels).

    ``path`` is one of
      - a CSV file with a header; ``target`` names the label column (default ``label``).
        String labels become class ids 0..K-1 in sorted order, their names in ``.classes``;
        ``target=None`` reads every column as a feature (rows to predict), ``y`` None;
      - an ``.npz`` file holding ``X``/``y``, or ``x_train``/``y_train``/``x_test``/``y_test``
        (as the downloaded ``mnist.npz``): ``split="test"`` reads the test part;
      - an ``.npy`` file of features whose labels lie beside it (``X.npy`` + ``y.npy``,
        ``X_test.npy`` + ``y_test.npy``: the last X in the name becomes y), or a folder
        holding ``X.npy``/``y.npy`` (``X_test.npy``/``y_test.npy`` for ``split="test"``).
        They are memory-mapped read-only, so data larger than memory streams: uint8,
        float32, float64 and int8..int64, uint16, uint32 features stay mapped (the gather
        kernels convert each batch); other dtypes, or a Fortran-order array, are
        converted in memory;
      - a folder of IDX files named like MNIST's (``train-images-idx3-ubyte[.gz]``,
        ``train-labels-...``, ``t10k-...``; EMNIST's ``...-test-images-...`` too), so
        Fashion-MNIST, KMNIST and EMNIST drop in. The shipped MNIST folder is checked
        against its SHA-256 digests; other files only by their format.

    Pixels: integer features (a CSV's numbers, or an integer array) become uint8, scaled
    by 1/255 in training like MNIST, when every value is an integer in 0..255, the largest
    is at least 128 and there are at least 64 features: the shape of 8-bit images such as
    Kaggle's digit-recognizer CSV. Anything else (0/1 flags, counts, sklearn's 0..16 digits,
    measurements) becomes float32 to be standardised, or stays float64 where float32 would
    round a feature by more than FLOAT32_ROUNDING of its range (timestamps, large ids). ``pixels=True``/``False`` overrides the
    rule (True raises ValueError if the values do not fit uint8).

    Files are checked by their format: ragged rows, a missing target column, a non-numeric
    feature column, NaN, infinity or a value beyond float32's range, mismatched lengths
    raise ValueError naming the file. The finite check reads a memory map once, in
    chunks; ``fit`` does not read it again for that.
    """
    path = Path(path)
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if path.is_dir():
        data = _load_dir(path, split)
    elif not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    elif path.suffix.lower() == ".csv":
        if split != "train":
            raise ValueError(f"{path}: a CSV file holds one split; give the test file's path")
        X, y, features = read_csv(path, target)
        data = Dataset(X, y, features=features)
    elif path.suffix.lower() == ".npz":
        data = _load_npz(path, split)
    elif path.suffix.lower() == ".npy":
        if split != "train":
            raise ValueError(f"{path}: an .npy file holds one split; give the test file's "
                             "path (X_test.npy), or the folder holding both")
        data = _load_npy_pair(path, _labels_beside(path))
    else:
        raise ValueError(f"{path}: unknown data format {path.suffix!r}; expected .csv, .npz, "
                         ".npy, or a folder of .npy or IDX files")
    data.source = data.source or str(path)
    return _checked(data, pixels)


def _load_dir(path, split):
    if path.resolve() == MNIST_DIR.resolve():
        (X, y), (Xt, yt) = load_mnist(path)
        return Dataset(*((X, y) if split == "train" else (Xt, yt)), source=str(path))
    suffix = "" if split == "train" else "_test"
    for xname in (f"X{suffix}.npy", f"x{suffix}.npy", f"X_{split}.npy", f"x_{split}.npy"):
        if (path / xname).is_file():
            return _load_npy_pair(path / xname, _labels_beside(path / xname))
    images, labels = _find_idx(path, split)
    X, y = read_idx(images), read_idx(labels)
    if X.ndim < 2 or y.ndim != 1:
        raise ValueError(f"{images.name}/{labels.name}: expected images (n, ...) and labels "
                         f"(n,), got {X.shape} and {y.shape}")
    return Dataset(X, y, source=f"{images} + {labels.name}")


def _find_idx(path, split):
    found = []
    for i in range(0, len(IDX_PATTERNS[split]), 2):
        found = [sorted(f for f in path.glob(p) if f.is_file())
                 for p in IDX_PATTERNS[split][i:i + 2]]
        if all(found):
            break
    if not all(found):
        raise ValueError(f"{path}: no {split} data: expected X.npy + y.npy, or IDX files "
                         f"named like MNIST's ({IDX_PATTERNS[split][0]}, "
                         f"{IDX_PATTERNS[split][1]}, optionally .gz)")
    for files in found:   # the same file, with and without .gz, may both be there
        if len({f.name.removesuffix(".gz") for f in files}) > 1:
            raise ValueError(f"{path}: several {split} IDX files match: "
                             f"{', '.join(f.name for f in files)}")
    return found[0][0], found[1][0]


def _labels_beside(xpath):
    stem = xpath.name
    at = max(stem.rfind("X"), stem.rfind("x") if stem.startswith("x") else -1)
    if at < 0:
        raise ValueError(f"{xpath}: cannot tell where the labels are: name the features "
                         "X.npy (or X_test.npy, x_train.npy, ...) with y.npy beside them")
    return xpath.with_name(stem[:at] + "y" + stem[at + 1:])


def _load_npy_pair(xpath, ypath):
    if not ypath.is_file():
        raise FileNotFoundError(f"{xpath}: its labels {ypath.name} are not beside it")
    return Dataset(_npy(xpath, "r"), _npy(ypath, None), source=f"{xpath} + {ypath.name}")


def _npy(path, mmap_mode):
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read as a .npy array ({e})") from None


def npy_rows(path, n_inputs):
    """The rows to predict of an .npy file of shape (n_inputs,), (n, n_inputs) or any
    (n, ...) of n · n_inputs values, e.g. (28, 28) or (n, 28, 28) for 784 inputs:
    memory-mapped read-only, and kept mapped in the dtypes ``load`` keeps (the gather
    kernels convert each batch), so a file larger than memory streams. ValueError naming
    the file for a non-numeric array or one of another size."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"array file not found: {path}")
    a = _npy(path, "r")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected a numeric array, got dtype {a.dtype}")
    if a.size % n_inputs or a.size == 0:
        raise ValueError(f"{path}: expected shape ({n_inputs},) or (n, {n_inputs}) (or n times "
                         f"{n_inputs} values, e.g. (28, 28) for 784), got {a.shape}")
    a = a.reshape(-1, n_inputs)
    if a.dtype == np.uint8 or (isinstance(a, np.memmap) and a.dtype in STREAMED
                               and a.flags.c_contiguous):   # a C-order file's rows: a view
        return a
    return np.asarray(a).astype(np.float32)   # a plain array, not a memmap


def _load_npz(path, split):
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            for xk, yk in (("X", "y"), ("x", "y")) if split == "train" else ():
                if {xk, yk} <= keys:
                    return Dataset(z[xk], z[yk])
            for xk, yk in ((f"x_{split}", f"y_{split}"), (f"X_{split}", f"y_{split}")):
                if {xk, yk} <= keys:
                    return Dataset(z[xk], z[yk])
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read as an .npz archive ({e})") from None
    want = "X and y, or x_train and y_train" if split == "train" else "x_test and y_test"
    raise ValueError(f"{path}: expected arrays {want}; the archive holds {sorted(keys)}")


def _checked(data, pixels):
    """Validate shapes and values; labels to class ids; features to uint8 or float32 (or 64)."""
    X, y, name = data.X, data.y, data.source
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name}: features must be numbers, got dtype {X.dtype}")
    if X.ndim < 2:
        raise ValueError(f"{name}: features must be (n_samples, n_features), got shape "
                         f"{X.shape}")
    if X.ndim > 2:   # images (n, h, w): flattened (a view, so a memory map stays one)
        X = X.reshape(len(X), -1)
    if y is None:   # a CSV read with target=None: features only
        data.X = _features(X, name, pixels)
        return data
    y = np.asarray(y)
    if y.dtype.kind in "US":
        classes, ids = np.unique(y, return_inverse=True)
        data.classes, y = [str(c) for c in classes], ids.reshape(y.shape).astype(np.int64)
    elif y.dtype.kind not in "biuf":
        raise ValueError(f"{name}: labels must be numbers or strings, got dtype {y.dtype}")
    if y.ndim not in (1, 2) or len(y) != len(X):
        raise ValueError(f"{name}: {len(X)} feature rows but labels of shape {y.shape}")
    if len(X) == 0 or X.shape[1] == 0:
        raise ValueError(f"{name}: no data (features of shape {X.shape})")
    if y.dtype.kind == "f":
        _no_nan(y, name, "labels")
        whole = y.ndim == 1 and np.all(y == np.round(y)) and y.min() >= 0
        y = y.astype(np.int64) if whole and y.max() < 2 ** 31 else y.astype(np.float32)
    elif y.dtype.kind in "biu":
        y = y.astype(np.int64)
    data.X, data.y = _features(X, name, pixels), y
    return data


def _features(X, name, pixels):
    if X.dtype == np.uint8:
        if pixels is False:
            return np.asarray(X).astype(np.float32)
        return X
    if X.dtype.kind == "f":
        _no_nan(X, name, "features")
    mapped = isinstance(X, np.memmap)
    if pixels is None:
        pixels = X.dtype.kind in "iuf" and X.shape[1] >= PIXEL_MIN_FEATURES \
            and not mapped and _fits_uint8(X) and X.max() >= 128
    elif pixels and not _fits_uint8(X):
        raise ValueError(f"{name}: pixels=True but the features are not all integers in 0..255")
    if pixels:
        return np.asarray(X).astype(np.uint8)
    if X.dtype == np.float32 or (mapped and X.dtype in STREAMED and X.flags.c_contiguous):
        return X   # the gather kernels convert a memory map's batches as they read them
    X = np.asarray(X)   # in memory: not a np.memmap
    return X.astype(np.float64 if _float32_rounds(X) else np.float32)


def _float32_rounds(X):
    """Whether float32 would round some feature of X by more than FLOAT32_ROUNDING of its
    range (of 1 for a constant feature, e.g. in a file of one row to predict): a timestamp
    column of 1.7e9 s varying by minutes (float32 steps of 128 s there), large ids. Such
    data stays float64, and is standardised from it."""
    low, high = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    step = np.maximum(np.abs(low), np.abs(high)) * 2.0 ** -24   # float32's rounding there
    # a constant feature (one row to predict) has no range here: its model's may be small
    spread = np.where(high > low, high - low, 1.0)
    return bool(np.any(step > FLOAT32_ROUNDING * spread))


def _fits_uint8(X):
    return bool(X.min() >= 0 and X.max() <= 255 and np.all(X == np.round(X)))


def _no_nan(a, name, what):
    """ValueError naming the first row holding NaN, infinity or a value float32 cannot
    hold (one pass over chunks: memory maps stream, and one found finite is not reread
    by ``fit``)."""
    found = checks.nonfinite(a, np.float32)
    if found is not None:
        _, index, value = found
        beyond = f" ({value!r}, beyond float32's range)" if np.isfinite(value) else ""
        raise ValueError(f"{name}: {what} row {index[0]} holds NaN or infinity{beyond}")
