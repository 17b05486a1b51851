"""Compile the kernels a run will call before it starts, in parallel when several are
missing from Numba's on-disk cache, and say so.

A kernel compiles on its first call, one after another (Numba's compiler lock is per
process). ``warm(calls)`` takes the calls a run is about to make (``passes.planned_calls``)
and, for the (kernel, signature) pairs neither compiled in this process nor in the cache,
compiles them in as many groups at once as there are CPUs: this process compiles one,
worker processes (each writes Numba's cache) the others, kernels that call the same
helpers in the same group, and a process done with its group takes the next kernels of
the others; then this process loads the workers' kernels from the cache.
A worker is a fork of this process where that is safe (Linux, no other thread), else a
fresh interpreter that imports only what the kernels need.
When the cache cannot be written (a read-only install without NUMBA_CACHE_DIR) or only
one is missing, they compile here. Either way nothing compiles later, inside the
training loop.
"""
import contextlib
import dis
import gc
import os
import pickle
import subprocess
import sys
import threading
import time
import warnings

from . import config

WORKERS_VARIABLE = "FASTNET_COMPILE_WORKERS"  # the default number of worker processes
COMPILING = "compiling fastnet's kernels for this CPU (first run only) ..."
# A new interpreter's start (importing Numba and fastnet, setting up Numba's target: about
# 1 s on a 2-vCPU VM) in units of _cost: bytecode compiled in about that time.
SPAWN_COST = 1000
# A forked worker's start, in the same units: the fork copies each page of this process
# that it writes (copy-on-write: Numba's and LLVM's objects), so with shares of equal cost
# the worker of an MNIST run ended 0.2-3 s after this process. Fitted on its timelines:
# with 3000 it still ended 1-2 s after (7 of 8 runs), with 4500 0-0.8 s.
FORK_COST = 4500
PARALLEL_COST = 600  # a parallel loop's fixed cost (0.4-0.5 s; fitted to compile_times.py)
KERNEL_COST = 700  # a kernel's own: its wrappers, cache entry, module passes (0.15-0.25 s)
# The garbage collector's thresholds while compiling. Numba's compiler makes hundreds of
# thousands of short-lived containers; at Python's default (700, 10, 10) the collector
# ran about 1 260 times in a serial compile of the MNIST kernels, 9 of them over every
# object (0.64 s of about 10 s). At these, about 200 times, once over everything (0.22 s).
COMPILE_GC_THRESHOLDS = (10000, 50, 100)
# The most pairs a group hands out through a queue (``_queues``): 4 bytes each, one write
# of at most PIPE_BUF (4096) bytes, which a pipe takes whole before anyone reads. Larger
# groups keep the fixed partition.
MAX_QUEUED = 1024


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


def missing(pairs):
    """The distinct (kernel, signature) ``pairs`` not yet cached."""
    seen, out = set(), []
    for kernel, sig in pairs:
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


def _calls(fn):
    """What compiling ``fn`` compiles too: the dispatchers (kernels and helpers,
    ``config.KERNELS``) it calls, directly or through them."""
    found, todo = set(), [fn]
    while todo:
        caller = todo.pop()
        for name in caller.py_func.__code__.co_names:
            obj = caller.py_func.__globals__.get(name)
            if obj in config.KERNELS and obj not in found:
                found.add(obj)
                todo.append(obj)
    return found


def _cost(dispatcher):
    """A rough compile cost: the size of its own bytecode, plus PARALLEL_COST for each
    parallel loop of a parallel kernel (Numba's passes over it, its loop function and
    their wrappers, and LLVM's pass over the whole nest), plus KERNEL_COST for a kernel
    (not a link-only helper)."""
    code = dispatcher.py_func.__code__
    loops = 0
    if dispatcher.targetoptions.get("parallel"):
        loops = sum(i.argval == "prange" for i in dis.get_instructions(code))
    own = 0 if dispatcher.targetoptions.get("no_cpython_wrapper") else KERNEL_COST
    return len(code.co_code) + PARALLEL_COST * loops + own


def _expected_cost(pair):
    """A kernel's cost with the helpers it compiles (the longest are handed out first)."""
    kernel = pair[0]
    return _cost(kernel) + sum(_cost(h) for h in _calls(kernel))


def partition(pairs, groups, startup=0):
    """Split (kernel, signature) ``pairs`` into ``groups`` lists of about equal cost, the
    longest first, each kernel where it adds least: to the group that already compiles
    most of its helpers (a helper shared by two groups is compiled twice). Every group
    but the first starts with the cost ``startup`` (a worker's start)."""
    members = [[] for _ in range(groups)]
    loads, compiled = [0] + [startup] * (groups - 1), [set() for _ in range(groups)]
    for pair in sorted(pairs, key=_expected_cost, reverse=True):
        helpers = _calls(pair[0])

        def added(g):
            return _cost(pair[0]) + sum(_cost(h) for h in helpers - compiled[g])
        g = min(range(groups), key=lambda g: loads[g] + added(g))
        loads[g] += added(g)
        compiled[g] |= helpers
        members[g].append(pair)
    return members


# A worker: a fresh interpreter (not a multiprocessing child, which would re-run the
# user's script when it has no ``if __name__ == "__main__"`` guard) that reads its pickled
# job list from stdin and compiles each job (Numba writes the cache); exit status 0 when
# all compiled.
WORKER = f"""
import gc, importlib, pickle, sys
gc.set_threshold{COMPILE_GC_THRESHOLDS}
for module, name, sig in pickle.load(sys.stdin.buffer):
    getattr(importlib.import_module(module), name).compile(sig)
"""


class _Fork:
    """A forked worker, waited for and killed like a ``subprocess.Popen``."""

    def __init__(self, pid):
        self.pid = pid

    def wait(self):
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def kill(self):
        try:
            os.kill(self.pid, 9)
        except OSError:   # already gone
            pass


def _can_fork():
    """Forking is safe enough here: Linux (macOS's system libraries are not fork-safe),
    and no other Python thread, which could hold a lock the child needs. Native thread
    pools (OpenBLAS's, Numba's) wait idle between calls; the child only compiles and
    leaves, and never calls into them."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _queues(groups):
    """One pipe per group holding its pairs' numbers (4 bytes each), its write end
    closed: a read of 4 bytes takes the next (atomically, whichever process reads), an
    empty read means the group is all taken."""
    queues = []
    for group in groups:
        read, write = os.pipe()
        os.write(write, b"".join(i.to_bytes(4, "little") for i in range(len(group))))
        os.close(write)
        queues.append(read)
    return queues


def _serve(groups, queues, own):
    """Compile the pairs of group ``own`` as its queue hands them out, then help with the
    other groups' (the vCPUs of a VM do not run at one speed: with fixed shares the run
    waits for the slower); a pair is compiled by whichever process takes it."""
    for g in [own] + [g for g in range(len(groups)) if g != own]:
        while len(number := os.read(queues[g], 4)) == 4:
            kernel, sig = groups[g][int.from_bytes(number, "little")]
            kernel.compile(sig)


def _fork_worker(groups, queues, own):
    """A worker compiling group ``own`` of ``groups`` (then helping with the others,
    ``_serve``) in a fork of this process: Numba already imported and set up, where a
    fresh interpreter pays about a second for both. None if it could not fork."""
    try:
        with warnings.catch_warnings():   # Python 3.12+ warns of any other (native) thread
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        return None
    if pid:
        return _Fork(pid)
    status = 1   # the child: compile, then leave without running this process's exit code
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        _serve(groups, queues, own)
        status = 0
    finally:
        os._exit(status)


def _start_worker(groups, queues, own):
    """A worker process compiling group ``own`` of ``groups`` (a fork sharing the
    ``queues`` if there are any, else a new interpreter given its group), or None if it
    could not start."""
    pairs = groups[own]
    if queues:
        return _fork_worker(groups, queues, own)
    jobs = pickle.dumps([(k.py_func.__module__, k.py_func.__name__, sig) for k, sig in pairs])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this fastnet
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    try:
        proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    except OSError:
        return None
    try:
        proc.stdin.write(jobs)
        proc.stdin.close()
    except OSError:   # it died at once: its kernels compile here
        proc.kill()
        proc.wait()
        return None
    return proc


def _default_workers():
    """FASTNET_COMPILE_WORKERS if it is a positive integer, else the number of CPUs."""
    try:
        return max(int(os.environ[WORKERS_VARIABLE]), 1)
    except (KeyError, ValueError):
        return os.cpu_count() or 1


_compiling = [0, None]   # compile_all calls under way (threads), the thresholds before them
_compiling_lock = threading.Lock()


@contextlib.contextmanager
def _fewer_collections():
    """Raise the garbage collector's thresholds to COMPILE_GC_THRESHOLDS for the
    duration (forked workers inherit them), then put back the caller's, when the last
    of the compiles under way in this process's threads ends."""
    with _compiling_lock:
        if _compiling[0] == 0:
            _compiling[1] = gc.get_threshold()
            gc.set_threshold(*COMPILE_GC_THRESHOLDS)
        _compiling[0] += 1
    try:
        yield
    finally:
        with _compiling_lock:
            _compiling[0] -= 1
            if _compiling[0] == 0:
                gc.set_threshold(*_compiling[1])


def compile_all(pairs, workers=None):
    """Compile (kernel, signature) ``pairs`` in ``workers`` groups at once (default: the
    environment's FASTNET_COMPILE_WORKERS, else one per CPU; 1: one after another): this
    process compiles the first group (``partition``) while a worker process compiles each
    other, when the cache is writable; forked workers and this process then take the
    pairs not yet begun of the others' groups (``_serve``). Then this process loads the
    workers' kernels from the cache. A worker that fails leaves its kernels to be
    compiled here. The garbage collector runs less meanwhile (``COMPILE_GC_THRESHOLDS``)."""
    workers = min(len(pairs), workers or _default_workers())
    groups = [pairs]
    fork = _can_fork()   # decided once: the partition counts the start of that kind
    if workers > 1 and all(_cache_writable(k) for k, _ in pairs):
        groups = partition(pairs, workers, FORK_COST if fork else SPAWN_COST)
    queues = (_queues(groups) if fork and 1 < len(groups)
              and max(map(len, groups)) <= MAX_QUEUED else [])
    with _fewer_collections():
        procs = [p for p in (_start_worker(groups, queues, g) for g in range(1, len(groups))
                             if groups[g]) if p is not None]
        try:
            if queues:
                _serve(groups, queues, 0)
            else:
                for kernel, sig in groups[0]:
                    kernel.compile(sig)
        except BaseException:   # an error or Ctrl-C here: stop the workers too
            for proc in procs:
                proc.kill()
            raise
        finally:
            for proc in procs:
                proc.wait()
            for queue in queues:
                os.close(queue)
        for kernel, sig in pairs:
            kernel.compile(sig)  # loads what the workers cached (or compiles it here)


def warm(calls, verbose=False, workers=None):
    """Make sure every kernel call in ``calls`` [(kernel, args)] runs compiled code: load
    it from the cache, or compile the missing ones (in parallel, see ``compile_all``),
    printing a line to stderr before and after when ``verbose``. Returns the seconds
    spent compiling (0.0 when everything was cached)."""
    pairs = [(kernel, signature(kernel, args)) for kernel, args in calls]  # typed once:
    todo = missing(pairs)   # typing the arguments is most of a warm call with all compiled
    t0 = time.perf_counter()
    if todo:
        if verbose:
            print(f"fastnet: {COMPILING}", end="", file=sys.stderr, flush=True)
        compile_all(todo, workers)
    for kernel, sig in pairs:
        if sig not in kernel.overloads:
            kernel.compile(sig)  # load from the cache now, not mid-run
    if not todo:
        return 0.0
    seconds = time.perf_counter() - t0
    if verbose:
        print(f" done in {seconds:.1f} s", file=sys.stderr, flush=True)
    return seconds
