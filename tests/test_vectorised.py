"""The dense kernels' hot loops are SIMD code: the 4 × 4 register tiles compile to at
least sixteen packed (ymm/zmm) multiply-adds each. Checked in the assembly LLVM
generates (scripts/inspect_kernels.py), not by timing."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    code = ("import json, sys; sys.path.insert(0, 'scripts'); import inspect_kernels as k; "
            "print(json.dumps(k.inspect()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    counts = json.loads(out.strip().splitlines()[-1])
    assert set(counts) == {"dense_forward", "dense_backward_params", "hidden_delta"}
    for name, c in counts.items():
        assert c["zmm"] + c["ymm"] >= 16, f"{name}: hot loop not vectorised: {c}"
