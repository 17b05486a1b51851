"""The examples (examples/) run end to end and write their PNG (skipped without matplotlib).

They run on small sizes (few epochs / points) so that each takes seconds; the first
script to run may also compile fastnet's kernels, hence the generous timeout."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOWS = "What the figure shows"
SCRIPTS = {  # name: (small-size arguments, what it must print)
    "regression.py": (["--epochs", "60"], ["RMSE to the noise-free function"]),
    "binary.py": (["--epochs", "20", "--n", "200"], ["accuracy on 1000 fresh points"]),
    "vanishing_gradient.py": (["--width", "16"], ["What the plot shows"]),
    # the 'learn what it computes' examples (see also test_examples_learn.py)
    "computation_graph.py": ([], ["c = a + b = 3, d = b + 1 = 2, e = c·d = 6",
                                  "-> ∂e/∂a = 2", "-> ∂e/∂b = 5", "b̄ = c̄ + d̄ = 5", SHOWS]),
    "activations.py": (["--points", "101"], ["tanh u = 2σ(2u) - 1: max difference", SHOWS]),
    "zero_one_loss.py": (["--points", "101"], ["0-1 loss:", "cross-entropy: smooth", SHOWS]),
    "vanishing_gradients_training.py": (["--small"], ["accuracy", "sigmoid", "relu", SHOWS]),
}
TRAIN = ("regression.py", "binary.py")  # print "training loss first -> last"


def run_script(name, *args, code=None):
    cmd = [sys.executable, "-c", code, os.path.join(ROOT, "examples", name)] if code else \
        [sys.executable, os.path.join(ROOT, "examples", name)]
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300, env=env,
                          cwd=ROOT)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_prints_what_it_shows_and_writes_png(tmp_path, name):
    pytest.importorskip("matplotlib")
    args, expected = SCRIPTS[name]
    out = tmp_path / (name[:-3] + ".png")
    proc = run_script(name, "--out", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    for text in expected:
        assert text in proc.stdout, text
    if name in TRAIN:  # even the short run lowers the training loss
        first, last = re.search(r"training loss ([0-9.]+) -> ([0-9.]+)", proc.stdout).groups()
        assert float(last) < float(first)
    assert out.exists() and out.stat().st_size > 10_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_script_without_matplotlib_says_what_to_install(tmp_path):
    hide = ("import sys, runpy; sys.modules['matplotlib'] = None; "
            "p = sys.argv.pop(1); sys.argv[0] = p; sys.path.insert(0, p.rsplit('/', 1)[0]); "
            "runpy.run_path(p, run_name='__main__')")
    proc = run_script("binary.py", "--out", str(tmp_path / "x.png"), "--epochs", "1", code=hide)
    assert proc.returncode == 1, proc.stderr  # sys.exit with the message
    assert "needs matplotlib" in proc.stderr and "pip install" in proc.stderr
    assert not (tmp_path / "x.png").exists()
