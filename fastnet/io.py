"""Model files and atomic writes.

A model file is an ordinary ``.npz`` (zip) archive:

    params.npy          the flat parameter vector (float32/float64): each layer's W, b
                        (and PReLU a); since format version 2 the first W is stored
                        transposed, (in, out) (version 1 files are converted on load),
                        also for a network of dense inputs, which keeps it (out, in)
    opt.<name>.npy      optimizer state vectors (velocity, m, v, ...), if saved
    <extra>.npy         other arrays a checkpoint needs (e.g. the epoch's sample order)
    meta.json           JSON: format, fastnet version, layers, loss, dtype,
                        ``sparse_inputs`` (only when false), optimizer
                        data (task, class names, input scaler statistics; optional)
                        config and step count, training state (epoch, RNG state, history),
                        ``arrays_sha256``, the digest of every array (name, dtype, shape,
                        bytes), and ``sha256``, the digest of all of meta.json but itself
                        (keys sorted, compact separators), so the checksum covers every
                        byte that means something (format version 3; versions 1 and 2
                        hashed the arrays only, and still load)

``load`` never unpickles and allocates nothing a file merely claims: it reads
meta.json (at most MAX_META_BYTES), verifies its checksum, derives from the layers
the exact shape and dtype of every array, checks each member's zip and .npy headers
against them, then reads the member in chunks (a compressed member is never inflated
past its declared size) and finally verifies the arrays' checksum. Every way a file can
be wrong (truncated, a flipped byte, not a zip, another format, a newer or unknown
format version, values or arrays that do not fit the layers) raises ``ValueError``
naming the file; a missing file raises ``FileNotFoundError``.

Every file fastnet writes goes through ``atomic_write``: a temporary file in the same
folder, flushed and fsync'ed, then ``os.replace``'d over the target, so a crash
(power loss, SIGKILL) leaves either the old file or the new one, never half of one.
The file gets the mode ``open`` would give it (0o666 less the umask).
"""
import contextlib
import hashlib
import io
import json
import math
import os
import re
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "fastnet-model"
FORMAT_VERSION = 3  # 2: the first layer's W stored transposed (in, out); 3: meta.json hashed
MAX_META_BYTES = 16 << 20
MAX_LAYERS = 1000
MAX_HEADER_BYTES = 1 << 16           # a .npy header (numpy writes < 1 KiB)
MAX_OTHER_BYTES = 256 << 20          # a member whose size the metadata does not fix
MAX_INFLATION = 64                   # a compressed file expands to at most 64x ...
MIN_INFLATION_ALLOWANCE = 64 << 20   # ... or 64 MiB, whichever is more
CHUNK = 1 << 20


# ---------------------------------------------------------------- atomic writes
def _create_temp(folder, name):
    """(fd, path) of a new file ``.name.<random>.tmp`` in ``folder``, created with mode
    0o666 so that the umask applies as it does for ``open`` (mkstemp would give 0600)."""
    for _ in range(100):
        tmp = folder / f".{name}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name for {folder / name}")


TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")  # _create_temp's names


def remove_temps(folder):
    """Delete the temporary files of ``atomic_write`` in ``folder``: what a writer killed
    mid-write (SIGKILL, the OOM killer, a power cut) left behind. Only for a folder no
    other process writes in (``runs.claim``)."""
    for path in Path(folder).iterdir():
        if TEMP_NAME.fullmatch(path.name):
            with contextlib.suppress(OSError):
                path.unlink()


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file next to ``path``; on success fsync it and rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path.parent, path.name)
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


def write_bytes(path, data):
    """Atomically replace ``path`` with the bytes ``data``."""
    with atomic_write(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- checksums
def arrays_sha256(arrays):
    """SHA-256 over the arrays in name order: name, dtype, shape, then the raw bytes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def meta_sha256(meta):
    """SHA-256 of ``meta`` without its 'sha256' key, as sorted compact JSON."""
    body = {k: v for k, v in meta.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- save
def write_archive(path, arrays, meta):
    """Atomically write ``arrays`` (name -> ndarray) and ``meta`` (JSON) as an .npz."""
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    for k, v in arrays.items():
        if v.dtype.hasobject:
            raise TypeError(f"array {k!r} has dtype object; model files hold numbers only")
    meta = dict(meta, arrays_sha256=arrays_sha256(arrays))
    meta.pop("sha256", None)
    meta["sha256"] = meta_sha256(meta)
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
    out = {"params": net.canonical(net.params)}   # the first W in-major, as always
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastnet_version": __version__,
            "layers": [layer.config() for layer in net.layers], "loss": net.loss,
            "dtype": np.dtype(net.dtype).name, "seed": _jsonable(net.seed)}
    if not net.sparse_inputs:   # absent when True: files of the default stay as they were
        meta["sparse_inputs"] = False
    if optimizer is not None:
        opt_meta, state = optimizer.state_dict()
        for k, v in state.items():
            if v.shape != net.params.shape:
                raise ValueError(f"optimizer {optimizer!r}: its state {k!r} holds {v.size} "
                                 f"values, the network {net.params.size} parameters (an "
                                 "optimizer of another network?)")
        meta["optimizer"] = opt_meta
        out.update({f"opt.{k}": net.canonical(v) for k, v in state.items()})
    if training is not None:
        meta["training"] = training
    data = data_meta(net)
    if data:
        meta["data"] = data
    for k, v in (arrays or {}).items():
        out[f"extra.{k}"] = v
    write_archive(path, out, meta)
    return Path(path)


def data_meta(net):
    """meta.json's ``data``: what a model knows of its data beyond the layers: ``task``,
    class names ``classes``, the input ``scaler`` (mode, shift, factor as lists, pixels),
    ``source`` (the files it was trained and tested on) and ``features`` (the training
    CSV's column names). Empty for a bare Network."""
    data = {k: getattr(net, k) for k in ("task", "classes", "source", "features")
            if getattr(net, k, None) is not None}
    scaler = getattr(net, "scaler", None)
    if scaler is not None:
        data["scaler"] = {"mode": scaler.mode}
        if scaler.shift is not None:
            data["scaler"].update(shift=scaler.shift.tolist(), factor=scaler.factor.tolist(),
                                  pixels=bool(scaler.pixels))
    return data


def _restore_data(net, data, path):
    """Set ``net.task``, ``net.classes``, ``net.source``, ``net.features``, ``net.scaler``
    from meta's data."""
    from .scaling import Scaler
    if not isinstance(data, dict):
        raise _bad(path, f"meta.json field 'data' is {data!r:.60}, expected an object")
    classes = data.get("classes")
    if classes is not None and (not isinstance(classes, list) or len(classes) !=
                                max(net.n_outputs, 2) or
                                not all(isinstance(c, str) for c in classes)):
        raise _bad(path, f"meta.json field 'data.classes' is {classes!r:.60}, expected "
                         f"{max(net.n_outputs, 2)} class names")
    features = data.get("features")
    if features is not None and (not isinstance(features, list) or len(features) !=
                                 net.n_inputs or not all(isinstance(f, str) for f in features)):
        raise _bad(path, f"meta.json field 'data.features' is {features!r:.60}, expected "
                         f"{net.n_inputs} column names")
    net.task, net.classes, net.source = data.get("task"), classes, data.get("source")
    net.features = features
    if "scaler" in data:
        state = data["scaler"]
        try:
            net.scaler = Scaler.from_state(state)
        except (TypeError, ValueError, KeyError) as e:
            raise _bad(path, f"meta.json field 'data.scaler': {e}") from None
        if net.scaler.shift is not None and len(net.scaler.shift) != net.n_inputs:
            raise _bad(path, f"meta.json field 'data.scaler' has {len(net.scaler.shift)} "
                             f"features; the model takes {net.n_inputs} inputs")


def _jsonable(v):
    return v.item() if isinstance(v, np.generic) else v


# ---------------------------------------------------------------- load
def _bad(path, why):
    return ValueError(f"{path}: not a valid fastnet model file: {why}")


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys in a JSON object: {sorted(keys)}")
    return dict(pairs)


def _read_meta(z, infos, path):
    info = infos.get("meta.json")
    if info is None:
        raise _bad(path, "no meta.json inside (is it a fastnet model?)")
    if info.file_size > MAX_META_BYTES:
        raise _bad(path, f"meta.json declares {info.file_size} bytes, more than the "
                         f"{MAX_META_BYTES} allowed")
    with z.open(info) as f:
        raw = f.read(MAX_META_BYTES + 1)   # ZipExtFile stops at the declared size
    try:
        meta = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as e:
        raise _bad(path, f"meta.json is not valid JSON ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict):
        raise _bad(path, "meta.json is not a JSON object")
    return meta


def _check_meta(meta, path):
    """Format, version and checksum of meta.json; returns whether it is hashed (v3+)."""
    if meta.get("format") != FORMAT:
        raise _bad(path, f"format is {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or \
            not 1 <= version <= FORMAT_VERSION:
        raise _bad(path, f"format version {version!r} is not supported by this fastnet "
                         f"(reads 1..{FORMAT_VERSION}; written by fastnet "
                         f"{meta.get('fastnet_version')!r})")
    hashed = "arrays_sha256" in meta   # decided by the layout, not by a field it covers
    if hashed:
        if meta.get("sha256") != meta_sha256(meta):
            raise _bad(path, "meta.json checksum mismatch (sha256 does not match its "
                             "contents); the metadata was edited or corrupted")
        if version < 3:
            raise _bad(path, f"format_version {version} but a version 3 checksum")
    elif version >= 3:
        raise _bad(path, "meta.json has no arrays_sha256 (format version 3 needs it)")
    return hashed


def _limit(name, expect, path):
    """(shape, dtype or dtype kinds, required) expected for a member, or None for an
    ``extra.*`` member the metadata does not describe (bounded by MAX_OTHER_BYTES)."""
    if expect is None:
        return None
    if name in expect:
        return expect[name]
    if name.startswith("extra."):
        return None
    raise _bad(path, f"unexpected member {name}.npy")


def _read_member(z, info, path, want, budget):
    """One .npy member, without pickle; its headers are checked against ``want`` and the
    budget of bytes it may inflate to before anything is allocated, and it is read in
    chunks that never pass its declared size."""
    name = info.filename
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _bad(path, f"{name}: unsupported compression method {info.compress_type}")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise _bad(path, f"{name}: stored member declares {info.file_size} bytes but "
                             f"holds {info.compress_size}")
        budget = min(budget, info.compress_size)
    with z.open(info) as f:
        head = io.BytesIO(f.read(min(info.file_size, MAX_HEADER_BYTES)))
        version = np.lib.format.read_magic(head)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(head)
        else:
            raise _bad(path, f"{name}: unsupported .npy version {version}")
        if dtype.hasobject or dtype.kind not in "biuf":
            raise _bad(path, f"{name}: dtype {dtype} is not numeric")
        if want is not None:
            want_shape, want_dtype, _ = want
            ok_dtype = dtype.kind in want_dtype if isinstance(want_dtype, str) \
                else dtype == want_dtype
            if tuple(shape) != want_shape or not ok_dtype:
                raise _bad(path, f"{name}: holds {dtype}{tuple(shape)} but the metadata "
                                 f"needs {want_dtype}{want_shape}")
        count = math.prod(shape)
        payload = count * dtype.itemsize
        if info.file_size != head.tell() + payload:
            raise _bad(path, f"{name}: header says {shape} {dtype} ({payload} bytes) but "
                             f"the member declares {info.file_size - head.tell()} bytes of data")
        if payload > budget:
            raise _bad(path, f"{name}: {payload} bytes is more than this file may hold "
                             f"({budget} bytes)")
        out = np.empty(count, dtype)
        buf = out.view(np.uint8)
        rest = head.read()
        buf[:len(rest)] = np.frombuffer(rest, np.uint8)
        done = len(rest)
        while done < payload:
            chunk = f.read(min(CHUNK, payload - done))
            if not chunk:
                raise _bad(path, f"{name}: ends after {done} of {payload} bytes")
            buf[done:done + len(chunk)] = np.frombuffer(chunk, np.uint8)
            done += len(chunk)
        if f.read(1):
            raise _bad(path, f"{name}: more data than its header says")
    return out.reshape(shape[::-1]).T.copy() if fortran else out.reshape(shape)


def read_archive(path, expect=None):
    """(arrays, meta) from a file written by ``write_archive``, verified by SHA-256.

    ``expect(meta)`` (optional) returns {member name: (shape, dtype or dtype kinds,
    required)} for the arrays the metadata fixes; other members are refused, except
    ``extra.*`` ones (at most MAX_OTHER_BYTES each).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    file_bytes = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as z:
            infos = {i.filename: i for i in z.infolist()}
            if len(infos) != len(z.infolist()):
                raise _bad(path, "duplicate member names")
            meta = _read_meta(z, infos, path)
            hashed = _check_meta(meta, path)
            wants = expect(meta) if expect is not None else None
            budget = max(MAX_INFLATION * file_bytes, MIN_INFLATION_ALLOWANCE)
            arrays = {}
            for name, info in infos.items():
                if name == "meta.json":
                    continue
                if not name.endswith(".npy"):
                    raise _bad(path, f"unexpected member {name!r}")
                if info.compress_size > file_bytes:
                    raise _bad(path, f"{name}: declares {info.compress_size} compressed "
                                     f"bytes, more than the file's {file_bytes}")
                want = _limit(name[:-4], wants, path)
                cap = budget if want is not None else min(budget, MAX_OTHER_BYTES)
                arrays[name[:-4]] = a = _read_member(z, info, path, want, cap)
                budget -= a.nbytes
            missing = {k for k, w in (wants or {}).items() if w[2]} - set(arrays)
            if missing:
                raise _bad(path, f"members missing: {sorted(m + '.npy' for m in missing)}")
    except Exception as e:  # zipfile/zlib/struct/numpy errors of every kind on bad bytes
        if str(e).startswith(f"{path}: not a valid fastnet model file:"):
            raise
        raise _bad(path, f"{type(e).__name__}: {e} (truncated or corrupted?)") from None
    digest = arrays_sha256(arrays)
    stored = meta.get("arrays_sha256" if hashed else "sha256")
    if stored != digest:
        raise _bad(path, f"SHA-256 mismatch (stored {stored!r}, arrays hash to "
                         f"{digest}); the file is corrupted")
    return arrays, meta


def _field(meta, key, kind, path):
    value = meta.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise _bad(path, f"meta.json field {key!r} is {value!r}, expected a "
                         f"{getattr(kind, '__name__', kind)}")
    return value


def _expected_arrays(path):
    """The expect(meta) for ``read_archive``: shapes from the layers, before any array."""
    from .layers import Dense
    from .optimizers import make_optimizer

    def expect(meta):
        configs = _field(meta, "layers", list, path)
        if not 1 <= len(configs) <= MAX_LAYERS:
            raise _bad(path, f"meta.json field 'layers' has {len(configs)} entries, "
                             f"expected 1..{MAX_LAYERS}")
        layers = []
        for i, cfg in enumerate(configs):
            if not isinstance(cfg, dict):
                raise _bad(path, f"meta.json layers[{i}] is {cfg!r}, expected an object")
            try:
                layers.append(Dense(**cfg))
            except (TypeError, ValueError) as e:
                raise _bad(path, f"meta.json layers[{i}]: {e}") from None
        dtype = _field(meta, "dtype", str, path)
        if dtype not in ("float32", "float64"):
            raise _bad(path, f"meta.json field 'dtype' is {dtype!r}, expected float32 or "
                             "float64")
        size = (sum(layer.n_params for layer in layers),)
        wants = {"params": (size, np.dtype(dtype), True)}
        if "optimizer" in meta:
            opt_meta = _field(meta, "optimizer", dict, path)
            try:
                opt = make_optimizer(opt_meta["config"])
            except (KeyError, TypeError, ValueError) as e:
                raise _bad(path, f"meta.json optimizer config: {type(e).__name__}: {e}") \
                    from None
            t = opt_meta.get("t")
            if not isinstance(t, int) or isinstance(t, bool) or t < 0:
                raise _bad(path, f"meta.json field 'optimizer.t' is {t!r}, expected an "
                                 "integer >= 0")
            # an optimizer saved before its first step may have no state
            wants.update({f"opt.{k}": (size, np.dtype(dtype), t > 0) for k in opt.state_names})
        training = meta.get("training")
        if isinstance(training, dict) and training.get("position"):
            n_train = training.get("n_train")
            if not isinstance(n_train, int) or isinstance(n_train, bool) or n_train < 1:
                raise _bad(path, f"meta.json field 'training.n_train' is {n_train!r}, "
                                 "expected an integer >= 1")
            wants["extra.order"] = ((n_train,), "iu", False)
        return wants
    return expect


def load(path, return_meta=False):
    """Load a Network saved by ``save``; its optimizer (if saved) is ``net.optimizer``.

    With ``return_meta=True`` returns ``(net, meta, arrays)`` (meta['training'] holds
    the epoch, RNG state and history of a checkpoint).
    """
    from .layers import Dense
    from .network import Network
    from .optimizers import make_optimizer
    arrays, meta = read_archive(path, _expected_arrays(path))
    try:
        layers = [Dense(**cfg) for cfg in meta["layers"]]
        net = Network(layers, loss=meta["loss"], seed=meta.get("seed", 0),
                      dtype=np.dtype(meta["dtype"]),
                      sparse_inputs=meta.get("sparse_inputs", True))
        def relayout(flat):
            return net.from_saved(flat, meta["format_version"])
        net.params[...] = relayout(arrays["params"])
        if "optimizer" in meta:
            opt = make_optimizer(meta["optimizer"]["config"])
            state = {k[4:]: relayout(v) for k, v in arrays.items() if k.startswith("opt.")}
            opt.load_state_dict(meta["optimizer"], state)
            net.optimizer = opt
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(path, f"metadata does not describe the arrays ({type(e).__name__}: {e})") \
            from None
    if "data" in meta:
        _restore_data(net, meta["data"], path)
    if return_meta:
        return net, meta, arrays
    return net
