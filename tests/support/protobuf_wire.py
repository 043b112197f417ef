"""Protobuf messages written by hand in the wire format, for stand-in files no library need write."""

from __future__ import annotations


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes | str | int) -> bytes:
    """One field: an int as a varint, text or bytes (a nested message) length-delimited."""
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def saved_model(signatures: dict[str, tuple[list[str], list[str]]], graph_bytes: int = 4096) -> bytes:
    """saved_model.pb with one MetaGraphDef: a graph of `graph_bytes` filler bytes, then each
    signature's inputs and outputs by name (field numbers of tensorflow/core/protobuf/*.proto)."""
    entries = b""
    for name, (inputs, outputs) in signatures.items():
        tensor = field(1, "x:0") + field(2, 1)  # TensorInfo: name, dtype DT_FLOAT
        definition = b"".join(field(1, field(1, key) + field(2, tensor)) for key in inputs)
        definition += b"".join(field(2, field(1, key) + field(2, tensor)) for key in outputs)
        definition += field(3, "tensorflow/serving/predict")
        entries += field(5, field(1, name) + field(2, definition))
    meta_graph = field(1, field(1, "serve")) + field(2, b"\x00" * graph_bytes) + entries
    return field(1, 1) + field(2, meta_graph)
