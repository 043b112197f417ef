"""Reading a (joblib) pickle without unpickling it: the names it imports and the objects it builds,
through joblib's compressed formats and the arrays joblib writes between the opcodes."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from support import pickles

from models_server.tasks.libraries import importable
from models_server.tasks.pickled import FormatNotFollowed, read_pickle

COMPRESSIONS = [None, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)]


def names_joblib_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """What joblib's own unpickler looks up loading `path`: the figure the reader must match."""
    import joblib
    from joblib.numpy_pickle import NumpyUnpickler

    found: set[str] = set()
    original = NumpyUnpickler.find_class

    def find_class(self, module: str, name: str):  # type: ignore[no-untyped-def]
        found.add(f"{module}.{name}")
        return original(self, module, name)

    monkeypatch.setattr(NumpyUnpickler, "find_class", find_class)
    joblib.load(path)
    return found


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=lambda c: c[0] if c else "none")
def test_every_name_joblib_would_import_is_read_through_its_compression_and_arrays(tmp_path, monkeypatch, compress):
    import joblib

    path = tmp_path / "model.joblib"
    pipeline = pickles.fitted_tree_pipeline()  # number arrays, an object array (feature names), a Tree after them
    joblib.dump(pipeline, path, **({"compress": compress} if compress else {}))
    contents = read_pickle(path)
    assert {name.path for name in contents.names} == names_joblib_imports(path, monkeypatch)
    assert "sklearn.tree._tree.Tree" in {name.path for name in contents.names}
    (tree,) = contents.instances("sklearn.tree._tree", "Tree")
    assert tree.state["node_count"] == pipeline.steps[1][1].tree_.node_count  # read past every array before it


@pytest.mark.parametrize(("head", "format_name"), [(b"\x04\x22\x4d\x18", "lz4"), (b"ZF0x10", "before joblib 0.9.3")])
def test_formats_it_does_not_follow_are_left_to_loading(tmp_path, head, format_name):
    path = tmp_path / "model.joblib"
    path.write_bytes(head + b"\x00" * 32)
    with pytest.raises(FormatNotFollowed, match=format_name):
        read_pickle(path)


def test_a_truncated_pickle_is_no_readable_pickle(tmp_path):
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(pickles.fitted_tree_pipeline(), path)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match="not a readable pickle"):
        read_pickle(path)


def test_modules_are_found_from_the_installed_files(tmp_path):
    assert importable("sklearn.ensemble._forest") and importable("builtins") and importable("numpy.core.multiarray")
    assert not importable("sklearn.ensemble.forest")  # moved in scikit-learn 0.24
    assert not importable("no_such_library.estimators")


def test_a_module_made_unimportable_in_sys_modules_is_not_importable(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.ensemble._forest", None)
    assert not importable("sklearn.ensemble._forest")
    assert importable("sklearn.ensemble")
    monkeypatch.setitem(sys.modules, "xgboost", None)  # and a package's modules with it
    monkeypatch.delitem(sys.modules, "xgboost.sklearn", raising=False)
    assert not importable("xgboost.sklearn")


def test_reading_imports_no_library_and_runs_nothing(tmp_path):
    """The file's libraries stay unimported: nothing in the pickle is looked up or called."""
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(pickles.fitted_tree_pipeline(), path, compress=("gzip", 3))
    (tmp_path / "sklearn_module.joblib").write_bytes(pickles.naming("os", "system"))
    script = (
        "import sys; from pathlib import Path\n"
        "from models_server.tasks.pickled_estimators import estimator_refusal\n"
        f"for name in ('model.joblib', 'sklearn_module.joblib'): estimator_refusal(Path({str(tmp_path)!r}) / name)\n"
        "print(sorted(m for m in ('sklearn', 'joblib', 'numpy', 'xgboost', 'pandas') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_protocol_is_read_as_the_unpickler_reads_it(tmp_path, protocol):
    """Python 2's names mapped as the unpickler maps them (protocols 0-2), a recursive tuple (whose
    protocol-0 form pops its mark with POP), sets, an OrderedDict and a Fraction."""
    from collections import OrderedDict
    from fractions import Fraction

    found: set[str] = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str):  # type: ignore[no-untyped-def]
            resolved = super().find_class(module, name)
            found.add(f"{resolved.__module__}.{resolved.__qualname__}")  # after Python 2's names are mapped
            return resolved

    inner: list = []
    recursive = (inner,)
    inner.append(recursive)
    data = pickle.dumps({"x": recursive, "o": OrderedDict(k=1), "s": {1, 2}, "f": frozenset({3}),
                         "n": Fraction(1, 3)}, protocol=protocol)
    Recording(io.BytesIO(data)).load()
    path = tmp_path / "plain.pkl"
    path.write_bytes(data)
    assert {name.path for name in read_pickle(path).names} == found
