"""Whether a pickled scikit-learn or XGBoost estimator can run here, from what the pickle says.

Read without unpickling (`pickled.read_pickle`): the modules it imports must be installed (a
module a library has since moved or removed fails the unpickling), and what it stores must be in a
form today's releases read. Two such forms are known to be refused, each by its library's own
code: decision trees pickled before scikit-learn 1.3 (their node arrays lack the field
`missing_go_to_left`, and `sklearn/tree/_tree.pyx`'s `_check_node_ndarray` refuses "an
incompatible dtype"), and XGBoost boosters pickled in the binary model format (early 1.x releases
wrote `CONFIG-offset:` then the binary model unless JSON serialisation was switched on, releases
before 1.0 the binary model alone; later ones pickle JSON or UBJSON, as the XGBoost 1.6.2 pickle in
tests/data/pickles does), which XGBoost 3.1 and later refuse (its `error::OldBinaryModel`:
"deprecated in 1.6 and removed in 3.1"). Class names inside a module that imports, and attributes
today's code reads, are checked when the model loads.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from models_server.tasks.libraries import importable
from models_server.tasks.loading import DOWNLOAD_AGAIN, CannotRun
from models_server.tasks.pickled import Built, FormatNotFollowed, PickleContents, read_pickle

# The distribution a pickle's top-level module comes from, where the two names differ.
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def estimator_refusal(path: Path) -> CannotRun | None:
    """Why the estimator pickled at `path` cannot run here, or None (also when the format is one
    `read_pickle` does not follow: then its loading says)."""
    try:
        contents = read_pickle(path)
    except FormatNotFollowed:
        return None
    except ValueError as exc:
        return CannotRun(str(exc), DOWNLOAD_AGAIN)
    stamps = sorted(contents.stamps("_sklearn_version"))
    saved = f" (pickled by scikit-learn {', '.join(stamps)})" if stamps else ""
    return _missing_modules(contents, path, saved) or _old_trees(contents, path, saved) or _old_boosters(contents, path)


def _missing_modules(contents: PickleContents, path: Path, saved: str) -> CannotRun | None:
    missing = sorted({name.module for name in contents.names if not importable(name.module)})
    if not missing:
        return None
    absent = sorted({module.split(".")[0] for module in missing if not importable(module.split(".")[0])})
    if absent:
        fix = "pip install " + " ".join(_DISTRIBUTIONS.get(name, name) for name in absent)
    else:
        libraries = sorted({_DISTRIBUTIONS.get(module.split(".")[0], module.split(".")[0]) for module in missing})
        fix = (f"re-save the model with the installed {', '.join(libraries)} (the release that pickled it kept these "
               "classes in modules that have since moved), or serve it from an environment with that release")
    return CannotRun(f"{path}{saved} imports {', '.join(missing)}, which this environment does not have", fix)


def _old_trees(contents: PickleContents, path: Path, saved: str) -> CannotRun | None:
    installed = _installed("scikit-learn")
    if installed is None or installed < Version("1.3"):
        return None
    for tree in contents.instances("sklearn.tree._tree", "Tree"):
        fields = _node_fields(tree)
        if fields is not None and "missing_go_to_left" not in fields:
            return CannotRun(
                f"{path}{saved} holds decision trees whose nodes lack the field missing_go_to_left, which scikit-learn "
                f"1.3 and later require (scikit-learn {installed} refuses them: 'node array from the pickle has an "
                "incompatible dtype')",
                "train and save the model again with scikit-learn >= 1.3, or serve it from an environment with the "
                "scikit-learn release that pickled it")
    return None


def _old_boosters(contents: PickleContents, path: Path) -> CannotRun | None:
    installed = _installed("xgboost")
    if installed is None or installed < Version("3.1"):
        return None
    for booster in contents.instances("xgboost.core", "Booster"):
        raw = _raw_bytes(booster.state.get("handle") if isinstance(booster.state, dict) else None)
        if raw is None or raw.startswith(b"{"):  # JSON or UBJSON: what XGBoost 2.0 and later write
            continue
        match = re.search(rb'"version"\s*:\s*\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)', raw)
        release = "XGBoost " + ".".join(group.decode() for group in match.groups()) if match else (
            "an XGBoost 1.x release" if raw.startswith(b"CONFIG-offset:") else "an XGBoost release before 1.0")
        return CannotRun(
            f"{path} holds an XGBoost model pickled by {release} in the binary model format, which XGBoost 3.1 and "
            f"later no longer read (installed: xgboost {installed})",
            "unpickle it with xgboost 3.0 and pickle it again (3.0 writes UBJSON, which later releases read), "
            "or train it again")
    return None


def _node_fields(tree: Built) -> tuple[str, ...] | None:
    """The field names of a Tree's node array, from its dtype as pickled (joblib's wrapper or numpy's own)."""
    nodes = tree.state.get("nodes") if isinstance(tree.state, dict) else None
    if not isinstance(nodes, Built):
        return None
    if isinstance(nodes.state, dict):  # joblib's NumpyArrayWrapper
        dtype = nodes.state.get("dtype")
    else:  # numpy's _reconstruct: (version, shape, dtype, is_fortran, data)
        dtype = nodes.state[2] if isinstance(nodes.state, tuple) and len(nodes.state) > 2 else None
    state = dtype.state if isinstance(dtype, Built) else None
    names = state[3] if isinstance(state, tuple) and len(state) > 3 else None
    return tuple(str(name) for name in names) if isinstance(names, tuple) else None


def _raw_bytes(handle: Any) -> bytes | None:
    if isinstance(handle, (bytes, bytearray)):
        return bytes(handle)
    if isinstance(handle, Built) and handle.args and isinstance(handle.args, tuple):
        first = handle.args[0]
        if isinstance(first, (bytes, bytearray)):
            return bytes(first)
        if isinstance(first, str):  # protocol 2 writes bytearray(text, "latin-1")
            return first.encode("latin-1")
    return None


# The distributions that install a library's package (XGBoost's CPU-only wheel has a name of its own).
_INSTALLED_AS = {"scikit-learn": ("scikit-learn",), "xgboost": ("xgboost", "xgboost-cpu")}


def _installed(library: str) -> Version | None:
    """The installed release of `library`, from its distribution's metadata (nothing is imported)."""
    for distribution in _INSTALLED_AS[library]:
        try:
            return Version(importlib.metadata.version(distribution))
        except importlib.metadata.PackageNotFoundError:
            continue
        except InvalidVersion:
            return None
    return None
