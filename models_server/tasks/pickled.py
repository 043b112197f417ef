"""What a pickle would import and build, read without unpickling it.

Unpickling runs whatever the file says, so a pickled model is checked at start by reading its
opcodes (`pickletools.genops`) and following the unpickler's stack on paper: a class is its
name, a call is a record of what would be called with what, and nothing is imported or run.
joblib's files are read as joblib writes them: whole-file zlib, gzip, bz2, xz or lzma
compression, and numpy arrays written raw between the opcodes (after each array wrapper's
state, behind an alignment pad) or, for arrays of objects, as a pickle of their own. lz4 files
and joblib's pre-0.9.3 "ZF" files are not followed (`FormatNotFollowed`): they are checked at load.
"""

from __future__ import annotations

import _compat_pickle
import bz2
import io
import lzma
import math
import pickletools
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol


class FormatNotFollowed(Exception):
    """A file this reader cannot follow; only loading it says whether it runs."""


@dataclass(frozen=True)
class Name:
    """A class or function the pickle imports."""

    module: str
    name: str

    @property
    def path(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Built:
    """An object the pickle would build: `factory(*args)`, then given `state`."""

    factory: Any
    args: Any = ()
    state: Any = None

    def of(self, module: str, name: str) -> bool:
        return self.factory == Name(module, name)


@dataclass
class PickleContents:
    names: set[Name] = field(default_factory=set)
    built: list[Built] = field(default_factory=list)

    def instances(self, module: str, name: str) -> Iterator[Built]:
        return (item for item in self.built if item.of(module, name))

    def stamps(self, key: str) -> set[str]:
        """The string values of `key` in any built object's state (`_sklearn_version`)."""
        return {str(item.state[key]) for item in self.built if isinstance(item.state, dict) and key in item.state}


def read_pickle(path: Path) -> PickleContents:
    """The names and objects of the (joblib) pickle at `path`. ValueError when it is no readable
    pickle (truncated, not a pickle); FormatNotFollowed for the formats listed above."""
    contents = PickleContents()
    with _opened(path) as stream:
        try:
            _follow(stream, contents)
        except (ValueError, IndexError, KeyError, TypeError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
            raise ValueError(f"{path} is not a readable pickle ({type(exc).__name__}: {exc})") from None
    return contents


# --- compression ------------------------------------------------------------------------------


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, /) -> bytes: ...


class _Inflating(io.RawIOBase):
    """A file compressed whole, as joblib compresses it: one stream of one format."""

    def __init__(self, raw: IO[bytes], decompressor: _Decompressor) -> None:
        self._raw, self._decompressor, self._pending, self._position = raw, decompressor, b"", 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._decompressor.eof:
            chunk = self._raw.read(1 << 16)
            if not chunk:
                break
            self._pending = self._decompressor.decompress(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count], self._pending = self._pending[:count], self._pending[count:]
        self._position += count
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


# joblib's compressors by the magic bytes that start their files (joblib/compressor.py)
_DECOMPRESSORS: tuple[tuple[bytes, Callable[[], _Decompressor]], ...] = (
    (b"\x1f\x8b", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)),  # gzip
    (b"BZ", bz2.BZ2Decompressor),
    (b"\xfd7zXZ", lzma.LZMADecompressor),  # xz; lzma-alone below, both told apart by the library
    (b"\x5d\x00", lzma.LZMADecompressor),
    (b"\x78", lambda: zlib.decompressobj()),
)


def _opened(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        head = probe.read(5)
    if head.startswith(b"ZF"):
        raise FormatNotFollowed(f"{path} is a joblib file from before joblib 0.9.3 (arrays in zlib blocks)")
    if head.startswith(b"\x04\x22\x4d\x18"):
        raise FormatNotFollowed(f"{path} is lz4-compressed")
    for magic, decompressor in _DECOMPRESSORS:
        if head.startswith(magic):
            return io.BufferedReader(_Inflating(path.open("rb"), decompressor()))
    return path.open("rb")


# --- the stack, followed on paper --------------------------------------------------------------

_PUSHES_ARG = frozenset({
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "STRING", "BINSTRING",
    "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE", "SHORT_BINUNICODE",
    "BINUNICODE", "BINUNICODE8",
})
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_NOT_FOLLOWED = frozenset({"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER"})


def _follow(stream: IO[bytes], contents: PickleContents) -> None:
    """One pickle, from its first opcode to its STOP."""
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    protocol = 0

    def to_mark() -> list[Any]:
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    def build(factory: Any, args: Any) -> Built:
        item = Built(factory, args)
        contents.built.append(item)
        return item

    arg: Any
    for opcode, value, _ in pickletools.genops(stream):
        op, arg = opcode.name, value  # typed Any: each opcode's argument has its own type
        if op == "STOP":
            return
        if op in _PUSHES_ARG:
            stack.append(arg)
        elif op in _CONSTANTS:
            stack.append(_CONSTANTS[op])
        elif op == "PROTO":
            protocol = arg
        elif op in ("FRAME", "READONLY_BUFFER"):
            continue
        elif op in ("EMPTY_LIST", "EMPTY_SET"):
            stack.append([])  # a set's members need not hash here
        elif op == "EMPTY_DICT":
            stack.append({})
        elif op == "EMPTY_TUPLE":
            stack.append(())
        elif op == "MARK":
            marks.append(len(stack))
        elif op in ("TUPLE", "LIST", "FROZENSET"):
            marked = to_mark()
            stack.append(tuple(marked) if op == "TUPLE" else marked)
        elif op == "DICT":
            stack.append(_setitems({}, to_mark()))
        elif op in ("TUPLE1", "TUPLE2", "TUPLE3"):
            count = int(op[-1])
            last = tuple(stack[-count:])
            del stack[-count:]
            stack.append(last)
        elif op == "APPEND":
            item = stack.pop()
            if isinstance(stack[-1], list):
                stack[-1].append(item)
        elif op in ("APPENDS", "ADDITEMS"):
            items = to_mark()
            if isinstance(stack[-1], list):
                stack[-1].extend(items)
        elif op == "SETITEM":
            value, key = stack.pop(), stack.pop()
            _setitems(stack[-1], [key, value])
        elif op == "SETITEMS":
            items = to_mark()
            _setitems(stack[-1], items)
        elif op == "POP":  # with nothing above the last mark, the mark itself (protocol 0's recursive tuples)
            if marks and len(stack) == marks[-1]:
                marks.pop()
            else:
                stack.pop()
        elif op == "POP_MARK":
            to_mark()
        elif op == "DUP":
            stack.append(stack[-1])
        elif op in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif op == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif op in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif op in ("GLOBAL", "INST"):
            module, name = arg.split(" ", 1)
            found = _imported(contents, module, name, protocol)
            stack.append(found if op == "GLOBAL" else build(found, tuple(to_mark())))
        elif op == "STACK_GLOBAL":
            name, module = stack.pop(), stack.pop()
            stack.append(_imported(contents, str(module), str(name), protocol))
        elif op == "OBJ":
            items = to_mark()
            stack.append(build(items[0], tuple(items[1:])))
        elif op in ("REDUCE", "NEWOBJ"):
            args, factory = stack.pop(), stack.pop()
            stack.append(build(factory, args))
        elif op == "NEWOBJ_EX":
            _, args, factory = stack.pop(), stack.pop(), stack.pop()
            stack.append(build(factory, args))
        elif op == "BUILD":
            state, target = stack.pop(), stack[-1]
            if isinstance(target, Built):
                target.state = state
                if isinstance(target.factory, Name) and target.factory.name == "NumpyArrayWrapper" \
                        and target.factory.module.endswith("joblib.numpy_pickle"):
                    _skip_array(stream, target, contents)
        elif op in _NOT_FOLLOWED:
            raise FormatNotFollowed(f"the pickle uses {op}, which only its own unpickler resolves")
        else:
            raise FormatNotFollowed(f"unknown opcode {op}")
    raise EOFError("the pickle ends before its STOP")


def _imported(contents: PickleContents, module: str, name: str, protocol: int) -> Name:
    if protocol < 3:  # Python 2's names, as the unpickler maps them
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    found = Name(module, name)
    contents.names.add(found)
    return found


def _setitems(target: Any, items: list[Any]) -> Any:
    if isinstance(target, dict):
        for key, value in zip(items[::2], items[1::2], strict=True):
            try:
                target[key] = value
            except TypeError:  # a key that is an object being built: not one we read
                continue
    return target


def _skip_array(stream: IO[bytes], wrapper: Built, contents: PickleContents) -> None:
    """Step over the array joblib wrote after this wrapper (as `NumpyArrayWrapper.read_array` reads it)."""
    state = wrapper.state if isinstance(wrapper.state, dict) else {}
    dtype = state.get("dtype")
    if not isinstance(dtype, Built) or not dtype.args:
        raise FormatNotFollowed("a joblib array whose dtype is not spelled as numpy pickles it")
    kind = str(dtype.args[0])
    if kind.startswith("O"):  # arrays of objects are pickled on their own
        _follow(stream, contents)
        return
    if state.get("numpy_array_alignment_bytes") is not None:
        (padding,) = stream.read(1)
        _discard(stream, padding)
    _discard(stream, math.prod(state.get("shape") or ()) * _itemsize(kind, dtype.state))


def _itemsize(kind: str, state: Any) -> int:
    if isinstance(state, tuple) and len(state) > 5 and isinstance(state[5], int) and state[5] > 0:
        return state[5]  # structured and string dtypes carry their size
    match = re.fullmatch(r"[<>|=]?([a-zA-Z])(\d+)", kind)
    if match is None:
        raise FormatNotFollowed(f"a joblib array of dtype {kind!r}")
    return int(match[2]) * (4 if match[1] == "U" else 1)


def _discard(stream: IO[bytes], count: int) -> None:
    while count > 0:
        chunk = stream.read(min(count, 1 << 20))
        if not chunk:
            raise EOFError("the file ends inside an array")
        count -= len(chunk)
