"""Stand-in pickled estimators, written as the releases that could not run today wrote them."""

from __future__ import annotations

import copyreg
import json
import pickletools
from pathlib import Path
from typing import Any

COLUMNS = ("a", "b", "c", "d")


def naming(module: str, name: str, sklearn_version: str = "0.22.2") -> bytes:
    """A pickle of one `module.name` object stamped with `sklearn_version`, as a release whose class
    lived in `module` wrote it (protocol 4: STACK_GLOBAL, NEWOBJ, BUILD)."""

    def text(value: str) -> bytes:
        encoded = value.encode()
        return b"\x8c" + bytes([len(encoded)]) + encoded

    body = (text(module) + text(name) + b"\x93)\x81}" + text("_sklearn_version") + text(sklearn_version)
            + b"sb.")
    data = b"\x80\x04" + body
    pickletools.dis(data, out=_Discard())  # a well-formed pickle, or this raises
    return data


class _Discard:
    def write(self, text: str) -> int:
        return len(text)


def fitted_tree_pipeline() -> Any:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    frame = pd.DataFrame(np.eye(4), columns=[f"feat_{name}" for name in COLUMNS])
    return make_pipeline(StandardScaler(), DecisionTreeClassifier(random_state=0)).fit(frame, [0, 1, 2, 0])


def dump_with_pre_1_3_trees(estimator: Any, path: Path, sklearn_version: str = "1.2.2") -> None:
    """joblib.dump `estimator` as scikit-learn before 1.3 wrote its trees: node arrays without the
    `missing_go_to_left` field (added in 1.3), every estimator stamped `sklearn_version`."""
    import joblib
    from numpy.lib.recfunctions import repack_fields
    from sklearn.base import BaseEstimator
    from sklearn.tree._tree import Tree

    def old_tree(tree: Tree) -> Any:
        factory, args, state = tree.__reduce__()
        nodes = state["nodes"]
        kept = [name for name in nodes.dtype.names if name != "missing_go_to_left"]
        return factory, args, {**state, "nodes": repack_fields(nodes[kept])}

    def restamp(item: Any) -> None:
        state, cls = {**item.__getstate__(), "_sklearn_version": sklearn_version}, type(item)
        item.__reduce_ex__ = lambda protocol: (copyreg.__newobj__, (cls,), state)  # type: ignore[attr-defined]

    for item in [estimator, *(step for _, step in getattr(estimator, "steps", ()))]:
        if isinstance(item, BaseEstimator):
            restamp(item)
    copyreg.dispatch_table[Tree] = old_tree
    try:
        joblib.dump(estimator, path)
    finally:
        del copyreg.dispatch_table[Tree]


def autotrain_folder(folder: Path, pickle: bytes | None = None) -> Path:
    """AutoTrain's layout: model.joblib and config.json's `features`."""
    folder.mkdir(parents=True, exist_ok=True)
    if pickle is not None:
        (folder / "model.joblib").write_bytes(pickle)
    (folder / "config.json").write_text(json.dumps({"features": list(COLUMNS), "target": "target"}))
    return folder


def dump_with_binary_booster(path: Path, sklearn_version: str = "1.0.2") -> None:
    """joblib.dump an XGBClassifier as an early XGBoost 1.x wrote it: its Booster's bytes in the
    binary serialisation (`CONFIG-offset:`, the offset of the JSON config, the binary model, the
    config naming the release), which XGBoost 3.1 and later refuse."""
    import struct

    import joblib
    import numpy as np
    from xgboost import XGBClassifier

    classifier = XGBClassifier(n_estimators=1, max_depth=1, n_jobs=1).fit(np.eye(4), [0, 1, 0, 1])
    booster = classifier.get_booster()
    model = b"\x00" * 136  # stands for the binary model: only its header is read before the refusal
    config = json.dumps({"learner": {}, "version": [1, 2, 1]}).encode()
    handle = bytearray(b"CONFIG-offset:" + struct.pack("<q", len(model)) + model + config)
    booster_state = {**booster.__getstate__(), "handle": handle}
    booster.__reduce_ex__ = lambda protocol: (copyreg.__newobj__, (type(booster),), booster_state)  # type: ignore[attr-defined]
    state = {**classifier.__getstate__(), "_sklearn_version": sklearn_version}
    classifier.__reduce_ex__ = lambda protocol: (copyreg.__newobj__, (type(classifier),), state)  # type: ignore[attr-defined]
    joblib.dump(classifier, path)
