"""A computation graph differentiated in forward mode and in reverse mode.

    python examples/computation_graph.py [--out computation_graph.png] [--a 2] [--b 1]

The graph c = a + b, d = b + 1, e = c · d. Forward mode pushes one input's change
(ȧ, ḃ) = (1, 0) or (0, 1) through every node to the output: one pass per input. Reverse
mode pulls the output's sensitivity ē = ∂e/∂e = 1 back to every node at once: one pass
per output; back-propagation is reverse mode. At a = 2, b = 1: c = 3, d = 2, e = 6,
∂e/∂a = 2 and ∂e/∂b = 1·2 + 1·3 = 5. The graph and both modes are ``fastnet.graph``'s;
the derivatives are checked with the central finite differences that ``fastnet.explain``
checks every gradient with (``explain.finite_differences``, ``explain.relative_error``).
"""
import numpy as np
from _common import save, start

from fastnet.explain import finite_differences, relative_error
from fastnet.graph import Node, forward_mode, reverse_mode


def graph(a, b):
    """The nodes (a, b, c, d, e) of c = a + b, d = b + 1, e = c · d."""
    a, b = Node("a", a), Node("b", b)
    c = (a + b).named("c")
    d = (b + 1).named("d")
    return a, b, c, d, (c * d).named("e")


def derivatives(a, b):
    """{name: value}, {name: ∂name/∂a} and {name: ∂name/∂b} (forward mode, one pass per
    input), {name: ∂e/∂name} (reverse mode, one pass) of the graph at (a, b)."""
    nodes = graph(a, b)

    def by_name(per_node):   # the constant 1 left out
        return {n.name: per_node[n] for n in nodes}
    return ({n.name: n.value for n in nodes}, by_name(forward_mode(nodes[-1], nodes[0])),
            by_name(forward_mode(nodes[-1], nodes[1])), by_name(reverse_mode(nodes[-1])))


def finite_difference_check(a, b):
    """(∂e/∂a, ∂e/∂b) by explain's central finite differences, and their relative error
    against reverse mode's."""
    x = np.array([a, b], np.float64)
    fd = finite_differences(lambda: graph(*x)[-1].value, x, [0, 1])
    rev = derivatives(a, b)[3]
    return fd, relative_error(np.array([rev["a"], rev["b"]]), fd)


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
    vals, fa, fb, rev = derivatives(a, b)
    c, d, e = vals["c"], vals["d"], vals["e"]
    fd, err = finite_difference_check(a, b)
    assert (fa["e"], fb["e"]) == (rev["a"], rev["b"]) and err < 1e-6

    print(f"values:        a = {a:g}, b = {b:g}, c = a + b = {c:g}, d = b + 1 = {d:g}, "
          f"e = c·d = {e:g}")
    print(f"forward mode:  seed ȧ = 1: ċ = {fa['c']:g}, ḋ = {fa['d']:g}, ė = ċ d + c ḋ = "
          f"{fa['e']:g}  -> ∂e/∂a = {fa['e']:g}")
    print(f"               seed ḃ = 1: ċ = {fb['c']:g}, ḋ = {fb['d']:g}, ė = ċ d + c ḋ = "
          f"{fb['e']:g}  -> ∂e/∂b = {fb['e']:g}")
    print(f"reverse mode:  ē = 1, c̄ = d = {rev['c']:g}, d̄ = c = {rev['d']:g}, ā = c̄ = "
          f"{rev['a']:g}, b̄ = c̄ + d̄ = {rev['b']:g}")
    print(f"checks:        fastnet.explain's finite differences give ∂e/∂a = {fd[0]:.6f}, "
          f"∂e/∂b = {fd[1]:.6f} (relative error {err:.1e})")
    print("What the figure shows: forward mode (left, middle) follows one input's change up "
          "to e and needs one pass per input, while reverse mode (right) sends e's "
          "sensitivity down once and gets ∂e/∂x for every node. b reaches e along two paths, "
          "so its adjoint is their sum, 1·2 + 1·3 = 5; back-propagation is this reverse "
          "mode on a network's graph, one pass for all the weights.")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), layout="constrained")
    for ax, (dots, seed) in zip(axes[:2], ((fa, "a"), (fb, "b"))):
        draw(ax, f"forward mode, seed ∂{seed}/∂{seed} = 1: one pass\ngives ∂e/∂{seed} = "
                 f"{dots['e']:g}", {k: f"{k} = {vals[k]:g}\n∂{k}/∂{seed} = {dots[k]:g}"
                                     for k in vals}, "#d8e8f8", vals)
    draw(axes[2], f"reverse mode, ē = 1: one pass\ngives ∂e/∂a = {rev['a']:g} and "
                  f"∂e/∂b = {rev['b']:g}", {k: f"{k} = {vals[k]:g}\n∂e/∂{k} = {rev[k]:g}"
                                           for k in vals}, "#f8e0d0", vals)
    fig.suptitle("c = a + b,  d = b + 1,  e = c · d")
    save(fig, args.out)


if __name__ == "__main__":
    main()
