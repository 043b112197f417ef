"""Tabular classification by Keras SavedModels (keras-io): a table (columns by name, one list of
cells each) in, one class label per row out, as the Inference API's `tabular_classification`
answers (`["1", "0", ...]`).

TensorFlow loads the graph and runs its `serving_default` signature; no Keras or repo code runs.
The signature names what the model takes: one input per column (number or string cells, matched
by name), or a single matrix input whose width is the table's column count (the columns in the
table's order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.loading import CheckedLoader
from models_server.tasks.tensorflow.runtime import import_tensorflow, load_serving_function
from models_server.tasks.tensorflow.saved_model_file import serving_refusal

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext

Table = dict[str, list[Any]]


@dataclass(frozen=True)
class SignatureInput:
    name: str
    is_string: bool
    shape: tuple[int | None, ...]  # as declared, batch first


@dataclass
class KerasTable:
    """A SavedModel's serving function and its inputs; `saved_model` keeps its variables alive."""

    saved_model: Any
    function: Any
    inputs: tuple[SignatureInput, ...]

    @property
    def matrix_width(self) -> int | None:
        """The column count of a model that takes the whole table as one matrix, else None."""
        if len(self.inputs) == 1 and len(self.inputs[0].shape) == 2 and (self.inputs[0].shape[1] or 0) > 1:
            return self.inputs[0].shape[1]
        return None


def load_keras_table(ctx: LoadContext) -> KerasTable:
    tf = import_tensorflow()

    loaded, function, specs = load_serving_function(ctx.weight_dirs[0])
    inputs = tuple(
        SignatureInput(name, spec.dtype == tf.string, tuple(spec.shape.as_list()))
        for name, spec in sorted(specs.items())
    )
    return KerasTable(loaded, function, inputs)


def classify_table(model: KerasTable, inputs: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """One label per row: the class of highest score, or "1"/"0" for a single sigmoid."""
    import numpy as np

    table: Table = inputs["table"]
    width = model.matrix_width
    if width is not None:
        if len(table) != width:
            raise BadInput(f"this model takes {width} columns; the table has {len(table)}")
        matrix = np.stack([_numbers(name, cells) for name, cells in table.items()], axis=1)
        feeds = {model.inputs[0].name: matrix}
    else:
        missing = [spec.name for spec in model.inputs if spec.name not in table]
        if missing:
            raise BadInput(f"the table lacks the column(s) this model takes: {', '.join(missing)}")
        feeds = {spec.name: _column(spec, table[spec.name]) for spec in model.inputs}
    outputs = model.function(**feeds)
    scores = np.asarray(next(iter(outputs.values())), dtype=np.float64).reshape(len(next(iter(table.values()))), -1)
    if scores.shape[1] == 1:  # one sigmoid: the probability of class 1
        return ["1" if score >= 0.5 else "0" for score in scores[:, 0]]
    return [str(index) for index in scores.argmax(axis=1)]


def _column(spec: SignatureInput, cells: list[Any]) -> Any:
    import numpy as np

    values = np.array(["" if cell is None else str(cell) for cell in cells], dtype=object) if spec.is_string \
        else _numbers(spec.name, cells)
    return values.reshape((len(cells),) + (1,) * (len(spec.shape) - 1))


def _numbers(name: str, cells: list[Any]) -> Any:
    import numpy as np

    try:
        values = np.array([math.nan if cell is None else float(cell) for cell in cells], dtype=np.float32)
    except ValueError:
        raise BadInput(f"column '{name}' must hold numbers") from None
    return values


CLASSIFY_TABLE = Task(contracts.TABULAR_CLASSIFICATION, classify_table)
LOAD_KERAS_TABLE = CheckedLoader(load_keras_table, serving_refusal)  # its serving_default, read without TensorFlow
