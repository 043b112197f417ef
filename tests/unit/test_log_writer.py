"""The log writer: a blocked sink costs lines, never the logging thread's time; messages are bounded."""

import logging
import threading

from models_server.logs.writer import LogWriter, bounded


class BlockingStream:
    """A stream whose writes wait until `release` is set, as a full pipe does."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.release.wait()
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_a_blocked_sink_drops_lines_and_says_so_once_it_takes_them_again():
    stream = BlockingStream()
    writer = LogWriter(stream, logging.Formatter("%(message)s"), capacity=100)
    logger = logging.getLogger("tests.blocked_sink")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(writer.handler)
    writer.start()
    try:
        done = threading.Event()

        def log_many() -> None:
            for index in range(5_000):
                logger.info("line %d", index)
            done.set()

        threading.Thread(target=log_many, daemon=True).start()
        assert done.wait(timeout=60), "logging waited for the blocked sink"
        stream.release.set()
        writer.stop(timeout=30)
        written = [line for line in stream.lines if line.startswith("line ")]
        notices = [line for line in stream.lines if "log lines dropped" in line]
        assert len(written) < 200  # what the queue and the writer held, not the 5,000
        assert notices == [notices[0]] and notices[0].startswith(f"{5_000 - len(written)} log lines dropped")
    finally:
        stream.release.set()
        logger.removeHandler(writer.handler)
        writer.stop(timeout=30)


def test_messages_are_cut_to_a_bound_keeping_head_and_tail():
    stream = BlockingStream()
    stream.release.set()
    writer = LogWriter(stream, logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.bounded")
    logger.propagate = False
    logger.addHandler(writer.handler)
    writer.start()
    try:
        logger.warning("head %s tail", "x" * 1_000_000)
        writer.stop(timeout=30)
        [line] = stream.lines
        assert len(line) < 10_000
        assert line.startswith("head xx") and line.rstrip().endswith("xx tail")
    finally:
        logger.removeHandler(writer.handler)


def test_bounded():
    assert bounded("short", 10) == "short"
    cut = bounded("a" * 50 + "b" * 50, 60)
    assert len(cut) <= 60 and cut.startswith("a") and cut.endswith("b") and "characters cut" in cut
