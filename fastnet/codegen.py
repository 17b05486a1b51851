"""Optimise and generate each parallel loop's machine code once, in the kernel that runs it.

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

It relies on Numba internals (``CPUCodeLibrary``, ``JITCPUCodegen.set_env``) that have
been stable since 0.54; if they are missing ``install()`` changes nothing. Set
``FASTNET_LINK_ONLY=0`` to compile the way Numba does by default.
"""
import os

from numba.core import codegen

# Names Numba gives the inner libraries of a parallel loop (numba/parfors, np/ufunc).
LINK_ONLY = ("__numba_parfor_gufunc", "<numba.np.ufunc.wrappers._GufuncWrapper",
             "parallelgufuncwrapper")
VARIABLE = "FASTNET_LINK_ONLY"

_library = codegen.CPUCodeLibrary
_jit = codegen.JITCPUCodegen
_NEEDED = ((_library, "_optimize_final_module"), (_library, "_finalize_final_module"),
           (_library, "_finalize_dynamic_globals"), (_library, "_verify_declare_only_symbols"),
           (_jit, "set_env"))
installed = False


def _link_only(library):
    return library.name.startswith(LINK_ONLY)


def install():
    """Make the inner libraries of parallel loops link-only (module doc). Idempotent;
    returns whether it is in effect."""
    global installed
    if installed or os.environ.get(VARIABLE, "1") == "0":
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
