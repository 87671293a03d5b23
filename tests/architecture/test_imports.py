"""The data side is layered: no package of vlforge imports one that imports it back.

Every `import vlforge.X` / `from vlforge.X import`, at module level or inside a function,
is an edge between the top-level parts of the package (subpackages and modules). A cycle in
that graph means two parts can no longer be understood or changed one at a time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vlforge

ROOT = Path(vlforge.__file__).parent


def _part_of(module: str) -> str | None:
    names = module.split(".")
    return names[1] if len(names) > 1 and names[0] == "vlforge" else None


def _imported_parts(tree: ast.AST) -> set[str]:
    parts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            parts |= {_part_of(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "vlforge":  # from vlforge import engines
                parts |= {alias.name for alias in node.names if (ROOT / alias.name).exists()
                          or (ROOT / f"{alias.name}.py").exists()}
            else:
                parts.add(_part_of(node.module))
    return {p for p in parts if p}


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative == Path("__init__.py"):
            continue
        part = relative.parts[0].removesuffix(".py")
        edges = _imported_parts(ast.parse(path.read_text(encoding="utf-8")))
        graph.setdefault(part, set()).update(edges - {part})
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_find_cycle_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_parts_of_vlforge():
    graph = package_graph()
    assert {"contract", "engines", "pipelines", "filters", "taxonomy", "cli", "trainer"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_contract_imports_only_the_bottom():
    assert package_graph()["contract"] <= {"schemas", "config", "errors"}
    for bottom in ("schemas", "errors", "config", "atomic", "inputs"):
        assert package_graph()[bottom] <= {"schemas", "errors"}, bottom


def test_engines_know_no_corpus():
    assert "pipelines" not in package_graph()["engines"]
    assert not package_graph()["filters"] & {"pipelines", "engines"}
