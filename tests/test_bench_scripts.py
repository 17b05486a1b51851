"""The asv benchmarks and the benchmark tools (benchmarks/tools/) still run, on tiny sizes,
and what they report is what they measured: a broken benchmark should fail here, not in the
nightly asv run."""
import importlib
import inspect
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def load_tool(module):
    """benchmarks/tools/<module>, imported without leaving it, _peers or _common in sys.path
    and sys.modules: examples/ has a _common module of its own."""
    tools, names = os.path.join(ROOT, "benchmarks", "tools"), ("_common", "_peers", module)
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, tools)
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(tools)
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


_peers = load_tool("_peers")

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
                                 bench_kernels.WideKernels, bench_optim.OptimizerUpdate])
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


def test_wide_gflops_track_the_kernel_and_sgemm_of_one_shape(monkeypatch):
    """Each track_ returns flops(case) over the best time of the function it names: the
    kernel, or np.matmul of the same shape (_sgemm)."""
    timed = []

    def best_times(fns, case, **kwargs):
        timed.append((fns[0], case.batch, case.fan_in, case.fan_out))
        return [0.5]

    monkeypatch.setattr(common, "best_times", best_times)
    width = bench_kernels.WideGflops.params[0][0]
    assert bench_kernels.WideGflops.params == [[1024, 2048, 4096]]
    bench = bench_kernels.WideGflops()
    bench.setup(width)
    for kind, kernel in common.KERNELS.items():
        for name, fn in ((kind, kernel), (kind + "_sgemm", common.MATMUL[kind])):
            value = getattr(bench, "track_" + name)(width)
            assert value == 2 * common.WIDE_BATCH * width * width / 0.5 / 1e9
            assert timed.pop() == (fn, common.WIDE_BATCH, width, width)
    assert len(bench_methods(bench_kernels.WideGflops)) == 6


def test_wide_training_step_is_one_step_of_its_network(monkeypatch):
    """time_train_step trains the benchmark's network for exactly one SGD-momentum step on
    its batch (the network shrunk here from 784-2048-2048-10 to 784-32-32-10): the NumPy
    peer's one step from the same weights on the same batch lands on the same weights."""
    assert bench_training.WideTrainingStep.layers == (784, 2048, 2048, 10)
    monkeypatch.setattr(bench_training.WideTrainingStep, "layers", (784, 32, 32, 10))
    bench = bench_training.WideTrainingStep()
    bench.setup()
    assert [(d.W.shape[0] * d.W.shape[1]) for d in bench.net.layers] == [784 * 32, 32 * 32, 320]
    assert bench.X.shape == (bench.batch, 784) == (256, 784)  # one epoch is one batch
    recipe = _peers.Recipe(schedule_epochs=1)
    peer = _peers.NumpyMLP(_peers.initial_weights(bench.net), recipe)
    peer.step(bench.X, bench.y, np.arange(bench.batch), recipe.lr_at(0))
    before = bench.net.params.copy()
    bench.time_train_step()
    assert not np.array_equal(bench.net.params, before)
    for (W, b), (W_peer, b_peer) in zip(_peers.initial_weights(bench.net),
                                        zip(peer.params[::2], peer.params[1::2])):
        np.testing.assert_allclose(W, W_peer, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b, b_peer, rtol=1e-4, atol=1e-6)


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
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_compare_quick_mode_prints_the_table():
    proc = run_script("compare.py", "--epochs", "1", "--limit", "2000", "--skip-torch",
                      "--skip-jax", "--batches", "128", "--rounds", "1", "--kernel-rounds", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "implementation" in out and "s/epoch" in out
    for line in ("  128  fastnet", "  128  numpy-blas", "PyTorch skipped", "JAX skipped", "GFLOP/s",
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


# ---------------------------------------------------------------- peers and the grid
def small_batches():
    """A Recipe of 784-24-24-10 and 40 uint8 images with their labels."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (40, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 40).astype(np.int64)
    return _peers.Recipe(hidden=24, depth=2, batch_size=16, schedule_epochs=2), X, y


def test_jax_steps_equal_the_numpy_steps():
    """Two steps (so momentum counts) of the JAX MLP and of the NumPy MLP from the same
    weights on the same batches give the same weights, to float32 tolerance."""
    pytest.importorskip("jax")
    recipe, X, y = small_batches()
    weights = _peers.initial_weights(recipe.network())
    ours, theirs = _peers.NumpyMLP(weights, recipe), _peers.JaxMLP(weights, recipe, threads=1)
    for epoch, idx in enumerate((np.arange(16), np.arange(16, 40, 2))):
        ours.step(X, y, idx, recipe.lr_at(epoch))
        theirs.step(X, y, idx, recipe.lr_at(epoch))
    got = theirs.weights()
    assert len(got) == 3 and got[1][0].shape == (24, 24)
    for (W, b), (W_np, b_np), (W0, _) in zip(got, zip(ours.params[::2], ours.params[1::2]),
                                             weights):
        assert W.dtype == np.float32 and not np.array_equal(W, W0)
        np.testing.assert_allclose(W, W_np, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b, b_np, rtol=1e-4, atol=1e-6)


BUSY_THREADS = """import os, sys
sys.path.insert(0, sys.argv[2])
import _peers
cpus = os.sched_getaffinity(0)
jax = _peers.start_jax(int(sys.argv[1]))
def ticks():
    out = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[tid] = int(fields[11]) + int(fields[12])
    return out
product = jax.jit(lambda a: (a @ a).sum())
a = jax.numpy.ones((1024, 1024), jax.numpy.float32)
product(a).block_until_ready()
before = ticks()
while sum(ticks().values()) - sum(before.values()) < 100:
    product(a).block_until_ready()
spent = [t - before.get(tid, 0) for tid, t in ticks().items()]
print(sum(t >= 0.15 * sum(spent) for t in spent), os.sched_getaffinity(0) == cpus)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads Linux's /proc")
def test_jax_works_on_as_many_threads_as_asked():
    """With start_jax(1) one thread does all of JAX's work (with 2, two share it), and the
    process's CPU affinity is whole again afterwards."""
    pytest.importorskip("jax")
    if common.cores() < 2:
        pytest.skip("needs 2 cores")
    busy = {}
    for threads in (1, 2):
        proc = subprocess.run([sys.executable, "-c", BUSY_THREADS, str(threads),
                               os.path.join(ROOT, "benchmarks", "tools")],
                              capture_output=True, text=True, timeout=180, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        n_busy, restored = proc.stdout.split()
        busy[threads] = int(n_busy)
        assert restored == "True"
    assert busy[1] == 1 and busy[2] >= 2, busy


def test_a_missing_peer_is_skipped_with_a_note(monkeypatch):
    assert _peers.jax_skipped(True) == "JAX skipped (--skip-jax)."
    assert _peers.torch_skipped(True) == "PyTorch skipped (--skip-torch)."
    monkeypatch.setattr(_peers.importlib.util, "find_spec", lambda name: None)
    assert "JAX is not installed: skipped" in _peers.jax_skipped(False)
    assert "PyTorch is not installed: skipped" in _peers.torch_skipped(False)


def grid_rows(out):
    """The table rows of grid.py's output, split into fields."""
    return [line.split() for line in out.splitlines() if line.startswith("784-")]


def check_grid(proc, names):
    """grid.py on widths 16,32 x depths 1,2 x batch 8 x raw, --limit 256: one row per
    configuration with each implementation's seconds, the fastest peer, the ratio and, in
    one round, the same ratio as the worst round's."""
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in ("date:", "CPU:", "threads: 1 ", "versions: fastnet", "numba", "jax"):
        assert line in out, line
    header = next(line.split() for line in out.splitlines() if line.startswith("layers"))
    assert header[4:4 + len(names)] == names, header
    rows = grid_rows(out)
    assert sorted(r[0] for r in rows) == ["784-16-10", "784-16-16-10", "784-32-10",
                                          "784-32-32-10"], out
    for row in rows:
        assert row[1:4] == ["8", "raw", "256"], row
        seconds = dict(zip(names, map(float, row[4:4 + len(names)])))
        fastest, ratio = row[4 + len(names)], float(row[5 + len(names)])
        assert fastest == min(names[1:], key=seconds.get), row
        want = seconds["fastnet"] / seconds[fastest]
        assert abs(ratio - want) <= 0.005 + want * 1e-5 * (1 / seconds["fastnet"]
                                                           + 1 / seconds[fastest]), row
        assert row[6 + len(names)] == row[5 + len(names)], row  # one round: its own ratio
        assert (row[-1] == "SLOWER") == (ratio > 1.0) or abs(ratio - 1.0) <= 0.005, row
    slower = sum(row[-1] == "SLOWER" for row in rows)
    assert f"SLOWER: {slower} of 4 configuration(s); fastnet slower in at least one round: " \
           f"{slower})" in out
    return out


GRID = ("grid.py", "--widths", "16,32", "--depths", "1,2", "--batches", "8", "--inputs", "raw",
        "--limit", "256", "--min-gflop", "0", "--round-gflop", "0", "--rounds", "1",
        "--threads", "1")


def test_grid_without_the_optional_peers():
    out = check_grid(run_script(*GRID, "--skip-torch", "--skip-jax"), ["fastnet", "numpy-blas"])
    assert "PyTorch skipped (--skip-torch)." in out and "JAX skipped (--skip-jax)." in out


def test_grid_with_pytorch_and_jax():
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    out = check_grid(run_script(*GRID), ["fastnet", "numpy-blas", "pytorch", "jax"])
    assert "skipped" not in out


def test_grid_samples_and_worst_round():
    """An epoch's images: --limit, raised by --min-gflop up to --max-samples, at most --steps
    batches; the worst round is the largest per-round ratio to that round's fastest peer."""
    grid = load_tool("grid")
    args = grid.parse_args([])
    mnist, wide = grid.layer_sizes(256, 1), grid.layer_sizes(1024, 1)
    assert mnist == (784, 256, 10)
    assert grid.samples(mnist, 512, args) == 13 * 512   # 8 GFLOP / 1.22 MFLOP, whole batches
    assert grid.samples(mnist, 1, args) == 256          # --steps batches
    assert grid.samples(wide, 512, args) == 2048        # 4.9 MFLOP a sample: the limit
    assert grid.samples(grid.layer_sizes(256, 2), 128, args) == 39 * 128
    assert grid.samples(mnist, 512, grid.parse_args(["--max-samples", "4096"])) == 4096
    assert grid.samples(mnist, 512, grid.parse_args(["--min-gflop", "0"])) == 2048
    assert grid.epochs(grid.layer_sizes(1024, 2), 128, 2048, args) == 3  # 60 / 23 GFLOP
    assert grid.epochs(mnist, 512, 6656, args) == 5      # capped at --max-epochs
    assert grid.epochs(grid.layer_sizes(4096, 2), 512, 2048, args) == 1
    assert grid.epochs(wide, 8, 2048, args) == 1         # below batch 32: --epochs
    assert grid.epochs(wide, 128, 2048, grid.parse_args(["--round-gflop", "0",
                                                         "--epochs", "2"])) == 2
    rounds = [{"fastnet": [1.0], "a": [2.0], "b": [4.0]},
              {"fastnet": [3.0, 3.0, 1.0], "a": [2.0], "b": [2.5]}]
    assert grid.worst_round(rounds, ["a", "b"]) == 1.5


def test_grid_rejects_an_unknown_input():
    proc = run_script("grid.py", "--inputs", "raw,scaled")
    assert proc.returncode == 2 and "--inputs" in proc.stderr and "scaled" in proc.stderr


def test_the_pause_between_turns_lasts_while_a_thread_spins():
    """``_common.pause`` returns once the process uses no CPU (QUIET_SLICES quiet slices),
    and not while a thread of it is busy, up to PAUSE."""
    common = load_tool("_common")
    assert common.pause() < common.PAUSE   # nothing spins
    stop = time.perf_counter() + 0.1

    def spin():
        while time.perf_counter() < stop:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    assert common.pause() >= 0.09
    worker.join()
