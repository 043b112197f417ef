"""A handler's outputs as the controller reads them: media become files under public/.

Two steps, so bytes can be produced on one host and written on another: `encode_result` turns
media into `EncodedFile`s (pure, no disk), and `OutputStore.publish` — the only writer of
public/ — writes each one and puts its path where it stood.

Each file is written to a hidden temporary name and then hard-linked to its final name,
which fails if that name exists: a returned path never points at a half-written file and
no file is ever overwritten.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

from models_server.media.encode import EncodedFile, encode_file, is_media
from models_server.media.types import Segmentation

log = logging.getLogger(__name__)
FOLDERS = ("images", "audios", "videos")


def encode_result(result: Any) -> Any:
    """The result with each media replaced by its file's bytes; a bare media becomes {"path": ...}."""
    if is_media(result):
        return {"path": encode_file(result)}
    if isinstance(result, Segmentation):  # the overlay is the file; masks are for API clients
        return {"path": encode_file(result.overlay), "segments": result.segments}
    files: dict[int, EncodedFile] = {}

    def file_of(value: Any) -> Any:
        """One EncodedFile per media object, however many places name it (so publish writes it once)."""
        if not is_media(value):
            return value
        if id(value) not in files:
            files[id(value)] = encode_file(value)
        return files[id(value)]

    return _replace(result, file_of)


def _replace(value: Any, leaf: Any) -> Any:
    if isinstance(value, dict):
        return {key: _replace(item, leaf) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace(item, leaf) for item in value]
    return leaf(value)


class OutputStore:
    def __init__(self, public_dir: Path) -> None:
        self.public_dir = public_dir

    def publish(self, encoded: Any, prefix: str = "") -> Any:
        """JSON-able data: every EncodedFile written, and replaced by `prefix` + its path (one
        file, however many places name it)."""
        paths: dict[int, str] = {}

        def path_of(value: Any) -> Any:
            if not isinstance(value, EncodedFile):
                return value
            if id(value) not in paths:
                paths[id(value)] = prefix + self.write(value)
            return paths[id(value)]

        return _replace(encoded, path_of)

    def write(self, file: EncodedFile) -> str:
        """Write a new file `public/<folder>/<uuid>.<extension>`; return "/<folder>/<name>"."""
        directory = self.public_dir / file.folder
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.{file.extension}"
        temporary = directory / f".{name}.part"
        try:
            with open(temporary, "xb") as handle:
                # no fsync: readers see the file through the page cache, and an answer is of no
                # use after a power cut; it cost a canny request ~24 ms here (cProfile)
                handle.write(file.data)
            os.link(temporary, directory / name)
        finally:
            temporary.unlink(missing_ok=True)
        return f"/{file.folder}/{name}"

    def remove_leftovers(self) -> int:
        """Delete temporary files a killed process left behind; call before serving starts."""
        removed = 0
        for folder in FOLDERS:
            for leftover in (self.public_dir / folder).glob(".*.part"):
                leftover.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("removed %d unfinished output files left by an earlier run", removed)
        return removed
