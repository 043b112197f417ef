"""What the command prints while it works: our log lines, not the libraries' chatter.

At `--log-level info` (the default) the third-party libraries' deprecation warnings, progress
bars and info lines are hidden: a person starting the server reads which models loaded and
where to point a browser. At `debug` everything is shown, as the libraries emit it.

Records go through a bounded queue to one writer thread (`writer.py`): logging never makes a
request wait for stderr.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import IO

from models_server.logs.writer import LogWriter

LEVELS = ("debug", "info", "warning", "error")
# Loggers whose records are this program's own; every other library's, below ERROR, counts as DEBUG.
OWN_LOGGERS = ("models_server", "tiny_models", "waitress", "py.warnings", "__main__")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log at INFO what a server's user does not need to read.
_CHATTY_LOGGERS = ("sentence_transformers", "httpx", "urllib3", "filelock", "torch", "timm")


_writer: LogWriter | None = None  # the process's one writer; configure replaces it


def configure(level: str = "info", stream: IO[str] | None = None) -> LogWriter:
    """Send every record (and Python warnings) through the queue to `stream` (stderr) at `level`;
    below debug, silence other libraries' warnings and progress bars."""
    global _writer
    numeric = getattr(logging, level.upper())
    if _writer is not None:
        _writer.stop()
    _writer = LogWriter(stream or sys.stderr, logging.Formatter(FORMAT))
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    _writer.handler.addFilter(LibraryRecordsAsDebug(numeric))
    root.addHandler(_writer.handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)
    _writer.start()
    if numeric > logging.DEBUG:
        quiet_libraries()
    return _writer


@atexit.register
def _flush_at_exit() -> None:
    if _writer is not None:
        _writer.stop()


class LibraryRecordsAsDebug(logging.Filter):
    """Other libraries' records below ERROR count as DEBUG, whatever level they were logged at.

    espnet logs its whole model structure and every initialised tensor at INFO, and to the root
    logger, so no logger's level can quiet it: the record's origin decides.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        own = any(record.name == name or record.name.startswith(f"{name}.") for name in OWN_LOGGERS)
        if not own and record.levelno < logging.ERROR:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


@contextlib.contextmanager
def native_output_silenced() -> Iterator[None]:
    """While native code prints straight to the process's stderr (TensorFlow's C++ start-up lines,
    written before its own log level is read), send that descriptor to /dev/null; at debug, leave
    it. Our log lines keep flowing: the writer writes to its own copy of the descriptor."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quiet_libraries() -> None:
    """Python warnings raised outside models_server, the HF progress bars, and library info logs.

    Environment variables cover what the libraries read at import; the calls below cover the
    ones already imported. Our own warnings (models_server.*) still show.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=r"models_server(\..*)?$")
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    _quiet_hf_loggers()


def _quiet_hf_loggers() -> None:
    """transformers and diffusers keep their own verbosity and progress-bar switches.

    Not imported here (that would delay opening the port by seconds): the environment variables
    above apply when they are; these calls cover a library some earlier code already imported.
    """
    for name in ("transformers", "diffusers"):
        library = sys.modules.get(name)
        if library is not None:
            library.utils.logging.set_verbosity_error()
            library.utils.logging.disable_progress_bar()
    hub = sys.modules.get("huggingface_hub.utils")
    if hub is not None:
        hub.disable_progress_bars()
        library_handlers_removed("huggingface_hub")


def library_handlers_removed(name: str) -> None:
    """Drop the stderr handler a library puts on its own logger at import (huggingface_hub does):
    its records reach ours through the root logger, and were printed twice."""
    logger = logging.getLogger(name)
    for handler in logger.handlers[:]:
        if type(handler) is logging.StreamHandler:
            logger.removeHandler(handler)
