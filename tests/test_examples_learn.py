"""The numbers of the 'learn what it computes' examples, from the scripts' own functions.
(test_scripts.py runs every example, these included, end to end on small sizes.)"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_computation_graph_numbers():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import computation_graph as cg
    finally:
        sys.path.pop(0)
    vals, fa, fb, rev = cg.derivatives(2, 1)
    assert (vals["c"], vals["d"], vals["e"]) == (3, 2, 6)
    assert fa["e"] == 2 and fb["e"] == 5
    assert (rev["a"], rev["b"], rev["c"], rev["d"]) == (2, 5, 2, 3)
    fd, err = cg.finite_difference_check(2, 1)
    assert abs(fd[0] - 2) < 1e-8 and abs(fd[1] - 5) < 1e-8 and err < 1e-9
