"""fastnet.kernels.gemm: the blocked, packed product against a NumPy reference.

Sizes cross every block edge: widths just below, at and above MR = 4, NR = 6, MC = 256,
NC = 96 and KC = 1024 (and 2 KC), primes, batch 1 and 7; each with the small other
dimensions so that the test stays fast.
"""
import os
import sys

import numba
import numpy as np
import pytest

from conftest import assert_close
from fastnet import config
from fastnet.kernels import gemm
from fastnet.kernels.gemm import gemm_abt, pack_shapes

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common, gemm_shapes  # noqa: E402



def matmul_abt_naive(a, b):
    """out[i, j] = Σ_k a[i, k] b[j, k] in float64 (llm.c's matmul_forward_naive)."""
    return np.asarray(a, np.float64) @ np.asarray(b, np.float64).T


def operands(rng, M, N, K, dtype, a_t=False, b_t=False):
    """a (M, K) and b (N, K), each C-contiguous or (``*_t``) the transposed view of a
    C-contiguous array, as the layer's products pass δ.T, x.T and W.T."""
    a = rng.standard_normal((K, M) if a_t else (M, K)).astype(dtype)
    b = rng.standard_normal((K, N) if b_t else (N, K)).astype(dtype)
    return (a.T if a_t else a), (b.T if b_t else b)


def product(a, b, threads=1, dtype=None):
    """gemm_abt(a, b) with freshly shaped pack buffers on ``threads`` workers."""
    dtype = dtype or a.dtype
    M, K = a.shape
    N = b.shape[0]
    shape_a, shape_b = pack_shapes(M, N, K, threads)
    out = np.full((M, N), np.nan, dtype)
    gemm_abt(out, a, b, config.empty(shape_a, dtype), config.empty(shape_b, dtype))
    return out


EDGES = [  # (M, N, K): every block edge crossed in one dimension at a time
    (1, 1, 1), (7, 5, 3), (3, 7, 17), (4, 6, 16),
    (7, 13, gemm.KC - 1), (7, 13, gemm.KC), (5, 11, gemm.KC + 1), (2, 3, 2 * gemm.KC + 1),
    (gemm.MC - 1, 7, 9), (gemm.MC + 1, 5, 11), (2 * gemm.MC + 3, 2, 5),
    (1, gemm.NC - 1, 13), (7, gemm.NC + 1, 13), (3, 2049, 5), (1, 4097, 3),
    (1000, 13, 7), (7, 97, 1000),
]


@pytest.mark.parametrize("M,N,K", EDGES)
@pytest.mark.parametrize("a_t,b_t", [(False, False), (True, True), (False, True)])
def test_gemm_abt_matches_reference_across_block_edges(rng, M, N, K, a_t, b_t):
    a, b = operands(rng, M, N, K, np.float32, a_t, b_t)
    assert_close(product(a, b), matmul_abt_naive(a, b), rtol=1e-4, atol=1e-4 * np.sqrt(K),
                 what=f"{M}x{N}x{K}")


@pytest.mark.parametrize("M,N,K", [(7, 97, 1000), (gemm.MC + 1, 13, gemm.KC + 1)])
def test_gemm_abt_float64(rng, M, N, K):
    a, b = operands(rng, M, N, K, np.float64)
    assert_close(product(a, b), matmul_abt_naive(a, b), rtol=1e-12, atol=1e-12 * K,
                 what="float64")


@pytest.mark.parametrize("M,N,K", [(gemm.MC + 5, 2 * gemm.NC + 1, gemm.KC + 3), (7, 2049, 5)])
def test_gemm_abt_is_bit_identical_across_runs_and_thread_counts(rng, M, N, K):
    a, b = operands(rng, M, N, K, np.float32)
    before = numba.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 1, 2):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            results.append(product(a, b, threads))
    finally:
        numba.set_num_threads(before)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_gemm_abt_of_empty_sum_is_zero():
    a = np.zeros((3, 0), np.float32)
    out = np.full((3, 5), np.nan, np.float32)
    gemm_abt(out, a, np.zeros((5, 0), np.float32), config.empty((1, 4, 16)),
             config.empty((1, 6, 16)))
    np.testing.assert_array_equal(out, 0)


def test_pack_shapes_fit_the_problem_and_the_threads():
    assert pack_shapes(256, 2048, 2048, 2) == ((2, gemm.MC, gemm.KC), (2, gemm.NC, gemm.KC))
    assert pack_shapes(8, 6, 256, 1) == ((1, 8, 272), (1, 6, 272))  # 17 lines, not 16
    assert pack_shapes(7, 5, 3, 2) == ((1, 8, 16), (1, 6, 16))  # one panel of columns: one worker
    with pytest.raises(ValueError, match="N must be a positive integer"):
        pack_shapes(3, 0, 4, 1)


def test_gemm_abt_rejects_mismatched_operands_and_packs():
    a, b = np.ones((4, 8), np.float32), np.ones((6, 9), np.float32)
    out = np.empty((4, 6), np.float32)
    with pytest.raises(ValueError, match="do not match"):
        gemm_abt(out, a, b, config.empty((1, 4, 16)), config.empty((1, 6, 16)))
    with pytest.raises(ValueError, match="pack_shapes"):
        gemm_abt(out, a, np.ones((6, 8), np.float32), config.empty((1, 5, 16)),
                 config.empty((1, 6, 16)))


@pytest.mark.parametrize("first", [False, True])
def test_gemm_shapes_benchmark_times_the_same_products_as_sgemm(first):
    """benchmarks/gemm_shapes.py: each blocked call computes what its sgemm call does."""
    c = common.dense_case(7, 784 if first else 13, 10, first=first, images=first)
    for product in gemm_shapes.PRODUCTS:
        out = gemm_shapes.operands(c, product)[0]
        gemm_shapes.blocked(c, product, threads=2)()
        blocked = out.copy()
        common.MATMUL[product](c)
        assert_close(blocked, out, rtol=1e-5, atol=1e-5, what=product)
