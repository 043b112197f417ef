#!/usr/bin/env python3
"""Fail when the package's parts import against their layers, or in a circle.

A part is a subpackage (`models_server/runtime/`) or a top-level module (`models_server/cli.py`).
`LAYERS` lists them from the bottom up: a part may import parts of lower layers only. Every
`import` counts, wherever it stands (a function body or a TYPE_CHECKING block too): an import
hidden inside a function still ties the two parts together for a reader.

Inside a part, modules may import each other freely, except in a circle through a package's
`__init__`: `pkg/__init__.py` importing `pkg.sub` while `pkg.sub` takes a name from `pkg` works
only as long as the import order happens to suit it.

Prints each wrong-way import and circle found; exit status 1 when there is one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "models_server"

# From the bottom up; parts on one line are peers and do not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "redact", "logs"),  # leaves: the error types, URL redaction, what the command prints
    ("config", "progress"),  # settings; a request's progress and deadline
    ("media",),  # decoding inputs, encoding outputs, the writer of public/
    ("kinds",),  # each kind of request field
    ("tasks",),  # task contracts and their implementations, grouped by library
    ("catalog", "protocols"),  # the served rows; the ways a request speaks
    ("weights", "controller"),  # weight folders; what the HuggingGPT controller asks for
    ("runtime",),  # loading, states, residency, admission
    ("pipeline",),  # one request from bytes to bytes
    ("http",),  # the Flask app and the guarded server
    ("engines", "check"),  # the single-process and Ray engines; the `check` command
    ("cli",),
    ("__main__",),
)


def part_of(module: str) -> str | None:
    pieces = module.split(".")
    return pieces[1] if pieces[0] == PACKAGE and len(pieces) > 1 else None


def module_name(path: Path, package_root: Path) -> str:
    """`models_server.runtime.__init__` for a package's `__init__.py`, else the dotted module name."""
    return ".".join(path.relative_to(package_root.parent).with_suffix("").parts)


def imports_of(path: Path, package_root: Path) -> set[str]:
    """Fully qualified modules `path` imports (relative imports resolved), and `module.name`
    for each name taken with `from module import name`."""
    here = module_name(path, package_root)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: -node.level]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def part_graph(package_root: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(package_root.rglob("*.py")):
        source = part_of(module_name(path, package_root))
        if source is None:
            continue
        targets = {part_of(name) for name in imports_of(path, package_root)}
        graph.setdefault(source, set()).update(t for t in targets if t and t != source and t != "__init__")
    return graph


def wrong_way(graph: dict[str, set[str]], layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """`a -> b` for each import of a part `b` that is not in a lower layer than `a`, and each
    part that no layer names."""
    level = {part: index for index, parts in enumerate(layers) for part in parts}
    problems = [f"{part} is in no layer (scripts/check_layers.py LAYERS)" for part in sorted(graph)
                if part not in level and part != "__init__"]
    for source in sorted(graph):
        for target in sorted(graph[source]):
            if source in level and target in level and level[target] >= level[source]:
                problems.append(f"{source} -> {target}")
    return problems


def module_graph(package_root: Path) -> dict[str, set[str]]:
    """Imports between the package's modules: `pkg.__init__` stands for `import pkg` and for
    `from pkg import name` where `name` is not a submodule (that one reads what `__init__` defines)."""
    paths = sorted(package_root.rglob("*.py"))
    modules = {module_name(path, package_root) for path in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        here = module_name(path, package_root)
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(_module_or_init(alias.name, modules) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: -node.level]
                    base = ".".join([*anchor, base] if base else anchor)
                submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
                targets.update(submodules)
                if len(submodules) < len(node.names):
                    targets.add(_module_or_init(base, modules))
        graph[here] = {target for target in targets if target in modules and target != here}
    return graph


def _module_or_init(name: str, modules: set[str]) -> str:
    return name if name in modules else f"{name}.__init__"


def init_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of `graph` that pass through a package's `__init__`."""
    return [group for group in circles(graph) if any(name.endswith(".__init__") for name in group)]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected group of nodes (Tarjan), each listed from its smallest name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def main() -> int:
    package_root = Path(__file__).resolve().parent.parent / PACKAGE
    parts = part_graph(package_root)
    problems = [f"wrong-way import: {line}" for line in wrong_way(parts)]
    problems += ["import circle between: " + ", ".join(group) for group in circles(parts)]
    problems += ["import circle through __init__: " + ", ".join(group)
                 for group in init_circles(module_graph(package_root))]
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
