"""IDX file reader and the MNIST data set shipped with fastnet.

The IDX format (LeCun et al.) is a big-endian header followed by a raw payload:

    bytes 0-1  zero
    byte  2    element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64
    byte  3    number of dimensions n
    then n     uint32 sizes, then prod(sizes) elements, row-major

Files may be gzip-compressed (``.gz``). Every failure raises ``ValueError`` (or
``FileNotFoundError``) naming the file.
"""
import gzip
import hashlib
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np

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
            _, _, expected = _header(out, name)
            return out + f.read(expected - len(out) + 1)
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
