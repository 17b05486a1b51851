"""A computation graph differentiated in forward mode and in reverse mode.

    python examples/computation_graph.py [--out computation_graph.png] [--a 2] [--b 1]

The graph c = a + b, d = b + 1, e = c · d. Forward mode pushes one input's change
(ȧ, ḃ) = (1, 0) or (0, 1) through every node to the output: one pass per input. Reverse
mode pulls the output's sensitivity ē = ∂e/∂e = 1 back to every node at once: one pass
per output; back-propagation is reverse mode. At a = 2, b = 1: c = 3, d = 2, e = 6,
∂e/∂a = 2 and ∂e/∂b = 1·2 + 1·3 = 5. Both are checked against a tiny reverse-mode
implementation (``Var`` below) and central finite differences.
"""
from _common import save, start


class Var:
    """A scalar that remembers how it was computed: (parent, ∂self/∂parent) pairs."""

    def __init__(self, value, parents=()):
        self.value, self.parents, self.grad = value, parents, 0.0

    def __add__(self, other):
        other = other if isinstance(other, Var) else Var(other)
        return Var(self.value + other.value, ((self, 1.0), (other, 1.0)))

    def __mul__(self, other):
        return Var(self.value * other.value, ((self, other.value), (other, self.value)))

    def backward(self):
        """Reverse mode: ∂self/∂node into node.grad for every node, children before parents."""
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for p, _ in v.parents:
                    visit(p)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            for p, local in v.parents:
                p.grad += local * v.grad


def graph(a, b):
    """The four values c, d, e of the graph (plain numbers)."""
    c = a + b
    d = b + 1
    return c, d, c * d


def forward_mode(a, b, da, db):
    """Tangents (ċ, ḋ, ė) for the input tangents (ȧ, ḃ): each node's derivative rule."""
    c, d, _ = graph(a, b)
    dc = da + db          # c = a + b
    dd = db               # d = b + 1
    de = dc * d + c * dd  # e = c d: product rule
    return dc, dd, de


def reverse_mode(a, b):
    """Adjoints x̄ = ∂e/∂x of every node, from ē = 1 down: each node sums over its users."""
    c, d, _ = graph(a, b)
    e_bar = 1.0
    c_bar = e_bar * d      # ∂e/∂c = d
    d_bar = e_bar * c      # ∂e/∂d = c
    a_bar = c_bar * 1      # a feeds c only
    b_bar = c_bar * 1 + d_bar * 1   # b feeds c and d: the two paths add
    return dict(e=e_bar, c=c_bar, d=d_bar, a=a_bar, b=b_bar)


POS = {"a": (0, 0), "b": (2, 0), "c": (0, 1), "d": (2, 1), "e": (1, 2)}
EDGES = [("a", "c", "1"), ("b", "c", "1"), ("b", "d", "1"), ("c", "e", "d"), ("d", "e", "c")]
# local derivatives on the edges: ∂e/∂c = d and ∂e/∂d = c, shown with their values


def draw(ax, title, labels, colour, vals):
    for src, dst, local in EDGES:
        local = local if local == "1" else f"{local} = {vals[local]:g}"
        (x0, y0), (x1, y1) = POS[src], POS[dst]
        ax.annotate("", (x1, y1 - 0.17), (x0, y0 + 0.17),
                    arrowprops=dict(arrowstyle="->", color="0.4", lw=1.5))
        ax.text((x0 + x1) / 2 + 0.08, (y0 + y1) / 2, f"∂{dst}/∂{src} = {local}", fontsize=8,
                color="0.3")
    for name, (x, y) in POS.items():
        ax.text(x, y, labels[name], ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", fc=colour, ec="0.3"))
    ax.set(xlim=(-0.8, 2.8), ylim=(-0.4, 2.4), title=title)
    ax.axis("off")


def main(argv=None):
    args, plt = start(__doc__, "computation_graph.png", argv,
                      [("--a", float, 2.0, "input a"), ("--b", float, 1.0, "input b")])
    a, b = args.a, args.b
    c, d, e = graph(a, b)
    fa, fb, rev = forward_mode(a, b, 1, 0), forward_mode(a, b, 0, 1), reverse_mode(a, b)

    va, vb = Var(a), Var(b)
    ve = (va + vb) * (vb + 1)
    ve.backward()
    h = 1e-6
    fd = ((graph(a + h, b)[2] - graph(a - h, b)[2]) / (2 * h),
          (graph(a, b + h)[2] - graph(a, b - h)[2]) / (2 * h))
    assert ve.value == e and (va.grad, vb.grad) == (fa[2], fb[2]) == (rev["a"], rev["b"])
    assert abs(fd[0] - rev["a"]) < 1e-6 and abs(fd[1] - rev["b"]) < 1e-6

    print(f"values:        a = {a:g}, b = {b:g}, c = a + b = {c:g}, d = b + 1 = {d:g}, "
          f"e = c·d = {e:g}")
    print(f"forward mode:  seed ȧ = 1: ċ = {fa[0]:g}, ḋ = {fa[1]:g}, ė = ċ d + c ḋ = {fa[2]:g}"
          f"  -> ∂e/∂a = {fa[2]:g}")
    print(f"               seed ḃ = 1: ċ = {fb[0]:g}, ḋ = {fb[1]:g}, ė = ċ d + c ḋ = {fb[2]:g}"
          f"  -> ∂e/∂b = {fb[2]:g}")
    print(f"reverse mode:  ē = 1, c̄ = d = {rev['c']:g}, d̄ = c = {rev['d']:g}, ā = c̄ = "
          f"{rev['a']:g}, b̄ = c̄ + d̄ = {rev['b']:g}")
    print(f"checks:        Var.backward() gives ∂e/∂a = {va.grad:g}, ∂e/∂b = {vb.grad:g}; "
          f"finite differences {fd[0]:.6f}, {fd[1]:.6f}")
    print("What the figure shows: forward mode (left, middle) follows one input's change up "
          "to e and needs one pass per input, while reverse mode (right) sends e's "
          "sensitivity down once and gets ∂e/∂x for every node. b reaches e along two paths, "
          "so its adjoint is their sum, 1·2 + 1·3 = 5; back-propagation is this reverse "
          "mode on a network's graph, one pass for all the weights.")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), layout="constrained")
    vals = dict(a=a, b=b, c=c, d=d, e=e)
    for ax, (tangent, seed) in zip(axes[:2], ((fa, "a"), (fb, "b"))):
        dots = dict(a=float(seed == "a"), b=float(seed == "b"), c=tangent[0], d=tangent[1],
                    e=tangent[2])
        draw(ax, f"forward mode, seed ∂{seed}/∂{seed} = 1: one pass\ngives ∂e/∂{seed} = "
                 f"{tangent[2]:g}", {k: f"{k} = {vals[k]:g}\n∂{k}/∂{seed} = {dots[k]:g}"
                                     for k in vals}, "#d8e8f8", vals)
    draw(axes[2], f"reverse mode, ē = 1: one pass\ngives ∂e/∂a = {rev['a']:g} and "
                  f"∂e/∂b = {rev['b']:g}", {k: f"{k} = {vals[k]:g}\n∂e/∂{k} = {rev[k]:g}"
                                           for k in vals}, "#f8e0d0", vals)
    fig.suptitle("c = a + b,  d = b + 1,  e = c · d")
    save(fig, args.out)


if __name__ == "__main__":
    main()
