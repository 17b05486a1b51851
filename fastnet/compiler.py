"""Compile the kernels a run will call before it starts, in parallel when several are
missing from Numba's on-disk cache, and say so.

A kernel compiles on its first call, one after another (Numba's compiler lock is per
process). ``warm(calls)`` takes the calls a run is about to make (``passes.planned_calls``)
and, for the (kernel, signature) pairs neither compiled in this process nor in the cache,
compiles each in a worker process of its own (spawned; each writes Numba's cache), as
many at a time as there are CPUs; then this process loads them all from the cache.
When the cache cannot be written (a read-only install without NUMBA_CACHE_DIR) or only
one is missing, they compile here. Either way nothing compiles later, inside the
training loop.
"""
import concurrent.futures
import importlib
import multiprocessing
import os
import sys
import time

WORKERS_VARIABLE = "FASTNET_COMPILE_WORKERS"  # the default number of worker processes
COMPILING = "compiling fastnet's kernels for this CPU (first run only) ..."


def signature(kernel, args):
    """The argument types ``kernel`` (a Numba dispatcher) compiles for ``args``: the
    types its own call would find."""
    return tuple(kernel.typeof_pyval(a) for a in args)


def is_cached(kernel, sig):
    """True if ``kernel`` has machine code for ``sig`` in this process or in its cache
    folder (reads the cache index only, compiles and loads nothing)."""
    if sig in kernel.overloads:
        return True
    cache = getattr(kernel, "_cache", None)
    index_file = getattr(cache, "_cache_file", None)
    if index_file is None:  # Numba's private cache objects changed: assume missing
        return False
    try:
        key = cache._index_key(sig, kernel.targetctx.codegen())
        return key in index_file._load_index()
    except Exception:  # an unreadable or foreign index: Numba recompiles it anyway
        return False


def missing(calls):
    """The distinct (kernel, signature) pairs of ``calls`` (kernel, args) not yet cached."""
    seen, out = set(), []
    for kernel, args in calls:
        sig = signature(kernel, args)
        if (kernel, sig) not in seen and not is_cached(kernel, sig):
            seen.add((kernel, sig))
            out.append((kernel, sig))
    return out


def _cache_writable(kernel):
    folder = getattr(getattr(kernel, "_cache", None), "_cache_path", None)
    if folder is None:
        return False
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _expected_cost(pair):
    """A rough order of compile times: parallel kernels (each prange loop becomes a
    function of its own) before serial ones, then by the size of the kernel's own
    bytecode. Handing the longest out first keeps the workers finishing together."""
    kernel = pair[0]
    return bool(kernel.targetoptions.get("parallel")), len(kernel.py_func.__code__.co_code)


def _compile_in_worker(module, name, sig):
    """Worker: compile kernel ``module.name`` for ``sig`` (writing Numba's cache)."""
    kernel = getattr(importlib.import_module(module), name)
    t0 = time.perf_counter()
    kernel.compile(sig)
    return time.perf_counter() - t0


def _default_workers():
    """FASTNET_COMPILE_WORKERS if it is a positive integer, else the number of CPUs."""
    try:
        return max(int(os.environ[WORKERS_VARIABLE]), 1)
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def compile_all(pairs, workers=None):
    """Compile (kernel, signature) ``pairs``: in up to ``workers`` spawned processes
    (default: the environment's FASTNET_COMPILE_WORKERS, else one per CPU; 1: none) when
    there are two or more and the cache is writable, then load them here; else here, one
    after another."""
    workers = min(len(pairs), workers or _default_workers())
    pairs = sorted(pairs, key=_expected_cost, reverse=True)  # the longest first
    if workers > 1 and all(_cache_writable(k) for k, _ in pairs):
        try:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                jobs = [pool.submit(_compile_in_worker, k.py_func.__module__,
                                    k.py_func.__name__, sig) for k, sig in pairs]
                for job in jobs:
                    job.result()
        except Exception:  # no child processes here (a daemon), or a worker failed:
            pass           # what is missing compiles below, raising any real error here
    for kernel, sig in pairs:
        kernel.compile(sig)  # loads what the workers cached (or compiles it here)


def warm(calls, verbose=False, workers=None):
    """Make sure every kernel call in ``calls`` [(kernel, args)] runs compiled code: load
    it from the cache, or compile the missing ones (in parallel, see ``compile_all``),
    printing a line to stderr before and after when ``verbose``. Returns the seconds
    spent compiling (0.0 when everything was cached)."""
    todo = missing(calls)
    t0 = time.perf_counter()
    if todo:
        if verbose:
            print(f"fastnet: {COMPILING}", end="", file=sys.stderr, flush=True)
        compile_all(todo, workers)
    for kernel, args in calls:
        kernel.compile(signature(kernel, args))  # load from the cache now, not mid-run
    if not todo:
        return 0.0
    seconds = time.perf_counter() - t0
    if verbose:
        print(f" done in {seconds:.1f} s", file=sys.stderr, flush=True)
    return seconds
