"""Log records leave the logging thread at once: a bounded queue, one writer thread, the sink.

A request thread that logs only puts the record on a queue; a writer thread formats it and writes
it to the sink (stderr). When the sink blocks (a full pipe nobody reads, a paused terminal, a
stalled log collector) only the writer waits: the queue fills, and further records are dropped and
counted instead of waiting for room. When the sink takes lines again and the writer has caught
up, one line says how many were dropped. Every message is cut to a bounded length before it is
queued, so neither the queue nor one line can grow with what a client sent.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import threading
from typing import IO

QUEUE_RECORDS = 10_000  # a few MB at most; seconds of a busy server's lines
MESSAGE_CHARS = 8_000  # one message with its traceback, head and tail kept
STOP_SECONDS = 2.0  # at exit, how long the lines still queued may take to reach a slow sink


def bounded(text: str, limit: int) -> str:
    """`text` when it fits in `limit` characters, else its head and tail around a note of the cut."""
    if len(text) <= limit:
        return text
    note = f" …[{len(text) - limit} characters cut]… "
    keep = max(limit - len(note), 0)
    head = keep // 2
    return f"{text[:head]}{note}{text[len(text) - (keep - head):]}"


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """Puts each record, formatted and bounded, on the queue; never waits for room in it."""

    def __init__(self, records: queue.Queue[logging.LogRecord | None], limit: int = MESSAGE_CHARS) -> None:
        super().__init__(records)
        self.records = records
        self.limit = limit
        self._count_lock = threading.Lock()
        self.dropped = 0  # since the writer last reported

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        prepared = super().prepare(record)
        prepared.msg = bounded(str(prepared.msg), self.limit)
        prepared.message = prepared.msg
        return prepared

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.records.put_nowait(record)
        except queue.Full:
            with self._count_lock:
                self.dropped += 1

    def take_dropped(self) -> int:
        with self._count_lock:
            dropped, self.dropped = self.dropped, 0
        return dropped


class StreamSink:
    """Formats a record and writes it, from the writer thread only.

    Not a `logging.Handler`: `logging.shutdown` at exit takes every handler's lock, which a writer
    blocked on a full pipe holds. A stream with a file descriptor is written through a duplicate of
    it, unbuffered: the interpreter flushes `sys.stderr` at exit, and a buffer a blocked daemon
    thread holds would stop the exit.
    """

    level = logging.NOTSET

    def __init__(self, stream: IO[str], formatter: logging.Formatter) -> None:
        self.formatter = formatter
        self.stream = stream
        self.fd: int | None = None
        try:
            stream.flush()
            self.fd = os.dup(stream.fileno())
        except (AttributeError, OSError, ValueError):  # a stream in memory (tests, captured output)
            self.fd = None

    def handle(self, record: logging.LogRecord) -> None:
        line = self.formatter.format(record) + "\n"
        if self.fd is None:
            try:
                self.stream.write(line)
                self.stream.flush()
            except (OSError, ValueError):  # closed under us (a test's captured output): nothing to do but drop
                pass
            return
        data = line.encode("utf-8", "backslashreplace")
        while data:
            try:
                data = data[os.write(self.fd, data):]
            except OSError:  # the reader is gone (EPIPE, a closed descriptor): nothing to do but drop
                return

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Listener(logging.handlers.QueueListener):
    """The writer thread; once it has caught up after a loss, one line that says what was lost."""

    def __init__(self, records: queue.Queue[logging.LogRecord | None], handler: DroppingQueueHandler,
                 sink: StreamSink) -> None:
        super().__init__(records, sink, respect_handler_level=True)  # type: ignore[arg-type]
        self.records = records
        self.source = handler
        self.sink = sink
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self.thread.start()

    def _write(self) -> None:
        while (record := self.dequeue(True)) is not None:  # None: the sentinel `LogWriter.stop` puts
            self.handle(record)

    def handle(self, record: logging.LogRecord) -> None:
        super().handle(record)
        if not self.records.empty():
            return
        dropped = self.source.take_dropped()
        if dropped:
            self.sink.handle(logging.makeLogRecord({
                "name": "models_server.logs", "levelno": logging.WARNING, "levelname": "WARNING",
                "msg": f"{dropped} log lines dropped: the log output was not being read (a full pipe or a "
                       "paused terminal); requests were answered meanwhile",
            }))


class LogWriter:
    """The queue, its handler for the root logger and the writer thread writing to `stream`."""

    def __init__(self, stream: IO[str], formatter: logging.Formatter, capacity: int = QUEUE_RECORDS) -> None:
        self.records: queue.Queue[logging.LogRecord | None] = queue.Queue(maxsize=capacity)
        self.handler = DroppingQueueHandler(self.records)
        self.sink = StreamSink(stream, formatter)
        self.listener = _Listener(self.records, self.handler, self.sink)

    def start(self) -> None:
        self.listener.start()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Let the writer finish the queued lines for up to `timeout` seconds. A blocked sink must not
        hold the process at exit: the thread is a daemon, abandoned after that."""
        thread = self.listener.thread
        if thread is None:
            return
        self.listener.thread = None
        try:
            self.records.put(None, timeout=timeout)
        except queue.Full:
            return
        thread.join(timeout)
        if not thread.is_alive():
            self.sink.close()
