"""Exceptions that carry their HTTP status, so one error handler maps them all to JSON."""

from __future__ import annotations

from typing import Any


class ServerError(Exception):
    """Base of every error a request can end in; `status` is the HTTP status code."""

    status = 500
    kind = "server_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, **self.details}}


class BadInput(ServerError):
    """The request is wrong: a missing field, a wrong type, an unreadable resource."""

    status = 400
    kind = "bad_input"


class Unauthorized(ServerError):
    """No valid API key where only a key can let the request in."""

    status = 401
    kind = "unauthorized"


class Forbidden(ServerError):
    status = 403
    kind = "forbidden"


class NotFound(ServerError):
    status = 404
    kind = "not_found"


class PayloadTooLarge(ServerError):
    status = 413
    kind = "payload_too_large"


class NotReady(ServerError):
    """The model exists but cannot serve now (loading, failed, disabled, busy)."""

    status = 503
    kind = "not_ready"


class Busy(NotReady):
    """The model's queue is full; the client should retry after `Retry-After` seconds."""

    kind = "busy"


class Cancelled(ServerError):
    """The request was cancelled (a person asked, or its client left) before it finished."""

    status = 409
    kind = "cancelled"


class TimedOut(ServerError):
    status = 504
    kind = "timeout"


class InferenceFailed(ServerError):
    """The model raised while running; the message is the exception's."""

    status = 500
    kind = "inference_failed"


class Unsupported(ServerError):
    """This server's engine cannot do what the route asks (it names the way that works)."""

    status = 501
    kind = "unsupported"


class WeightsMissing(Exception):
    """A model's weights are not on disk; the message says where they were looked for."""


class ConfigError(Exception):
    """A setting is wrong; the message names the key and what it should be."""
