"""A SavedModel's signatures, read from `saved_model.pb` without TensorFlow.

Importing TensorFlow takes seconds and much memory, so the start-time check of a Keras row reads
the protobuf's wire format itself, stepping over the graph (most of the file) by its length:
`SavedModel.meta_graphs` (field 2) → `MetaGraphDef.signature_def` (field 5, map entries of key 1
and `SignatureDef` 2) → `SignatureDef.inputs` / `outputs` (fields 1 and 2, maps keyed by name),
as tensorflow/core/protobuf/{saved_model,meta_graph}.proto number them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from models_server.tasks.loading import DOWNLOAD_AGAIN, CannotRun

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Signature:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def signatures(path: Path) -> dict[str, Signature]:
    """Each signature of the SavedModel at `path` by name. ValueError when it is no readable protobuf."""
    found: dict[str, Signature] = {}
    with path.open("rb") as stream:
        end = path.stat().st_size
        for field, start, length in _fields(stream, 0, end):
            if field != 2:  # meta_graphs
                continue
            for entry_field, entry_start, entry_length in _fields(stream, start, start + length):
                if entry_field == 5:  # signature_def: map<string, SignatureDef>
                    name, signature = _signature_entry(stream, entry_start, entry_start + entry_length)
                    found[name] = signature
    return found


def serving_refusal(folder: Path, inputs: int | None = None) -> CannotRun | None:
    """Why a loader that runs `serving_default` (with `inputs` inputs, when given) would fail on `folder`."""
    path = folder / "saved_model.pb"
    fix = DOWNLOAD_AGAIN
    try:
        found = signatures(path)
    except (OSError, ValueError) as exc:
        return CannotRun(f"{path} is not a readable SavedModel ({exc})", fix)
    serving = found.get("serving_default")
    if serving is None:
        return CannotRun(f"{path} has no serving_default signature (it has: {', '.join(sorted(found)) or 'none'})",
                         "export the model with a serving_default signature")
    if inputs is not None and len(serving.inputs) != inputs:
        return CannotRun(f"{path}: serving_default takes {len(serving.inputs)} inputs "
                         f"({', '.join(serving.inputs)}), not {inputs}", "serve a model that takes one image")
    return None


def _signature_entry(stream: IO[bytes], start: int, end: int) -> tuple[str, Signature]:
    name = ""
    inputs: list[str] = []
    outputs: list[str] = []
    for field, value_start, length in _fields(stream, start, end):
        if field == 1:
            name = _read(stream, value_start, length).decode()
        elif field == 2:  # SignatureDef
            for inner, inner_start, inner_length in _fields(stream, value_start, value_start + length):
                if inner in (1, 2):  # inputs, outputs: map<string, TensorInfo>
                    key = _map_key(stream, inner_start, inner_start + inner_length)
                    (inputs if inner == 1 else outputs).append(key)
    return name, Signature(tuple(inputs), tuple(outputs))


def _map_key(stream: IO[bytes], start: int, end: int) -> str:
    for field, value_start, length in _fields(stream, start, end):
        if field == 1:
            return _read(stream, value_start, length).decode()
    return ""


def _fields(stream: IO[bytes], start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, length) of each length-delimited field between `start` and `end`;
    other wire types are stepped over. Nested readers may move the stream between yields."""
    position = start
    while position < end:
        stream.seek(position)
        tag, position = _varint(stream, position)
        field, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            _, position = _varint(stream, position)
        elif wire == _FIXED64:
            position += 8
        elif wire == _FIXED32:
            position += 4
        elif wire == _LENGTH:
            length, position = _varint(stream, position)
            if position + length > end:
                raise ValueError("a field runs past its message")
            yield field, position, length
            position += length
        else:
            raise ValueError(f"wire type {wire} at byte {position}")
    if position != end:
        raise ValueError("a message runs past its end")


def _varint(stream: IO[bytes], position: int) -> tuple[int, int]:
    stream.seek(position)
    value = shift = 0
    while True:
        byte = stream.read(1)
        if not byte:
            raise ValueError("the file ends inside a number")
        position += 1
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise ValueError("a number longer than ten bytes")


def _read(stream: IO[bytes], start: int, length: int) -> bytes:
    stream.seek(start)
    data = stream.read(length)
    if len(data) != length:
        raise ValueError("the file ends inside a field")
    return data
