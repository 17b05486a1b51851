"""Model files and atomic writes.

A model file is an ordinary ``.npz`` (zip) archive:

    params.npy          the flat parameter vector (float32/float64): each layer's W, b
                        (and PReLU a); since format version 2 the first W is stored
                        transposed, (in, out) (version 1 files are converted on load)
    opt.<name>.npy      optimizer state vectors (velocity, m, v, ...), if saved
    <extra>.npy         other arrays a checkpoint needs (e.g. the epoch's sample order)
    meta.json           JSON: format, fastnet version, layers, loss, dtype, optimizer
                        config and step count, training state (epoch, RNG state, history),
                        and ``sha256``, the digest of every array (name, dtype, shape, bytes)

``load`` never unpickles: it reads each member with ``allow_pickle=False`` semantics,
checks sizes against the headers before allocating, recomputes the SHA-256 and
rebuilds the network. Every way a file can be wrong (truncated, a flipped byte, not a
zip, another format, a newer format version, arrays that do not fit the layers)
raises ``ValueError`` naming the file; a missing file raises ``FileNotFoundError``.

Every file fastnet writes goes through ``atomic_write``: a temporary file in the same
folder, flushed and fsync'ed, then ``os.replace``'d over the target, so a crash
(power loss, SIGKILL) leaves either the old file or the new one, never half of one.
"""
import contextlib
import hashlib
import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "fastnet-model"
FORMAT_VERSION = 2  # 2: the first layer's W is stored transposed (in, out)
MAX_META_BYTES = 64 << 20


# ---------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file next to ``path``; on success fsync it and rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_text(path, text):
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    with atomic_write(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------- checksums
def arrays_sha256(arrays):
    """SHA-256 over the arrays in name order: name, dtype, shape, then the raw bytes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- save
def write_archive(path, arrays, meta):
    """Atomically write ``arrays`` (name -> ndarray) and ``meta`` (JSON) as an .npz."""
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    for k, v in arrays.items():
        if v.dtype.hasobject:
            raise TypeError(f"array {k!r} has dtype object; model files hold numbers only")
    meta = dict(meta, sha256=arrays_sha256(arrays))
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            for name, a in arrays.items():
                with z.open(name + ".npy", "w", force_zip64=True) as m:
                    np.lib.format.write_array(m, a, allow_pickle=False)
            z.writestr("meta.json", json.dumps(meta, indent=1))


def save(net, path, optimizer=None, training=None, arrays=None):
    """Save ``net`` (and optionally its optimizer's state) to ``path`` (.npz), atomically.

    ``training`` is a JSON-able dict (epoch, RNG state, history, ...) stored in the
    metadata; ``arrays`` are extra named arrays stored beside the parameters.
    """
    from ._version import __version__
    optimizer = optimizer if optimizer is not None else getattr(net, "optimizer", None)
    out = {"params": net.params}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastnet_version": __version__,
            "layers": [layer.config() for layer in net.layers], "loss": net.loss,
            "dtype": np.dtype(net.dtype).name, "seed": _jsonable(net.seed)}
    if optimizer is not None:
        opt_meta, state = optimizer.state_dict()
        meta["optimizer"] = opt_meta
        out.update({f"opt.{k}": v for k, v in state.items()})
    if training is not None:
        meta["training"] = training
    for k, v in (arrays or {}).items():
        out[f"extra.{k}"] = v
    write_archive(path, out, meta)
    return Path(path)


def _jsonable(v):
    return v.item() if isinstance(v, np.generic) else v


# ---------------------------------------------------------------- load
def _bad(path, why):
    return ValueError(f"{path}: not a valid fastnet model file: {why}")


def _read_member(z, info, path):
    """Parse one .npy member without pickle, checking its size before allocating."""
    raw = z.read(info)  # zipfile checks the CRC-32 of the member
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise _bad(path, f"{info.filename}: unsupported .npy version {version}")
    if dtype.hasobject or dtype.kind not in "biuf":
        raise _bad(path, f"{info.filename}: dtype {dtype} is not numeric")
    count = math.prod(shape)
    payload = len(raw) - f.tell()
    if count < 0 or count * dtype.itemsize != payload:
        raise _bad(path, f"{info.filename}: header says {shape} {dtype} "
                         f"({count * dtype.itemsize} bytes) but {payload} bytes follow")
    a = np.frombuffer(raw, dtype, count, f.tell())
    a = a.reshape(shape[::-1]).T if fortran else a.reshape(shape)
    return np.array(a)  # writable, native copy


def read_archive(path):
    """(arrays, meta) from a file written by ``write_archive``, verified by SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            infos = {i.filename: i for i in z.infolist()}
            if "meta.json" not in infos:
                raise _bad(path, "no meta.json inside (is it a fastnet model?)")
            if infos["meta.json"].file_size > MAX_META_BYTES:
                raise _bad(path, "meta.json is implausibly large")
            meta = json.loads(z.read("meta.json").decode("utf-8"))
            if not isinstance(meta, dict):
                raise _bad(path, "meta.json is not a JSON object")
            arrays = {}
            for name, info in infos.items():
                if name == "meta.json":
                    continue
                if not name.endswith(".npy"):
                    raise _bad(path, f"unexpected member {name!r}")
                arrays[name[:-4]] = _read_member(z, info, path)
    except ValueError as e:
        if str(e).startswith(f"{path}:"):
            raise
        raise _bad(path, f"{type(e).__name__}: {e}") from None
    except Exception as e:  # zipfile/zlib/struct/json errors of every kind on bad bytes
        raise _bad(path, f"{type(e).__name__}: {e} (truncated or corrupted?)") from None
    if meta.get("format") != FORMAT:
        raise _bad(path, f"format is {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise _bad(path, f"format version {version!r} is not supported by this fastnet "
                         f"(reads 1..{FORMAT_VERSION}; written by fastnet "
                         f"{meta.get('fastnet_version')!r})")
    digest = arrays_sha256(arrays)
    if meta.get("sha256") != digest:
        raise _bad(path, f"SHA-256 mismatch (stored {meta.get('sha256')!r}, arrays hash to "
                         f"{digest}); the file is corrupted")
    return arrays, meta


def load(path, return_meta=False):
    """Load a Network saved by ``save``; its optimizer (if saved) is ``net.optimizer``.

    With ``return_meta=True`` returns ``(net, meta, arrays)`` (meta['training'] holds
    the epoch, RNG state and history of a checkpoint).
    """
    from .layers import Dense
    from .network import Network
    from .optimizers import make_optimizer
    arrays, meta = read_archive(path)
    try:
        layers = [Dense(**cfg) for cfg in meta["layers"]]
        net = Network(layers, loss=meta["loss"], seed=meta.get("seed", 0),
                      dtype=np.dtype(meta["dtype"]))
        params = arrays["params"]
        if params.shape != net.params.shape or params.dtype != net.params.dtype:
            raise ValueError(f"params are {params.dtype}{params.shape} but the layers need "
                             f"{net.params.dtype}{net.params.shape}")
        old_layout = meta["format_version"] == 1  # every W stored (out, in)
        net.params[...] = net._from_out_major(params) if old_layout else params
        if "optimizer" in meta:
            opt = make_optimizer(meta["optimizer"]["config"])
            state = {k[4:]: v for k, v in arrays.items() if k.startswith("opt.")}
            if old_layout:
                state = {k: net._from_out_major(v) if v.shape == params.shape else v
                         for k, v in state.items()}
            opt.load_state_dict(meta["optimizer"], state)
            for k, v in opt.state.items():
                if v.shape != net.params.shape:
                    raise ValueError(f"optimizer state {k!r} has shape {v.shape}, "
                                     f"expected {net.params.shape}")
            net.optimizer = opt
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(path, f"metadata does not describe the arrays ({type(e).__name__}: {e})") \
            from None
    if return_meta:
        return net, meta, arrays
    return net
