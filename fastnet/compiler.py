"""Compile the kernels a run will call before it starts, in parallel when several are
missing from Numba's on-disk cache, and say so.

A kernel compiles on its first call, one after another (Numba's compiler lock is per
process). ``warm(calls)`` takes the calls a run is about to make (``passes.planned_calls``)
and, for the (kernel, signature) pairs neither compiled in this process nor in the cache,
compiles them in worker processes (fresh interpreters that import only what the kernels
need; each writes Numba's cache), as many at a time as there are CPUs, the longest first;
then this process loads them all from the cache.
When the cache cannot be written (a read-only install without NUMBA_CACHE_DIR) or only
one is missing, they compile here. Either way nothing compiles later, inside the
training loop.
"""
import os
import pickle
import select
import subprocess
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


# A worker: a fresh interpreter (not a multiprocessing child, which would re-run the
# user's script when it has no ``if __name__ == "__main__"`` guard) that reads the pickled
# job list, then compiles job i for each line i on stdin and answers with that line.
WORKER = """
import importlib, pickle, sys
jobs = pickle.load(sys.stdin.buffer)
for line in sys.stdin.buffer:
    module, name, sig = jobs[int(line)]
    getattr(importlib.import_module(module), name).compile(sig)
    sys.stdout.buffer.write(line)
    sys.stdout.flush()
"""


def _in_workers(pairs, workers):
    """Compile ``pairs`` in ``workers`` worker processes, handing the next job to whichever
    is free first. Raises RuntimeError if a worker fails."""
    jobs = pickle.dumps([(k.py_func.__module__, k.py_func.__name__, sig) for k, sig in pairs])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this fastnet
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
             for _ in range(workers)]
    try:
        for proc in procs:
            proc.stdin.write(jobs)
            proc.stdin.flush()
        todo, busy = list(range(len(pairs))), {}  # busy: {worker: job}
        while todo or busy:
            for proc in procs:
                if proc not in busy and todo:
                    busy[proc] = todo.pop(0)
                    proc.stdin.write(b"%d\n" % busy[proc])
                    proc.stdin.flush()
            ready = select.select([proc.stdout for proc in busy], [], [])[0]
            for proc in [proc for proc in busy if proc.stdout in ready]:
                if proc.stdout.readline() != b"%d\n" % busy[proc]:
                    raise RuntimeError(f"a worker failed to compile job {busy[proc]}")
                del busy[proc]
    finally:
        for proc in procs:
            try:
                proc.stdin.close()  # a worker ends at the end of its input
            except OSError:
                pass
        for proc in procs:
            proc.wait()


def _default_workers():
    """FASTNET_COMPILE_WORKERS if it is a positive integer, else the number of CPUs."""
    try:
        return max(int(os.environ[WORKERS_VARIABLE]), 1)
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def compile_all(pairs, workers=None):
    """Compile (kernel, signature) ``pairs``: in up to ``workers`` worker processes
    (default: the environment's FASTNET_COMPILE_WORKERS, else one per CPU; 1: none) when
    there are two or more and the cache is writable, then load them here; else here, one
    after another."""
    workers = min(len(pairs), workers or _default_workers())
    pairs = sorted(pairs, key=_expected_cost, reverse=True)  # the longest first
    if workers > 1 and all(_cache_writable(k) for k, _ in pairs):
        try:
            _in_workers(pairs, workers)
        except (OSError, RuntimeError):  # no processes here, or a worker failed: what is
            pass                         # missing compiles below, raising any real error
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
