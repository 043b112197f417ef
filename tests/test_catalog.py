"""The catalog's rows, the tiny builders they name, and the import order of the package's parts."""

import ast
import importlib.util
from pathlib import Path

from models_server.catalog import catalog_rows, unique_repos
from models_server.tiny.registry import TINY_BUILDERS

ROOT = Path(__file__).resolve().parent.parent


def test_every_repo_of_every_row_names_a_family_with_a_tiny_builder():
    missing = sorted({f"{repo.name} ({repo.family})" for repo in unique_repos(catalog_rows())
                      if repo.family not in TINY_BUILDERS})
    assert missing == []


def test_every_tiny_builder_is_used_by_some_row():
    used = {repo.family for repo in unique_repos(catalog_rows())}
    assert sorted(set(TINY_BUILDERS) - used) == []


def test_the_catalog_does_not_import_the_tiny_builders():
    for path in (ROOT / "models_server" / "catalog").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        names += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [name for name in names if name.startswith("models_server.tiny")], path.name


def _layers_script():
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts" / "check_layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_parts_import_each_other_in_no_circle():
    layers = _layers_script()
    graph = layers.part_graph(ROOT / "models_server")
    assert "runtime" not in graph["catalog"] and "runtime" not in graph["tasks"]
    assert layers.circles(graph) == []


def test_the_circle_check_finds_a_circle():
    layers = _layers_script()
    assert layers.circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
