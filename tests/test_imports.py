"""No module of fastnet imports another that imports it back, directly or through others,
counting the imports inside functions too."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fastnet"


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path, modules):
    """The fastnet modules that the module in ``path`` imports (anywhere in it)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = ".".join(p for p in (base if node.level else "", node.module or "") if p)
            for alias in node.names:   # `from . import io` imports the module fastnet.io
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


def import_graph():
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports(p, modules) for p in paths}


def cycles(graph):
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_relative_and_function_level_imports():
    graph = import_graph()
    assert "fastnet.runs" in graph["fastnet.cli"]
    assert "fastnet.sweeps" in graph["fastnet"]          # inside fastnet.sweep()
    assert "fastnet.kernels.activations" in graph["fastnet.catalogue"]


def test_cli_and_sweeps_call_runs_and_never_each_other():
    graph = import_graph()
    assert "fastnet.cli" not in graph["fastnet.sweeps"] | graph["fastnet.sweepspec"]
    assert "fastnet.cli" not in graph["fastnet.runs"] and "fastnet.sweeps" not in \
        graph["fastnet.runs"]
    assert "fastnet.runs" in graph["fastnet.sweeps"] and "fastnet.runs" in \
        graph["fastnet.sweepspec"]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
