"""A request whose answer may stream: its run on a thread of its own, its parts sent as they come.

The request's thread waits for the run's first news: a refusal or an error (raised, and answered
like any other), a whole answer, or the first part of a streamed one. From then on the answer is
a `PartStream`: each part goes out as its protocol encodes it (a part a Ray group encoded, as it
came), the rest once the run is over, and an error after the stream began ends it in the
protocol's own way. The run keeps its model (admission, turn, pin) until it ends; the model never
waits for the reader, whose parts wait in the stream. A reader whose client left, or that is
closed early, cancels the run, and the handler stops at its next step.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models_server.errors import InferenceFailed, ServerError
from models_server.progress import CancelToken, cancellable, request_token, streaming
from models_server.protocols.base import Call, Encoded, EncodedPart, PartEncoder

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25  # how often a waiting reader asks whether its client has left


@dataclass(frozen=True)
class _Part:
    data: bytes  # encoded on the model's thread, in order, so `encode` after the run knows what went


@dataclass(frozen=True)
class _Ended:
    encoded: Encoded | None = None
    error: BaseException | None = None


News = queue.SimpleQueue  # of _Part | _Ended, from the run to the reader


def _next(news: News, token: CancelToken) -> _Part | _Ended:
    """The run's next news; while none comes, a client that left marks the token (the run stops)."""
    while True:
        try:
            return news.get(timeout=POLL_SECONDS)
        except queue.Empty:
            token.reason()


class PartEncoding:
    """The parts a handler reports, each encoded by the decoded call's encoder and handed to
    `send` as it comes; a part another host encoded already (`EncodedPart`) goes on as it is.
    `announce` is told the call once it is decoded; a call that does not stream sends nothing."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self.send = send
        self.calls: list[Call] = []

    def announce(self, call: Call) -> None:
        self.calls.append(call)

    def receive(self, part: Any) -> None:  # on the model's thread (the relaying thread for a group's)
        if isinstance(part, EncodedPart):
            self.send(part.data)
            return
        encoder = self.calls[0].stream if self.calls else None
        if encoder is not None:
            self.send(encoder.part(part))


def run_streamable(answer: Callable[[Callable[[Call], None]], Encoded]) -> Encoded | PartStream:
    """Run `answer(announce)` (it announces its decoded call, then runs it) on a thread of its own:
    the whole answer, the stream of a call that streams once its first part is made, or the run's
    error raised here."""
    token = request_token() or CancelToken("stream")
    news: News = queue.SimpleQueue()
    parts = PartEncoding(lambda data: news.put(_Part(data)))

    def run() -> None:
        try:
            with cancellable(token), streaming(parts.receive):
                news.put(_Ended(encoded=answer(parts.announce)))
        except BaseException as exc:  # handed to the reader, which raises or reports it
            news.put(_Ended(error=exc))

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="request-run", daemon=True)
    thread.start()
    first = _next(news, token)
    if isinstance(first, _Ended):
        if first.error is not None:
            raise first.error
        assert first.encoded is not None
        return first.encoded
    encoder = parts.calls[0].stream
    assert encoder is not None
    return PartStream(encoder, first.data, news, token)


class PartStream:
    """A streamed answer's bytes as they come: the body a WSGI server iterates; its `close` (when
    the stream ended or the client left) cancels a run still going."""

    def __init__(self, encoder: PartEncoder, first: bytes, news: News, token: CancelToken) -> None:
        self.encoder = encoder
        self.mimetype = encoder.mimetype
        self.pending = [first]
        self.news = news
        self.token = token
        self.over = False

    def __iter__(self) -> PartStream:
        return self

    def __next__(self) -> bytes:
        if self.pending:
            return self.pending.pop()
        if self.over:
            raise StopIteration
        item = _next(self.news, self.token)
        if isinstance(item, _Part):
            return item.data
        self.over = True
        if item.error is None:
            assert item.encoded is not None
            return bytes(item.encoded.content)
        error = item.error
        if not isinstance(error, ServerError):
            log.error("a streamed request failed", exc_info=error)
            error = InferenceFailed(f"the request failed while streaming ({type(error).__name__}); "
                                    "the server log has the details")
        return self.encoder.error(error)

    def close(self) -> None:
        if not self.over:
            self.over = True
            self.token.cancel("its client stopped reading the stream")
