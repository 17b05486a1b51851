import os
import sys

import numpy as np
import pytest

# Numba's OpenMP threads spin between parallel regions; with two test processes (and their
# subprocesses) on two cores a spinning thread holds the core its partner waits for, and
# a tiny network's step takes 20x longer. Sleeping threads cost the tests nothing.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def suite_calls():
    """(kernel, args) of the kernel signatures the tests call: a float32 run's
    (``precompile.typical_calls``), the same for float64 networks, and the kernels the
    tests call directly in other types (the CSV parser, a float32 batch gathered from
    float64 rows) and the register-blocked kernels of wide layers (``dense.*_packed``)."""
    from fastnet import passes, precompile
    from fastnet.csvfile import parse_rows
    from fastnet.inputs import as_input, encode_targets
    from fastnet.kernels.data import gather_batch
    from fastnet.layers import Dense
    from fastnet.network import Network
    from fastnet.optimizers import SGD

    calls = precompile.typical_calls()
    net = Network([Dense(4, 4, activation="prelu", dropout=0.5), Dense(4, 3)], dtype=np.float64)
    X, scale = as_input(net, np.zeros((8, 4)))
    T = encode_targets(net, np.arange(8) % 3, 8)
    kind = SGD(0.1).kind
    calls += passes.planned_calls(net, X, scale, T, kind, X)
    calls += passes.planned_calls(net, X, scale, T, kind, X, weighted=True, clips=True)
    calls += passes.planned_calls(net, X, scale, T, None, X)
    wide = Network([Dense(4, 1800), Dense(1800, 150), Dense(150, 3)])
    X, scale = as_input(wide, np.zeros((8, 4), np.float32))
    T = encode_targets(wide, np.arange(8) % 3, 8)
    calls += [(k, args) for k, args in passes.planned_calls(wide, X, scale, T, kind,
                                                            batch_sizes=(300,))
              if k in (passes.dense_backward_params_packed, passes.dense_backward_params_listed)]
    wide = Network([Dense(4, 1100), Dense(1100, 600), Dense(600, 3)])
    calls += [(k, args) for k, args in passes.planned_calls(wide, X, scale, T, kind,
                                                            batch_sizes=(300,))
              if k in (passes.hidden_delta_packed, passes.dense_forward_packed)]
    shift = np.zeros(4, np.float32)
    none = np.zeros((2, 0), np.float32)
    calls.append((gather_batch, (np.zeros((2, 4), np.float32), none, np.zeros((2, 4)), none,
                                 np.zeros(2, np.int64), 1.0, shift, shift)))
    calls.append((parse_rows, (np.zeros((1, 1), np.float64), np.zeros((1, 2), np.int64),
                               np.zeros(5, np.int64), np.frombuffer(b"1\n", np.uint8), 0)))
    return calls


def pytest_sessionstart(session):
    """Compile (or load) every kernel the tests call once, before the first test, in
    parallel worker processes when Numba's cache lacks them: the tests would otherwise
    compile them one after another, and the subprocess tests then find them cached.
    Under pytest-xdist this runs in the controller, before its workers start; the
    workers then load each kernel from the cache as their tests first call it."""
    if hasattr(session.config, "workerinput"):  # an xdist worker
        return
    from fastnet import compiler
    try:
        compiler.warm(suite_calls())
    except Exception as error:  # e.g. a kernel's arguments changed: its own tests say how
        print(f"\ntests/conftest.py: the kernels' warm-up failed ({type(error).__name__}: "
              f"{error}); each compiles in the first test that calls it", file=sys.stderr)


class KernelCount:
    """Callback: the compiled signatures of every kernel after fit's warm-up (at the
    start of training) and at its end."""

    def on_train_begin(self, state):
        from fastnet import config
        self.begin = {k: len(k.overloads) for k in config.KERNELS}

    def on_epoch_end(self, net, epoch, logs):
        return False

    def on_train_end(self, state):
        from fastnet import config
        self.end = {k: len(k.overloads) for k in config.KERNELS}


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def assert_close(actual, expected, rtol=1e-4, atol=1e-5, what=""):
    """Compare with a tolerance and report the max difference, as llm.c's tests do."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    diff = np.abs(actual - expected)
    bound = atol + rtol * np.abs(expected)
    worst = np.unravel_index(np.argmax(diff - bound), diff.shape) if diff.size else ()
    assert np.all(diff <= bound), (
        f"{what}: max |diff| {diff.max():.3g} at {worst} (actual {actual[worst]:.6g}, "
        f"expected {expected[worst]:.6g})")


@pytest.fixture
def one_thread():
    """Tiny networks: run the kernels on one thread (parallel regions over a handful of
    samples only pay for synchronisation, badly so on a busy 2-core machine)."""
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)
