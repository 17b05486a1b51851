"""Kernels compile before a run starts (``fastnet.compiler``), in worker processes when
several are missing from Numba's cache, and the plan of a run's calls
(``passes.planned_calls``) covers every kernel call training makes."""
import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import KernelCount
import fastnet as fn
from fastnet import compiler, config, inputs, passes, precompile
from fastnet.cli import build_parser
from fastnet.scaling import Scaler

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import compile_times  # noqa: E402

KERNELS = textwrap.dedent("""
    from numba import njit

    @njit(cache=True)
    def f(x):
        return x + 1

    @njit(cache=True)
    def g(x):
        return x * 2
""")

# Warm f and g in a new process (with another thread running when asked: the worker is
# then a new interpreter, not a fork); print the compile seconds and, per kernel, whether
# this process compiled it (a cache miss) rather than loading it.
RUN = textwrap.dedent("""
    import sys, threading
    import tiny
    from fastnet import compiler
    if sys.argv[1:] == ["thread"]:
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    compiler.SPAWN_COST = compiler.FORK_COST = 0   # else two tiny kernels are not worth a worker
    assert compiler._can_fork() == (sys.argv[1:] != ["thread"])
    calls = [(tiny.f, (1,)), (tiny.g, (1.0,))]
    seconds = compiler.warm(calls, verbose=True, workers=2)
    print(seconds > 0, sum(tiny.f.stats.cache_misses.values()),
          sum(tiny.g.stats.cache_misses.values()),
          len(compiler.missing([(k, compiler.signature(k, a)) for k, a in calls])),
          tiny.f(1), tiny.g(1.0))
""")


def run(folder, *args):
    proc = subprocess.run([sys.executable, "-c", RUN, *args], cwd=folder,
                          capture_output=True, text=True, check=True, timeout=300)
    return proc.stdout.split(), proc.stderr


@pytest.mark.parametrize("worker", ["fork", "thread"])
def test_missing_kernels_compile_in_workers_load_from_the_cache_and_say_so(tmp_path, worker):
    (tmp_path / "tiny.py").write_text(KERNELS)
    # two missing: one compiled here, the other in a worker process and loaded here
    out, err = run(tmp_path, worker)
    assert out[0] == "True" and sorted(out[1:3]) == ["0", "1"] and out[3:] == ["0", "2", "2.0"]
    assert err.startswith("fastnet: " + compiler.COMPILING + " done in ") and err.endswith(" s\n")
    # all cached: nothing to compile, 0 seconds, nothing said
    assert run(tmp_path, worker) == (["False", "0", "0", "0", "2", "2.0"], "")


def signatures(calls):
    return {(k.py_func.__name__, compiler.signature(k, args)) for k, args in calls}


def test_a_planned_run_compiles_nothing_while_training():
    net = fn.Network([fn.Dense(6, 5, activation="prelu"), fn.Dense(5, 4, activation="tanh"),
                      fn.Dense(4, 3)], seed=0)
    X = np.random.default_rng(0).integers(0, 256, (40, 6), dtype=np.uint8)
    y = np.arange(40) % 3
    opt = fn.Adam(0.01)
    Xc, scale = inputs.as_input(net, X)
    T = inputs.encode_targets(net, y, Xc.shape[0])
    assert compiler.warm(passes.planned_calls(net, Xc, scale, T, opt.kind, Xc)) >= 0
    before = {k: len(k.overloads) for k in config.KERNELS}
    history = net.fit(X, y, epochs=1, batch_size=16, optimizer=opt, validation_split=0.25,
                      verbose=False)
    net.evaluate(X, y)
    assert {k: len(k.overloads) for k in config.KERNELS} == before
    assert history.compile_seconds == 0.0  # all compiled by the warm above


def test_a_planned_run_with_dropout_weights_and_clipping_compiles_nothing_while_training():
    net = fn.Network([fn.Dense(6, 5, activation="prelu", dropout=0.3),
                      fn.Dense(5, 4, activation="tanh", dropout=0.2), fn.Dense(4, 3)], seed=0)
    X = np.random.default_rng(0).integers(0, 256, (40, 6), dtype=np.uint8)
    y = np.arange(40) % 3
    opt = fn.Adam(0.01, clipnorm=1.0)
    Xc, scale = inputs.as_input(net, X)
    T = inputs.encode_targets(net, y, Xc.shape[0])
    assert compiler.warm(passes.planned_calls(net, Xc, scale, T, opt.kind, Xc, weighted=True,
                                              clips=True)) >= 0
    before = {k: len(k.overloads) for k in config.KERNELS}
    history = net.fit(X, y, epochs=1, batch_size=16, optimizer=opt, validation_split=0.25,
                      class_weight="balanced", verbose=False)
    net.evaluate(X, y)
    assert {k: len(k.overloads) for k in config.KERNELS} == before
    assert history.compile_seconds == 0.0  # all compiled by the warm above


def test_a_run_with_a_scaler_compiles_nothing_after_its_warm_up():
    """fit plans the validation gather for what it gathers (the checked inputs, scaled per
    feature), for a split-off validation set and for validation_data of another dtype."""
    rng = np.random.default_rng(0)
    X = rng.normal(50, 20, (60, 6))
    y = np.arange(60) % 3
    for X_train, fit_args in [
            (X.astype(np.int16), {"validation_split": 0.25}),
            (X, {"validation_split": 0.25}),
            (X.astype(np.uint8), {"validation_data": (X[:9].astype(np.float16), y[:9])})]:
        net = fn.Network([fn.Dense(6, 5, activation="tanh"), fn.Dense(5, 3)], seed=0)
        net.scaler = Scaler("standard").fit(X_train)
        count = KernelCount()
        net.fit(X_train, y, epochs=2, batch_size=16, optimizer=fn.Adam(0.01), verbose=False,
                callbacks=[count], **fit_args)
        assert count.end == count.begin, X_train.dtype


def test_a_wide_layer_plans_the_weight_gradient_packed():
    """A wide layer's weight gradient runs the register-blocked form; a last batch of
    fewer than 16 samples runs the row form; fit plans both, so nothing compiles after
    its warm-up. (The two give the same bits: test_kernels.py.)"""
    net = fn.Network([fn.Dense(20, 1800, activation="relu"), fn.Dense(1800, 150, activation="relu"),
                      fn.Dense(150, 3)], seed=0)
    kernels = [passes.gradient_kernel(net, 1, B).py_func.__name__ for B in (300, 5)]
    assert kernels == ["dense_backward_params_packed", "dense_backward_params"]
    # the first layer (sparse inputs: the dWᵀ layout, 1800 units) lists at any batch
    assert {passes.gradient_kernel(net, 0, B) for B in (300, 5)} == {
        passes.dense_backward_params_listed}
    X = np.random.default_rng(0).normal(size=(305, 20)).astype(np.float32)
    y = np.arange(305) % 3
    count = KernelCount()
    history = net.fit(X, y, epochs=1, batch_size=300, optimizer=fn.SGD(0.01, momentum=0.9),
                      verbose=False, callbacks=[count])
    assert count.end == count.begin
    assert np.isfinite(history["loss"][-1])


def test_typical_calls_cover_dropout_weights_and_clipping():
    net = fn.Network([fn.Dense(784, 32, activation="relu", dropout=0.5), fn.Dense(32, 10)],
                     seed=0)
    X = np.zeros((8, 784), np.uint8)
    Xc, scale = inputs.as_input(net, X)
    T = inputs.encode_targets(net, np.arange(8) % 10, 8)
    planned = signatures(passes.planned_calls(net, Xc, scale, T, fn.Adam(0.001).kind,
                                              weighted=True, clips=True))
    names = {name for name, _ in planned}
    assert {"dropout_mask", "apply_mask", "weigh_rows", "clip_norm", "clip_value"} <= names
    assert planned <= signatures(precompile.typical_calls())


def test_the_compile_groups_of_an_mnist_run_share_helpers_and_count_a_workers_start():
    from fastnet.kernels import dense
    net = fn.Network([fn.Dense(784, 32, activation="relu"), fn.Dense(32, 10)], seed=0)
    Xc, scale = inputs.as_input(net, np.zeros((8, 784), np.uint8))
    T = inputs.encode_targets(net, np.arange(8) % 10, 8)
    calls = passes.planned_calls(net, Xc, scale, T, fn.SGD(0.1, momentum=0.9).kind, Xc)
    pairs = list(dict.fromkeys((k, compiler.signature(k, a)) for k, a in calls))
    # the row form, one signature for xᵀ and δ, is a helper of both
    for kernel in (dense.dense_backward_params, dense.hidden_delta):
        assert dense._ab_rows in compiler._calls(kernel)
    groups = compiler.partition(pairs, 2)
    names = [{k.py_func.__name__ for k, _ in g} for g in groups]
    assert {"dense_backward_params", "hidden_delta"} <= names[0] or \
        {"dense_backward_params", "hidden_delta"} <= names[1]   # they share _ab_rows
    assert sorted(map(len, groups)) != [0, len(pairs)]
    loads = [sum(compiler._expected_cost(p) for p in g) for g in groups]
    assert max(loads) < 0.75 * sum(loads)
    # a worker whose start costs more than all the kernels gets none of them
    assert compiler.partition(pairs, 2, startup=10 ** 6) == [sorted(
        pairs, key=compiler._expected_cost, reverse=True), []]


def test_a_process_done_with_its_group_takes_the_rest_of_the_others():
    """The forked workers' queues: each pair is handed out once, whichever process asks;
    a process whose partner never starts (or is slow) compiles the partner's pairs too."""
    kernels = [_Recording() for _ in range(5)]
    groups = [[(kernels[0], ()), (kernels[1], ())], [(k, ()) for k in kernels[2:]]]
    queues = compiler._queues(groups)
    try:
        assert os.read(queues[1], 4) == (0).to_bytes(4, "little")   # the partner took one
        compiler._serve(groups, queues, 0)
    finally:
        for queue in queues:
            os.close(queue)
    assert [len(k.seen) for k in kernels] == [1, 1, 0, 1, 1]
    # the largest group a queue takes is written whole before anyone reads
    (queue,) = compiler._queues([[None] * compiler.MAX_QUEUED])
    try:
        numbers = b"".join(iter(lambda: os.read(queue, 4096), b""))
    finally:
        os.close(queue)
    assert numbers == b"".join(i.to_bytes(4, "little") for i in range(compiler.MAX_QUEUED))


def test_typical_calls_cover_an_mnist_run():
    net = fn.Network([fn.Dense(784, 32, activation="relu"), fn.Dense(32, 10)], seed=0)
    X = np.zeros((8, 784), np.uint8)
    Xc, scale = inputs.as_input(net, X)
    T = inputs.encode_targets(net, np.arange(8) % 10, 8)
    for kind in (fn.SGD(0.1, momentum=0.9).kind, fn.AdamW(0.001).kind):
        planned = signatures(passes.planned_calls(net, Xc, scale, T, kind))
        assert planned <= signatures(precompile.typical_calls())


def test_typical_calls_cover_a_float64_npy_file_loaded_as_a_memory_map(tmp_path):
    net = fn.Network([fn.Dense(4, 8, activation="relu"), fn.Dense(8, 3)], seed=0)
    np.save(tmp_path / "X.npy", np.random.default_rng(0).normal(size=(12, 4)))
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    Xc, scale = inputs.as_input(net, X)
    assert np.shares_memory(Xc, X) and Xc.dtype == np.float64   # read as it is, read-only
    T = inputs.encode_targets(net, np.arange(12) % 3, 12)
    planned = signatures(passes.planned_calls(net, Xc, scale, T, fn.SGD(0.1).kind, Xc))
    assert planned <= signatures(precompile.typical_calls())


def test_compile_command_parses():
    args = build_parser().parse_args(["compile", "--workers", "2"])
    assert (args.command, args.workers) == ("compile", 2)


def test_compile_times_reports_each_kernel_signature_seconds_and_size(tmp_path):
    (tmp_path / "tiny.py").write_text(KERNELS)
    wall, table = compile_times.measure(f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
                                        "import tiny; tiny.f(1); tiny.f(1.5); tiny.g(2)")
    assert set(table) == {"f", "g"}
    assert (table["f"][0], table["g"][0]) == (2, 1)  # signatures
    assert all(seconds > 0 and size > 0 for _, seconds, size in table.values())
    assert wall >= table["f"][1] + table["g"][1]


PARALLEL = textwrap.dedent("""
    import numpy as np
    from numba import njit, prange
    import fastnet  # noqa: F401 (its import makes parallel loops link-only: codegen.py)

    @njit(cache=True, parallel=True, fastmath=True)
    def rows(out, x):
        for i in prange(x.shape[0]):
            if x[i, 0] < 0:
                raise ValueError("negative")
            acc = np.float32(0)
            for j in range(x.shape[1]):
                acc += x[i, j] * x[i, j]
            out[i] = acc
""")

# In a new process: the tiny parallel kernel and fastnet's hidden δ kernel, each result's
# bytes as hex, then whether link-only compiling is in effect and the error raised in a loop.
LINK_ONLY_RUN = textwrap.dedent("""
    import numpy as np, par
    from fastnet import codegen
    from fastnet.kernels import activations, dense
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 101)).astype(np.float32)
    out = np.zeros(37, np.float32)
    par.rows(out, np.abs(x))
    d, w = rng.standard_normal((9, 13)).astype(np.float32), rng.standard_normal((13, 29)).astype(np.float32)
    u = rng.standard_normal((9, 29)).astype(np.float32)
    dp, dz = np.empty_like(u), np.empty_like(u)
    dense.hidden_delta(dp, dz, d, w, u, np.maximum(u, 0), np.zeros((1, 29), np.float32),
                       activations.RELU)
    try:
        par.rows(out, x)
    except ValueError as e:
        error = str(e)
    print(out.tobytes().hex(), dp.tobytes().hex(), codegen.installed, error)
""")


def test_parallel_loops_compiled_link_only_give_the_same_bits_and_errors(tmp_path):
    (tmp_path / "par.py").write_text(PARALLEL)
    runs = []  # (the suite's own warm-up loads link-only kernels from the cache)
    for link_only in ("1", "0"):  # compile link-only, compile Numba's way
        env = dict(os.environ, FASTNET_LINK_ONLY=link_only,
                   NUMBA_CACHE_DIR=str(tmp_path / f"cache{link_only}"))
        proc = subprocess.run([sys.executable, "-c", LINK_ONLY_RUN], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=True, timeout=300)
        runs.append(proc.stdout.split())
    assert runs[0][2:] == ["True", "negative"] and runs[1][2:] == ["False", "negative"]
    assert runs[0][:2] == runs[1][:2]


class _Recording:
    """A stand-in kernel: records the collector's thresholds when it compiles."""

    def __init__(self, fail=False):
        self.seen, self.fail = [], fail

    def compile(self, sig):
        self.seen.append(gc.get_threshold())
        if self.fail:
            raise RuntimeError("no")


def test_the_collector_runs_less_while_kernels_compile_then_as_before():
    before = gc.get_threshold()
    kernel = _Recording()
    compiler.compile_all([(kernel, ())], workers=1)
    assert kernel.seen == [compiler.COMPILE_GC_THRESHOLDS] * 2   # its compile and its load
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError):
        compiler.compile_all([(_Recording(fail=True), ())], workers=1)
    assert gc.get_threshold() == before


def test_overlapping_compiles_in_threads_put_the_collector_back_once():
    import threading
    before = gc.get_threshold()
    inside, release = threading.Barrier(3), threading.Event()   # two compiles and this test

    class Waiting:   # its compile, then its load (compile_all's second loop): wait once
        waited = False

        def compile(self, sig):
            if not self.waited:
                self.waited = True
                inside.wait(timeout=30)   # both threads are compiling at once
                release.wait(timeout=30)
    threads = [threading.Thread(target=compiler.compile_all, args=([(Waiting(), ())],),
                                kwargs={"workers": 1}) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait(timeout=30)   # a third party: both are inside their compile now
    assert gc.get_threshold() == compiler.COMPILE_GC_THRESHOLDS
    release.set()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    assert gc.get_threshold() == before


def test_typical_calls_cover_a_wide_dense_run():
    """``fastnet compile`` puts the register-blocked and listed kernels of wide layers in
    the cache too."""
    net = fn.Network([fn.Dense(784, 1024, activation="relu"), fn.Dense(1024, 1024, activation="relu"),
                      fn.Dense(1024, 10)], seed=0, sparse_inputs=False)
    Xc, scale = inputs.as_input(net, np.zeros((8, 784), np.float32))
    T = inputs.encode_targets(net, np.arange(8) % 10, 8)
    calls = passes.planned_calls(net, Xc, scale, T, fn.SGD(0.1).kind, batch_sizes=(256, 8))
    assert {passes.dense_forward_packed, passes.dense_backward_params_packed,
            passes.hidden_delta_packed} <= {k for k, _ in calls}
    net = fn.Network([fn.Dense(784, 1024, activation="relu"), fn.Dense(1024, 10)], seed=0)
    Xc, scale = inputs.as_input(net, np.zeros((8, 784), np.uint8))
    sparse = passes.planned_calls(net, Xc, scale, T, fn.SGD(0.1).kind, batch_sizes=(256, 8))
    assert passes.dense_backward_params_listed in {k for k, _ in sparse}
    assert signatures(calls + sparse) <= signatures(precompile.typical_calls())


def test_a_clipped_run_of_a_wide_layer_takes_the_packed_gradient_alone():
    """With clipping the optimizer step is not fused: the gradient pass runs the packed
    weight gradient with no step (the bits of dense_gradient), planned like the rest."""
    net = fn.Network([fn.Dense(20, 1800, activation="relu"), fn.Dense(1800, 150, activation="relu"),
                      fn.Dense(150, 3)], seed=0)
    X = np.random.default_rng(0).normal(size=(305, 20)).astype(np.float32)
    y = np.arange(305) % 3
    count = KernelCount()
    net.fit(X, y, epochs=1, batch_size=300, optimizer=fn.SGD(0.01, momentum=0.9, clipnorm=1.0),
            verbose=False, callbacks=[count])
    assert count.end == count.begin
    ws = passes.workspace(net, 300)
    assert ws.gradient_kernel[1] is passes.dense_backward_params_packed
    # the gradient alone, both ways: the same bits
    passes.forward(net, ws)
    passes.loss(net, ws)
    passes.backward(net, ws)
    packed = net.layers[1].dW.copy()
    ws.gradient_kernel[1] = passes.dense_backward_params
    passes.backward(net, ws)
    np.testing.assert_array_equal(net.layers[1].dW, packed)


def test_the_gradient_monitor_compiles_nothing_after_the_warm_up():
    """fit plans the monitor's probe (its own batch of 256, the gradient alone): with a wide
    layer its kernels differ from the training batch's (packed hidden δ at 256, not at 32)."""
    net = fn.Network([fn.Dense(20, 1100, activation="relu"), fn.Dense(1100, 600, activation="relu"),
                      fn.Dense(600, 3)], seed=0, sparse_inputs=False)
    X = np.random.default_rng(0).normal(size=(300, 20)).astype(np.float32)
    count = KernelCount()
    net.fit(X, np.arange(300) % 3, epochs=1, batch_size=32, record=("grad_norm",),
            verbose=False, callbacks=[count])
    assert count.end == count.begin


def test_typical_calls_cover_float64_rows_under_a_scaler():
    net = fn.Network([fn.Dense(4, 8, activation="relu"), fn.Dense(8, 3)], seed=0)
    X = np.random.default_rng(0).normal(5, 1, size=(12, 4))
    net.scaler = Scaler("standard").fit(X)
    Xc, scale = inputs.as_input(net, X)
    assert Xc.dtype == np.float64
    T = inputs.encode_targets(net, np.arange(12) % 3, 12)
    planned = signatures(passes.planned_calls(net, Xc, scale, T, fn.SGD(0.1).kind, Xc))
    assert planned <= signatures(precompile.typical_calls())
