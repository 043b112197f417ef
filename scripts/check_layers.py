#!/usr/bin/env python3
"""Fail when the package's parts import each other in a circle.

A part is a subpackage (`models_server/runtime/`) or a top-level module (`models_server/app.py`).
Every `import` of another part counts, wherever it stands (a function body or a TYPE_CHECKING
block too): a circle hidden inside a function is still a circle a reader has to untangle.
Prints each circle found; exit status 1 when there is one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "models_server"


def part_of(module: str) -> str | None:
    pieces = module.split(".")
    return pieces[1] if pieces[0] == PACKAGE and len(pieces) > 1 else None


def imports_of(path: Path, package_root: Path) -> set[str]:
    """Fully qualified modules `path` imports (relative imports resolved)."""
    here = ".".join(path.relative_to(package_root.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        here += ".__init__"
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
        source = part_of(".".join(path.relative_to(package_root.parent).with_suffix("").parts))
        if source is None or source == "__main__":
            continue
        targets = {part_of(name) for name in imports_of(path, package_root)}
        graph.setdefault(source, set()).update(t for t in targets if t and t != source and t != "__init__")
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected group of parts (Tarjan), each listed from its smallest name."""
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
    found = circles(part_graph(package_root))
    for group in found:
        print("import circle between: " + ", ".join(group))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
