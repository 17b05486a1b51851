"""Computation graphs of scalars and the two modes of differentiating them.

Each ``Node`` holds its value and, for each node it was computed from, the local
derivative ∂self/∂parent. With c = a + b, d = b + 1, e = c · d at a = 2, b = 1:

    forward mode   seed ṡ = 1 at one input s, then ẋ = Σ_p (∂x/∂p) ṗ for every node
                   in the order they were computed: ∂x/∂s of every x, one pass per input
                   (ṡ = ȧ: ė = 2; ṡ = ḃ: ė = ċ d + c ḋ = 1·2 + 3·1 = 5)
    reverse mode   seed ō = 1 at the output o, then p̄ += (∂x/∂p) x̄ for every node x
                   from the output down: ∂o/∂x of every x, one pass per output
                   (b̄ = c̄ + d̄ = d + c = 5: b reaches e along two paths, which add)

Back-propagation is reverse mode on a network's graph. ``fastnet.explain`` checks its
gradients with ``explain.finite_differences``; examples/computation_graph.py checks this
module's derivatives the same way.
"""


class Node:
    """A scalar ``value`` computed from ``parents``: ((Node, ∂self/∂parent), ...)."""

    def __init__(self, name, value, parents=()):
        self.name, self.value, self.parents = name, float(value), tuple(parents)

    def __repr__(self):
        return f"Node({self.name!r}, {self.value:g})"

    def __add__(self, other):
        other = _node(other)
        return Node(f"({self.name} + {other.name})", self.value + other.value,
                    ((self, 1.0), (other, 1.0)))

    __radd__ = __add__

    def __mul__(self, other):
        other = _node(other)
        return Node(f"{self.name} · {other.name}", self.value * other.value,
                    ((self, other.value), (other, self.value)))

    __rmul__ = __mul__

    def named(self, name):
        """This node, renamed (``c = (a + b).named("c")``)."""
        self.name = name
        return self


def _node(x):
    return x if isinstance(x, Node) else Node(f"{x:g}", x)


def topological(output):
    """Every node ``output`` depends on, each after all its parents (output last)."""
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent, _ in node.parents:
                visit(parent)
            order.append(node)
    visit(output)
    return order


def forward_mode(output, seed):
    """{node: ∂node/∂seed} for every node of ``output``'s graph: tangents pushed up from
    ṡeed = 1 (constants and other inputs 0)."""
    tangent = {}
    for node in topological(output):
        tangent[node] = 1.0 if node is seed else sum(local * tangent[p]
                                                     for p, local in node.parents)
    return tangent


def reverse_mode(output):
    """{node: ∂output/∂node} for every node of ``output``'s graph: adjoints pulled down
    from ōutput = 1, each node passing (∂node/∂parent) · its adjoint to its parents."""
    order = topological(output)
    adjoint = {node: 0.0 for node in order}
    adjoint[output] = 1.0
    for node in reversed(order):
        for parent, local in node.parents:
            adjoint[parent] += local * adjoint[node]
    return adjoint
