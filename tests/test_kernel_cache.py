"""Numba's cache is checked against each kernel's own file only; ``drop_stale_caches``
flushes it when any kernel source (an inlined helper's file, the flags) changed."""
import os
import subprocess
import sys
import textwrap

from fastnet import config

KERNEL = textwrap.dedent("""
    from numba import njit
    from helper import STEP

    @njit(cache=True)
    def f(x):
        return x + STEP
""")

# Compile (or load) f in a new process; print its result and whether it came from the cache.
RUN = "import tiny; print(tiny.f(1), bool(tiny.f.stats.cache_hits))"


def run(folder):
    out = subprocess.run([sys.executable, "-c", RUN], cwd=folder, capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0]), out[1] == "True"


def flush(folder):
    sys.path.insert(0, str(folder))
    try:
        sys.modules.pop("tiny", None)
        sys.modules.pop("helper", None)
        import tiny
        return config.drop_stale_caches([tiny.f], [folder / "tiny.py", folder / "helper.py"])
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("tiny", None)
        sys.modules.pop("helper", None)


def test_cache_flushed_when_an_inlined_source_changes(tmp_path):
    (tmp_path / "tiny.py").write_text(KERNEL)
    (tmp_path / "helper.py").write_text("STEP = 1\n")
    assert run(tmp_path) == (2, False)           # compiled and cached
    assert run(tmp_path) == (2, True)            # loaded from the cache
    assert flush(tmp_path)                       # a cache with no digest yet: flushed once
    assert not flush(tmp_path)                   # digest recorded, nothing changed
    assert run(tmp_path) == (2, False)
    assert run(tmp_path) == (2, True)
    (tmp_path / "helper.py").write_text("STEP = 10\n")
    assert run(tmp_path) == (2, True)            # Numba alone: the stale machine code
    assert flush(tmp_path)
    assert run(tmp_path) == (11, False)          # recompiled with the new constant
    assert not flush(tmp_path)


def test_no_cache_folder_yet(tmp_path):
    (tmp_path / "tiny.py").write_text(KERNEL)
    (tmp_path / "helper.py").write_text("STEP = 1\n")
    assert not flush(tmp_path)                   # a fresh checkout: nothing to flush
    assert run(tmp_path) == (2, False)
    assert run(tmp_path) == (2, True)


def test_only_files_other_kernels_import_from_are_in_the_digest(tmp_path):
    """A kernel file nothing else imports from (dense.py) is left to Numba's own check, so
    an edit to it does not flush every kernel's cache."""
    from fastnet import kernels
    (tmp_path / "a.py").write_text("from .b import helper\nfrom ..config import kernel\n")
    (tmp_path / "b.py").write_text("from ..config import helper\n")
    (tmp_path / "c.py").write_text("from . import a\n")
    assert kernels._shared_sources(str(tmp_path)) == [str(tmp_path / "b.py")]
    here = os.path.dirname(kernels.__file__)
    shared = {os.path.basename(p) for p in kernels._shared_sources(here)}
    assert {"activations.py", "optim.py"} <= shared and "dense.py" not in shared
