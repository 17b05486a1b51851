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
    assert cg.graph(2, 1) == (3, 2, 6)
    assert cg.forward_mode(2, 1, 1, 0)[2] == 2 and cg.forward_mode(2, 1, 0, 1)[2] == 5
    rev = cg.reverse_mode(2, 1)
    assert (rev["a"], rev["b"], rev["c"], rev["d"]) == (2, 5, 2, 3)
    a, b = cg.Var(2.0), cg.Var(1.0)
    e = (a + b) * (b + 1)
    e.backward()
    assert (e.value, a.grad, b.grad) == (6, 2, 5)
