import numpy as np
import pytest


def pytest_sessionstart(session):
    """Compile (or load) the kernels of float32 runs once, before the first test, in
    parallel worker processes when Numba's cache lacks them: the tests would otherwise
    compile them one after another, and the subprocess tests then find them cached."""
    from fastnet import compiler, precompile
    compiler.warm(precompile.typical_calls())


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
