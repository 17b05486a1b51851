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
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return raw


def parse_idx(raw, name="<bytes>"):
    """Parse IDX bytes into a NumPy array (native byte order); ValueError if malformed."""
    if len(raw) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{name}: bad IDX magic number {raw[:4].hex()} "
                         f"(expected 0000 + type in {sorted(hex(t) for t in IDX_DTYPES)} + ndim)")
    ndim = raw[3]
    if ndim == 0:
        raise ValueError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header: {ndim} dimensions need {header} bytes, "
                         f"file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise ValueError(f"{name}: IDX payload {what}: dims {dims} need {expected} bytes, "
                         f"file has {len(raw)}")
    data = np.frombuffer(raw, dtype, offset=header).reshape(dims)
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
