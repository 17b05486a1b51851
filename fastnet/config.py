"""One place for the numeric settings every kernel shares.

* ``FLOAT``: the dtype of parameters, activations and gradients (float32).
* ``FASTMATH``: the LLVM fast-math flags. We allow re-association and
  contraction (so reductions vectorise and FMAs are used) but *not* ``nnan`` /
  ``ninf``: divergence checks must still see NaN and inf; nor ``arcp`` / ``afn``,
  which let LLVM replace a division or square root by an estimate in one inlined
  copy of a loop and not in another (the optimizer rules then differed by a few
  ulps between the fused and the flat update).
* ``JIT`` / ``PJIT``: the decorator options of serial and parallel kernels.
  ``cache=True`` writes the compiled code next to the source so a new process
  starts in about a second instead of recompiling.
* ``ZERO``: a 0 typed int64 for the kernels' helper arguments.
* ``ALIGN`` / ``empty`` / ``zeros`` / ``aligned_copy``: the arrays the kernels stream through
  (parameters, gradients, optimizer state, workspaces) start on a 64-byte cache
  line, so a row whose length is a multiple of 16 float32 is read and written in
  whole AVX-512 vectors that never straddle two lines. NumPy only promises 16
  bytes. Arrays of HUGE_PAGE bytes or more get memory of their own on a HUGE_PAGE
  boundary, which Linux is asked to back with transparent huge pages (``huge_pages``).
"""
import hashlib
import mmap
import os

import numpy as np

from . import codegen

codegen.prefer_512_bit()  # before the first @njit: it fixes the code generator's CPU
codegen.install()  # a parallel loop's code is optimised and generated once (codegen.py)

from numba import njit  # noqa: E402

FLOAT = np.float32
FASTMATH = {"reassoc", "contract", "nsz"}

ALIGN = 64  # bytes: one cache line, one AVX-512 vector
HUGE_PAGE = 1 << 21  # bytes: a transparent huge page (x86-64, and arm64 with 4 KB pages)


def empty(shape, dtype=FLOAT):
    """``np.empty(shape, dtype)`` whose data starts on an ALIGN-byte boundary (a
    C-contiguous view into a slightly larger buffer); from HUGE_PAGE bytes on, in memory
    of its own on a huge page boundary (``huge_pages``)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes >= HUGE_PAGE:
        buf = huge_pages(nbytes)
    else:
        buf = np.empty(nbytes + ALIGN, np.uint8)
        buf = buf[-buf.ctypes.data % ALIGN:]
    return buf[:nbytes].view(dtype).reshape(shape)


def huge_pages(nbytes):
    """``nbytes`` of fresh anonymous memory (uint8) starting on a HUGE_PAGE boundary, its
    whole huge pages advised for transparent huge pages (``madvise``; a no-op where the
    platform has none). A large array the kernels stream through then takes 512 times
    fewer TLB entries. (malloc's memory got them only now and then: in a grid process,
    after a few dozen networks had come and gone, 2-4 of the 7 MB of a network's
    parameters, and none of a 3 MB one's; epochs of 784-1024-1024-10 at batch 128 took
    12-15 % longer without them.) Freed when the last array on it goes."""
    try:
        memory = mmap.mmap(-1, nbytes + HUGE_PAGE, **(
            {"flags": mmap.MAP_PRIVATE} if hasattr(mmap, "MAP_PRIVATE") else {}))
    except OSError as e:   # what np.empty raises when memory is short
        raise MemoryError(f"Unable to allocate {nbytes / 2 ** 30:,.1f} GiB for an array") from e
    buf = np.frombuffer(memory, np.uint8)
    start = -buf.ctypes.data % HUGE_PAGE
    whole = nbytes // HUGE_PAGE * HUGE_PAGE   # a last, partial page stays small pages
    if hasattr(mmap, "MADV_HUGEPAGE"):
        memory.madvise(mmap.MADV_HUGEPAGE, start, whole)
    return buf[start:start + nbytes]


def zeros(shape, dtype=FLOAT):
    """``np.zeros(shape, dtype)`` on an ALIGN-byte boundary (see ``empty``)."""
    out = empty(shape, dtype)
    out[...] = 0
    return out


def aligned_copy(a):
    """A C-contiguous copy of array ``a`` on an ALIGN-byte boundary (see ``empty``)."""
    a = np.asarray(a)
    out = empty(a.shape, a.dtype)
    out[...] = a
    return out


JIT = dict(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")
PJIT = dict(JIT, parallel=True)
# A 0 typed int64 for helper arguments: a literal 0 (or a prange index, which the
# parallel loop makes unsigned) would compile the helper for a second signature.
ZERO = np.int64(0)


KERNELS = []  # every cached kernel made by the decorators below (see drop_stale_caches)


def _register(dispatcher):
    KERNELS.append(dispatcher)
    return dispatcher


def kernel(fn):
    """Serial nopython kernel with the project's flags."""
    return _register(njit(**JIT)(fn))


def parallel_kernel(fn):
    """Parallel (prange) nopython kernel with the project's flags. Keep a parallel loop's
    body short, a call of a helper that does one task: Numba copies, analyses and lowers
    that body several times (the first compile of the MNIST kernels took about 12 % longer
    with the tasks written out in the loops; benchmarks/JOURNAL.md)."""
    return _register(njit(**PJIT)(fn))


def inline(fn):
    """A small helper inlined into the Numba IR of the kernels that call it (index
    arithmetic, scalar functions used inside vector loops)."""
    return njit(inline="always", **JIT)(fn)


def helper(fn):
    """A large helper the kernels call as a function: it compiles once per signature
    and process, and is shared by every kernel that calls it; its code is linked into the
    caller's and optimised with it (LLVM inlines it where its cost model allows). (IR inlining instead would type and lower a
    copy at every call site: the first run compiled 40 % longer.) Only kernels call it,
    so it gets no wrapper for calls from Python, and no machine code or cache entry of
    its own: its qualified name marks it link-only (codegen.py)."""
    fn.__qualname__ = codegen.HELPER_PREFIX + fn.__qualname__
    options = dict(JIT, cache=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
    return _register(njit(**options)(fn))


DIGEST_FILE = "fastnet-kernels.digest"


def drop_stale_caches(dispatchers, sources):
    """Empty the Numba cache of ``dispatchers`` if any file in ``sources`` changed.

    Numba checks a cached kernel against its own source file only, not against the
    files of the helpers it inlines or the constants it reads (kernels/activations.py
    and optim.py inside dense.py's kernels, this file's flags): after an edit or a
    ``git pull`` that touches only those, it would load the old machine code. So a
    digest of all the sources is kept beside the cache (DIGEST_FILE); when it differs,
    every kernel's cache index is flushed and the kernels compile afresh, once.
    Returns True if it flushed. A cache folder that cannot be written is left alone
    (Numba then does not cache there either).
    """
    digest = hashlib.sha256()
    for path in sorted(sources):
        with open(path, "rb") as f:
            digest.update(f.read())
    digest = digest.hexdigest()
    # Numba's private but long-stable Dispatcher._cache (a FunctionCache): its folder
    # and its flush(), which empties the index so the next call compiles.
    caches = [d._cache for d in dispatchers if hasattr(getattr(d, "_cache", None), "_cache_path")]
    folders = {c._cache_path for c in caches}
    outdated = set()  # folders whose digest is missing or different
    stale = False
    for folder in folders:
        try:
            with open(os.path.join(folder, DIGEST_FILE)) as f:
                recorded = f.read()
        except OSError:
            recorded = None
        if recorded == digest:
            continue
        outdated.add(folder)
        stale |= recorded is not None or (  # changed, or cached before there was a digest
            os.path.isdir(folder) and any(name.endswith(".nbi") for name in os.listdir(folder)))
    for c in caches if stale else ():
        try:
            c.flush()
        except OSError:
            pass
    for folder in outdated:
        try:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, DIGEST_FILE), "w") as f:
                f.write(digest)
        except OSError:
            pass
    return stale
