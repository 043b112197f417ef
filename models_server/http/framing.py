"""Answers waitress makes itself, as JSON; request framing refused early or kept bounded.

- **Limits before work.** waitress refuses a declared Content-Length over `max_body_bytes` as
  soon as the header is parsed (a chunked body as soon as it grows past it), so nothing beyond
  the cap is read or stored; a request with both Transfer-Encoding and Content-Length is refused
  and its connection closed (RFC 9112 section 6.1). A chunk-size line or trailer longer than a
  few KiB is refused with 400 as soon as it is (waitress keeps an unfinished one whole and
  searches it again on every read). Every answer waitress makes itself is JSON
  `{"error": {"message", "type"}}`, like the app's; on OpenAI's routes (`/v1/...`) in OpenAI's
  shape, `{"error": {"message", "type", "param", "code"}}`, as the routes answer there.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from waitress.parser import HTTPRequestParser, ParsingError
from waitress.receiver import ChunkedReceiver
from waitress.task import ErrorTask
from waitress.utilities import BadRequest, Error

from models_server.http.body_models import ReadBody

if TYPE_CHECKING:
    from models_server.http.server import ServingOptions

BUSY_RETRY_AFTER_SECONDS = 5
OPENAI_PREFIX = "/v1/"
# Chunked framing: a chunk-size line (with its extensions) and the trailer section.
MAX_CHUNK_LINE_BYTES = 4096
MAX_TRAILER_BYTES = 16384


class ServerBusy(Error):
    code = 503
    reason = "Service Unavailable"

    def __init__(self, body: str, retry_after: int = BUSY_RETRY_AFTER_SECONDS) -> None:
        super().__init__(body)
        self.retry_after = retry_after


class WaitedTooLong(Error):
    code = 504
    reason = "Gateway Timeout"


class RequestTimeout(Error):
    code = 408
    reason = "Request Timeout"


def error_body(error: Error, options: ServingOptions, openai: bool = False
               ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Our JSON error (and extra headers) for an answer waitress makes itself; `openai`: in
    OpenAI's shape (its SDK reads `type` and `code`)."""
    headers: list[tuple[str, str]] = []
    if error.code == 413:
        message, kind = f"the request body is larger than the limit max_body_bytes ({options.max_body_bytes} bytes)", \
            "payload_too_large"
    elif error.code == 431:
        message, kind = "the request's header is too large", "headers_too_large"
    elif error.code == 501:
        message, kind = "only the chunked Transfer-Encoding is supported", "not_implemented"
    elif error.code == 400:
        message, kind = f"malformed HTTP request: {error.body}", "bad_request"
    elif error.code in (408, 503, 504):
        message, kind = str(error.body), "busy" if error.code == 503 else "timeout"
        if isinstance(error, ServerBusy):
            headers.append(("Retry-After", str(error.retry_after)))
    else:
        message, kind = "internal error; see the server log", "server_error"  # never a traceback
    if openai:
        openai_type = "invalid_request_error" if error.code < 500 else "server_error"
        return {"error": {"message": message, "type": openai_type, "param": None, "code": kind}}, headers
    return {"error": {"message": message, "type": kind}}, headers


def error_response(error: Error, options: ServingOptions) -> bytes:
    """A whole HTTP/1.1 response for `error`, for places where no task writes one."""
    body, headers = error_body(error, options)
    payload = json.dumps(body).encode()
    lines = [f"HTTP/1.1 {error.code} {error.reason}", "Content-Type: application/json",
             f"Content-Length: {len(payload)}", "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class JsonErrorTask(ErrorTask):
    """waitress's error answer (400, 408, 413, 431, 501, 503, 500) with our JSON body; closes,
    lingering so that a client still sending its body gets to read the answer."""

    def execute(self) -> None:
        self.channel.linger_on_close = True
        error = self.request.error
        openai = str(getattr(self.request, "path", None) or "").startswith(OPENAI_PREFIX)  # none when unparsed
        body, headers = error_body(error, self.channel.server.options, openai)
        payload = json.dumps(body).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), *headers])
        self.set_close_on_finish()
        self.content_length = len(payload)
        self.write(payload)


class BoundedChunkedReceiver(ChunkedReceiver):
    """waitress's chunked body reader, refusing a chunk-size line or trailer over a small limit.

    waitress keeps an unfinished line whole and copies and searches it again on every read, so
    an endless one costs time growing with the square of its length. Each read hands over at
    most `recv_bytes`, so checking what is left unfinished after each one bounds both.
    """

    error: Error | None
    control_line: bytes
    trailer: bytes

    def received(self, s: bytes) -> int:
        consumed = super().received(s)
        if self.error is None:
            if len(self.control_line) > MAX_CHUNK_LINE_BYTES:
                self.error = BadRequest(f"a chunk-size line is longer than {MAX_CHUNK_LINE_BYTES} bytes")
            elif len(self.trailer) > MAX_TRAILER_BYTES:
                self.error = BadRequest(f"the chunked trailer is longer than {MAX_TRAILER_BYTES} bytes")
            if self.error is not None:
                self.all_chunks_received = True
        return consumed


class StrictRequestParser(HTTPRequestParser):
    """waitress's parser, refusing a request framed two ways (a request-smuggling vector), and
    reading chunked bodies with bounded framing."""

    body_rcv: Any  # waitress's, untyped there
    body_values: ReadBody | None = None  # the body as read to find the model it names (body_models.py)

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if isinstance(self.body_rcv, ChunkedReceiver):
            self.body_rcv = BoundedChunkedReceiver(self.body_rcv.buf)
        # waitress drops TRANSFER_ENCODING from the headers once it has set up chunked reading
        framed_by_transfer_encoding = self.chunked or "TRANSFER_ENCODING" in self.headers
        if framed_by_transfer_encoding and "CONTENT_LENGTH" in self.headers:
            raise ParsingError(
                "a request may not carry both Transfer-Encoding and Content-Length (RFC 9112 section 6.1)"
            )
