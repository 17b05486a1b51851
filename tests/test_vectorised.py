"""The dense kernels' hot loops are SIMD code: the 4 × 4 register tiles compile to at
least sixteen packed (ymm/zmm) multiply-adds each. Checked in the assembly LLVM
generates (benchmarks/tools/inspect_kernels.py), not by timing. And the arrays those loops
stream through start on a cache line (``fastnet.config.ALIGN``)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnet as fn
from fastnet import config, passes

ROOT = Path(__file__).resolve().parents[1]


def _cpu_flags():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif("avx2" not in _cpu_flags() or "fma" not in _cpu_flags(),
                    reason="needs an x86-64 CPU with AVX2 and FMA (reads /proc/cpuinfo)")
def test_dense_kernels_compile_to_packed_fma():
    # one process per kernel, all at once (each compiles its kernel afresh)
    code = ("import json, sys; sys.path.insert(0, 'benchmarks/tools'); "
            "import inspect_kernels as k; name, kernel, args = k.cases()[{}]; kernel(*args); "
            "print(json.dumps({{name: k.count_fma(kernel.inspect_asm(kernel.signatures[0]))}}))")
    procs = [subprocess.Popen([sys.executable, "-c", code.format(i)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE) for i in range(3)]
    counts = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        counts.update(json.loads(out.strip().splitlines()[-1]))
    assert set(counts) == {"dense_forward", "dense_backward_params", "hidden_delta"}
    for name, c in counts.items():
        assert c["zmm"] + c["ymm"] >= 16, f"{name}: hot loop not vectorised: {c}"
        if "avx512f" in _cpu_flags() and "NUMBA_CPU_FEATURES" not in os.environ:
            assert c["zmm"] >= 16, f"{name}: 512-bit vectors off (codegen.prefer_512_bit): {c}"


def _features_after_import(**env):
    code = "import os, fastnet; print(os.environ.get('NUMBA_CPU_FEATURES', 'unset'))"
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES",
                                                             "FASTNET_VECTOR_BITS")} | env
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_512_bit_vectors_on_avx512_unless_asked_not_to():
    features = _features_after_import()
    if "avx512f" in _cpu_flags():
        assert features.endswith(",-prefer-256-bit") and "+avx512f" in features
    else:
        assert features == "unset"
    assert _features_after_import(FASTNET_VECTOR_BITS="256") == "unset"
    assert _features_after_import(NUMBA_CPU_FEATURES="+sse2") == "+sse2"


@pytest.mark.parametrize("shape,dtype", [((3, 5), np.float32), (7, np.float64), ((0, 4), np.float32),
                                         ((2, 3, 4), np.int32), ((1024, 512), np.float32),
                                         ((3, 1 << 18), np.float64)])
def test_aligned_allocation(shape, dtype):
    for make in (config.empty, config.zeros):
        a = make(shape, dtype)
        assert a.shape == np.empty(shape).shape and a.dtype == dtype
        assert a.flags.c_contiguous and a.flags.writeable
        assert a.size == 0 or a.ctypes.data % config.ALIGN == 0
    assert not config.zeros(shape, dtype).any()
    a = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    b = config.aligned_copy(a.T)
    assert np.array_equal(b, a.T) and b.flags.c_contiguous
    assert b.size == 0 or b.ctypes.data % config.ALIGN == 0


def test_large_arrays_start_on_a_huge_page_and_are_freed_with_them():
    """From HUGE_PAGE bytes on, an array has anonymous memory of its own starting on a huge
    page (Linux backs it with transparent huge pages where they are on); dropping the last
    view unmaps it."""
    import gc
    import weakref
    a = config.zeros((3, config.HUGE_PAGE // 8 + 5), np.float32)   # 1.5 huge pages
    assert a.ctypes.data % config.HUGE_PAGE == 0 and not a.any()
    a[...] = 1
    assert a.sum() == a.size
    memory = a
    while isinstance(memory, np.ndarray):
        memory = memory.base
    gone = weakref.ref(memory)
    del a, memory
    gc.collect()
    assert gone() is None


def test_a_large_array_the_system_cannot_map_is_a_memory_error(monkeypatch):
    """As np.empty's: the callers' handling of MemoryError (the CLI's 'out of memory')."""
    def refuse(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")
    monkeypatch.setattr(config.mmap, "mmap", refuse)
    with pytest.raises(MemoryError, match="Unable to allocate 4.0 GiB"):
        config.empty((1 << 30,), np.float32)


def test_network_arrays_are_aligned():
    net = fn.Network([fn.Dense(784, 32, "relu"), fn.Dense(32, 10)], seed=0)
    opt = fn.SGD(lr=0.01, momentum=0.9)
    net.fit(np.zeros((8, 784), np.uint8), np.arange(8) % 10, epochs=1, batch_size=4,
            optimizer=opt, verbose=False)
    ws = passes.workspace(net, 4)
    arrays = [net.params, net.grads, *opt.state.values(), ws.x, ws.t, ws.losses, *ws.u, *ws.z,
              *ws.delta, *ws.dz, ws.partial]
    assert all(a.ctypes.data % config.ALIGN == 0 for a in arrays)
