"""The catalog's rows, the tiny builders they name, and the import order of the package's parts."""

import ast
import importlib.util

from support.paths import REPO

from models_server.catalog import catalog_rows, unique_repos
from tiny_models.registry import TINY_BUILDERS

ROOT = REPO


def test_every_repo_of_every_row_names_a_family_with_a_tiny_builder():
    missing = sorted({f"{repo.name} ({repo.family})" for repo in unique_repos(catalog_rows())
                      if repo.family not in TINY_BUILDERS})
    assert missing == []


def test_every_tiny_builder_is_used_by_some_row():
    used = {repo.family for repo in unique_repos(catalog_rows())}
    assert sorted(set(TINY_BUILDERS) - used) == []


def test_the_serving_package_does_not_import_the_tiny_builders():
    for path in (ROOT / "models_server").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        names += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [name for name in names if name.split(".")[0] == "tiny_models"], path


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
    assert layers.wrong_way(graph) == []
    assert layers.init_circles(layers.module_graph(ROOT / "models_server")) == []


def test_the_layer_check_finds_a_wrong_way_import_and_an_unplaced_part():
    layers = _layers_script()
    graph = {"runtime": {"http"}, "http": {"runtime"}, "mystery": set()}
    assert layers.wrong_way(graph) == ["mystery is in no layer (scripts/check_layers.py LAYERS)", "runtime -> http"]


def test_the_layer_check_sees_a_circle_through_a_package_init(tmp_path):
    layers = _layers_script()
    package = tmp_path / "models_server" / "part"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from models_server.part.sub import thing\n")
    (package / "sub.py").write_text("from models_server.part import other\nthing = other\n")
    (package / "fine.py").write_text("from models_server.part import sub\n")
    found = layers.init_circles(layers.module_graph(tmp_path / "models_server"))
    assert found == [["models_server.part.__init__", "models_server.part.sub"]]


def test_the_circle_check_finds_a_circle():
    layers = _layers_script()
    assert layers.circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
