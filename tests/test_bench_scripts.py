"""The asv benchmarks and the benchmark tools (benchmarks/tools/) still run, on tiny sizes,
and what they report is what they measured: a broken benchmark should fail here, not in the
nightly asv run."""
import inspect
import os
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import (bench_coldstart, bench_kernels, bench_optim,  # noqa: E402
                        bench_training, common)
from fastnet.kernels import reference as ref  # noqa: E402

BENCH_PREFIXES = ("time_", "peakmem_", "track_", "mem_")


def bench_methods(cls):
    return [getattr(cls, m) for m in dir(cls) if m.startswith(BENCH_PREFIXES)]


def smallest(cls):
    """The first value of each of a parameterised benchmark class's params."""
    return [values[0] for values in getattr(cls, "params", [])]


@pytest.mark.parametrize("cls", [bench_kernels.DenseKernels, bench_kernels.FirstLayerKernels,
                                 bench_optim.OptimizerUpdate])
def test_kernel_benchmarks_run_at_their_smallest_params(cls):
    args = smallest(cls)
    bench = cls()
    bench.setup(*args)
    methods = bench_methods(cls)
    assert methods
    for method in methods:
        method(bench, *args)


@pytest.mark.parametrize("name", common.OPTIMIZERS)
def test_every_optimizer_case_steps_by_its_rule(name):
    """The benchmarked update is the named rule: it moves p as the NumPy reference does."""
    case = common.optimizer_case(name, n=64)
    p, g, s1, s2 = (a.astype(np.float64) for a in (case.p, case.g, case.s1, case.s2))
    want, *_ = ref.optimizer_update_ref(case.kind, p, g, s1, s2, case.h)
    common.optimizer_step(case)
    np.testing.assert_allclose(case.p, want, rtol=1e-5, atol=1e-7)
    assert not np.array_equal(case.p, p.astype(case.p.dtype)), "the step moved nothing"


def test_kernels_match_their_matmul():
    """The MATMUL each kernel is compared with computes the same product."""
    c = common.dense_case(4, 7, 5)
    common.forward(c)
    assert np.allclose(c.u, c.x @ c.w.T + c.bias, atol=1e-4)
    common.weight_grad(c)
    assert np.allclose(c.dw, c.delta.T @ c.x, atol=1e-4)
    common.hidden_delta(c)
    assert np.allclose(c.dz_prev, c.delta @ c.w, atol=1e-4)
    assert common.flops(c) == 2 * 4 * 7 * 5
    for images in (False, True):  # the first layer's layout, on random x and on images
        c = common.dense_case(4, 784, 5, first=True, images=images)
        assert ((c.x == 0).mean() > 0.5) == images
        common.forward(c)
        assert np.allclose(c.u, c.x @ c.w.T + c.bias, atol=1e-4)
        np.testing.assert_array_equal(common.MATMUL["forward"](c), c.x @ c.w.T)
        common.weight_grad(c)
        assert np.allclose(c.dw.T, c.delta.T @ c.x, atol=1e-4)
        common.MATMUL["weight_grad"](c)
        np.testing.assert_allclose(c.dw.T, c.delta.T @ c.x, rtol=1e-6)


def test_training_benchmarks_have_their_api(monkeypatch):
    """The MNIST benchmarks' setup and methods, on 300 images instead of 60 000; the
    tracked accuracy is the test accuracy of the same one-epoch fit, computed here."""
    X, y, X_test, y_test = bench_training._mnist()
    X, y, X_test, y_test = X[:300], y[:300], X_test[:200], y_test[:200]
    monkeypatch.setattr(bench_training, "_mnist", lambda: (X, y, X_test, y_test))
    tracked = {}
    for cls in (bench_training.MnistEpoch, bench_training.MnistAccuracy, bench_training.Threads):
        bench = cls()
        if hasattr(bench, "setup"):
            bench.setup()
        for method in bench_methods(cls):
            value = method(bench)
            if method.__name__.startswith("track_"):
                tracked[method.__name__] = value
    net = common.mnist_network()
    net.fit(X, y, epochs=1, batch_size=128, optimizer=common.sgd_recipe(1), verbose=False)
    accuracy = 100 * np.mean(net.predict(X_test) == y_test)
    assert tracked == {"track_test_accuracy_1_epoch": round(accuracy, 2),
                       "track_numba_threads": common.threads()}


def test_coldstart_times_a_fresh_process(monkeypatch):
    """The cold-start program runs (a failing child raises; the cached case, uncached
    compiles for ~10 s), and run_first_step returns the wall time of the child process:
    at least a sleeping child's sleep, at most the time measured around the call."""
    t0 = time.perf_counter()
    seconds = bench_coldstart.run_first_step()
    assert seconds <= time.perf_counter() - t0
    monkeypatch.setattr(bench_coldstart, "FIRST_STEP", "import time; time.sleep(0.3)")
    t0 = time.perf_counter()
    seconds = bench_coldstart.run_first_step()
    assert 0.3 <= seconds <= time.perf_counter() - t0
    monkeypatch.setattr(bench_coldstart, "FIRST_STEP", "raise SystemExit(3)")
    with pytest.raises(subprocess.CalledProcessError):
        bench_coldstart.run_first_step()
    assert all(m.__name__.startswith("track_") for m in bench_methods(bench_coldstart.ColdStart))


def test_every_benchmark_class_is_collected():
    """Each bench_* module defines at least one class with benchmark methods."""
    for module in (bench_coldstart, bench_kernels, bench_optim, bench_training):
        classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
                   if c.__module__ == module.__name__ and bench_methods(c)]
        assert classes, module.__name__


def run_script(name, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "tools", name), *args],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)


def test_compare_quick_mode_prints_the_table():
    proc = run_script("compare.py", "--epochs", "1", "--limit", "2000", "--skip-torch",
                      "--batches", "128")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "implementation" in out and "s/epoch" in out
    for line in ("  128  fastnet", "  128  numpy-blas", "PyTorch skipped", "GFLOP/s",
                 "weight_grad", "threads: Numba", "CPU:", "peak RSS:", "date:"):
        assert line in out, line
    rss = out.split("peak RSS: ")[1]
    if sys.platform.startswith("linux"):  # a real number from the `fastnet train` child
        assert 0 < float(rss.split(" MB for `fastnet train")[0]) < 2000, rss
    # one row per implementation: median within its (min-max), and the ratio column is
    # fastnet's median over this one's (up to the rounding of the printed numbers)
    rows = [line.split() for line in out.splitlines() if line.startswith("  128  ")]
    assert [r[1] for r in rows] == ["fastnet", "numpy-blas"], out
    for row in rows:
        low, high = map(float, row[3].strip("()").split("-"))
        assert low <= float(row[2]) <= high, row
    ours, theirs, ratio = float(rows[0][2]), float(rows[1][2]), float(rows[1][5])
    rounding = 0.005 + 0.0005 * (1 + ratio) / theirs
    assert abs(ratio - ours / theirs) <= rounding, rows


def test_time_to_98_quick_mode():
    proc = run_script("time_to_98.py", "--limit", "1000", "--cosine-epochs", "1",
                      "--skip-torch", "--rounds", "2")
    assert proc.returncode == 0, proc.stderr
    assert "round 2:" in proc.stdout
    assert "did NOT reach the goal in 1 epochs" in proc.stdout
    assert "fastnet  did NOT reach the goal in every round" in proc.stdout


def test_time_to_98_reports_the_median_of_the_rounds():
    proc = run_script("time_to_98.py", "--limit", "1000", "--cosine-epochs", "1",
                      "--skip-torch", "--rounds", "3", "--goal", "50")
    assert proc.returncode == 0, proc.stderr
    rounds = [float(line.split()[1]) for line in proc.stdout.splitlines()
              if line.startswith("  fastnet ") and "to " in line and "at epoch 1" in line]
    assert len(rounds) == 3, proc.stdout
    summary = proc.stdout.split("median of 3 round(s):")[1].split()
    # (rounding to 0.01 s is monotonic: the median of the printed times is the printed median)
    assert summary[0] == "fastnet" and float(summary[1]) == sorted(rounds)[1], proc.stdout


def test_tools_reject_a_bad_thread_count():
    proc = run_script("compare.py", "--threads", "0")
    assert proc.returncode == 2 and "--threads" in proc.stderr
