"""How Numba compiles fastnet's kernels: 512-bit vectors, and each parallel loop's machine
code optimised and generated once, in the kernel that runs it.

**Vector width.** On Intel's AVX-512 server CPUs (Skylake-SP to Emerald Rapids) LLVM tunes
for 256-bit vectors ("prefer-256-bit"), so the kernels' vector loops use half of each
AVX-512 register. ``prefer_512_bit()`` turns that tuning off for the process (the dense
products of a batch-128 MNIST-sized step ran 1.3-1.6x faster on a 2-vCPU Emerald Rapids;
on MNIST's sparse pixels the epoch moved little; benchmarks/JOURNAL.md).
It sets NUMBA_CPU_FEATURES to the host's features plus ``-prefer-256-bit``, so compile
workers and later processes build (and find in the cache) the same code; it must run
before the first ``@njit`` of the process creates Numba's code generator, and changes
nothing when that already happened, when the CPU has no AVX-512, when
NUMBA_CPU_FEATURES is already set, or with FASTNET_VECTOR_BITS=256.

**Link-only loop libraries and helpers.**

Numba compiles the body of a ``prange`` loop into a library of its own (a "gufunc"),
wraps it twice (``_GufuncWrapper``, then ``parallelgufuncwrapper``) and links the three
into the kernel's library. Each of the four is finalised on its own: LLVM's full -O3
pipeline, then machine code. Only the kernel's machine code is ever run (and cached):
the loop body, with every helper it calls, went through -O3 and code generation three
times before its last, kept, pass. Those passes were about a third of the CPU time of an
empty-cache first run (benchmarks/compile_times.py; numbers in benchmarks/JOURNAL.md).

``install()`` makes the three inner libraries link-only: they keep their LLVM module
(function-level passes still run on it) for the next level to link in, and skip the
module-level -O3 and the machine code. The kernel's library then optimises the whole
nest at -O3 once, as before, so the code that runs is the same (tests/test_compile.py
checks that results are bit-identical with and without it). A loop body's environment
pointer, which Numba would set in the inner library's machine code, is left unset, as
in every kernel loaded from the cache.

The kernels' helpers (``config.helper``) are the same case: a kernel links a helper's
module in (LLVM inlines it where its cost model allows) and optimises and generates it
with the kernel, so the helper's own -O3 and machine code were never run either (about
1.3 s of a 12 s first compile). Their libraries are named with
HELPER_PREFIX and are link-only too; they are not cached (there would be no machine
code to cache), so a process that compiles a new kernel compiles its helpers' IR again.

It relies on Numba internals (``CPUCodeLibrary``, ``JITCPUCodegen.set_env``) that have
been stable since 0.54; if they are missing ``install()`` changes nothing. Set
``FASTNET_LINK_ONLY=0`` to compile the way Numba does by default.
"""
import os

from numba.core import codegen, config, registry

# Names Numba gives the inner libraries of a parallel loop (numba/parfors, np/ufunc).
LINK_ONLY = ("__numba_parfor_gufunc", "<numba.np.ufunc.wrappers._GufuncWrapper",
             "parallelgufuncwrapper")
HELPER_PREFIX = "fastnet_link_only."  # config.helper's functions: qualified names start so
LINK_ONLY_VARIABLE = "FASTNET_LINK_ONLY"
VECTOR_VARIABLE = "FASTNET_VECTOR_BITS"

_library = codegen.CPUCodeLibrary
_jit = codegen.JITCPUCodegen
_NEEDED = ((_library, "_optimize_final_module"), (_library, "_finalize_final_module"),
           (_library, "_finalize_dynamic_globals"), (_library, "_verify_declare_only_symbols"),
           (_jit, "set_env"))
installed = False


def _link_only(library):
    return library.name.startswith(LINK_ONLY + (HELPER_PREFIX,))


def install():
    """Make the inner libraries of parallel loops and the helpers link-only (module doc). Idempotent;
    returns whether it is in effect."""
    global installed
    if installed or os.environ.get(LINK_ONLY_VARIABLE, "1") == "0":
        return installed
    if not all(hasattr(cls, name) for cls, name in _NEEDED):
        return False
    optimize, finalize, set_env = (_library._optimize_final_module,
                                   _library._finalize_final_module, _jit.set_env)

    def optimize_final_module(self):
        if not _link_only(self):
            optimize(self)

    def finalize_final_module(self):
        if not _link_only(self):
            return finalize(self)
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True  # no machine code: the module is only linked into others

    def set_env_if_defined(self, env_name, env):
        if self._engine.get_global_value_address(env_name):  # 0: a link-only library's
            set_env(self, env_name, env)

    _library._optimize_final_module = optimize_final_module
    _library._finalize_final_module = finalize_final_module
    _jit.set_env = set_env_if_defined
    installed = True
    return True


def prefer_512_bit():
    """Let LLVM use 512-bit vectors on an AVX-512 CPU (module doc). Returns whether the
    process's kernels compile with them."""
    features = os.environ.get("NUMBA_CPU_FEATURES")
    if features is not None:
        return features.endswith(",-prefer-256-bit")
    if (os.environ.get(VECTOR_VARIABLE) == "256"
            or "_toplevel_target_context" in vars(registry.cpu_target)):  # too late
        return False
    host = codegen.get_host_cpu_features()
    if "+avx512f" not in host.split(","):
        return False
    features = host + ",-prefer-256-bit"
    os.environ["NUMBA_CPU_FEATURES"] = config.CPU_FEATURES = features
    return True
