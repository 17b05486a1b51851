"""The 'learn what it computes' examples run on small sizes, print their numbers and
write their PNG (skipped without matplotlib)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = {
    "computation_graph.py": ([], ["c = a + b = 3, d = b + 1 = 2, e = c·d = 6",
                                  "-> ∂e/∂a = 2", "-> ∂e/∂b = 5", "b̄ = c̄ + d̄ = 5"]),
    "activations.py": (["--points", "101"], ["tanh u = 2σ(2u) - 1: max difference"]),
    "zero_one_loss.py": (["--points", "101"], ["0-1 loss:", "cross-entropy: smooth"]),
    "vanishing_gradients_training.py": (["--small"], ["accuracy", "sigmoid", "relu"]),
}


def run_example(name, *args):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_prints_what_it_shows_and_writes_png(tmp_path, name):
    pytest.importorskip("matplotlib")
    args, expected = EXAMPLES[name]
    out = tmp_path / (name[:-3] + ".png")
    proc = run_example(name, "--out", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    for text in expected + ["What the figure shows"]:
        assert text in proc.stdout, text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_computation_graph_numbers():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import computation_graph as cg
    finally:
        sys.path.pop(0)
    assert cg.graph(2, 1) == (3, 2, 6)
    assert cg.forward_mode(2, 1, 1, 0)[2] == 2 and cg.forward_mode(2, 1, 0, 1)[2] == 5
    rev = cg.reverse_mode(2, 1)
    assert (rev["a"], rev["b"], rev["c"], rev["d"]) == (2, 5, 2, 3)
    a, b = cg.Var(2.0), cg.Var(1.0)
    e = (a + b) * (b + 1)
    e.backward()
    assert (e.value, a.grad, b.grad) == (6, 2, 5)
