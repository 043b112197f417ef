"""What the command prints while it works: our log lines, not the libraries' chatter.

At `--log-level info` (the default) the third-party libraries' deprecation warnings, progress
bars and info lines are hidden: a person starting the server reads which models loaded and
where to point a browser. At `debug` everything is shown, as the libraries emit it.

Records go through a bounded queue to one writer thread (`writer.py`): logging never makes a
request wait for stderr.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import warnings
from typing import IO

from models_server.logs.writer import LogWriter

LEVELS = ("debug", "info", "warning", "error")
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
