"""The OpenAPI pieces for what a person reads to steer the server: each device's memory in
`/status`, and the requests being served (`GET /admin/requests`)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
_BYTES = {"type": "integer"}
_MAYBE_BYTES = {"type": ["integer", "null"]}

DEVICE_MEMORY = {
    "type": "object",
    "description": "One device (cpu, cuda:0, ...); null where the device has no such figure.",
    "required": ["models_bytes"],
    "properties": {
        "models_bytes": {**_BYTES, "description": "weights of the served models on it, a shared tensor once"},
        "allocated_bytes": {**_MAYBE_BYTES, "description": "torch.cuda.memory_allocated; null on the CPU"},
        "reserved_bytes": {**_MAYBE_BYTES, "description": "torch.cuda.memory_reserved; on the CPU the server "
                                                          "process's resident set (RSS)"},
        "free_bytes": {**_MAYBE_BYTES, "description": "torch.cuda.mem_get_info's free; null on the CPU"},
        "total_bytes": {**_MAYBE_BYTES, "description": "torch.cuda.mem_get_info's total; null on the CPU"},
    },
}

MEMORY = {"type": "object", "additionalProperties": DEVICE_MEMORY,
          "description": "Per device: what the models hold, and what torch and the driver say."}

IN_FLIGHT = {
    "type": "object",
    "required": ["requests"],
    "properties": {"requests": {"type": "array", "items": {
        "type": "object",
        "properties": {
            "request_id": {"type": "string", "description": "its X-Request-ID: DELETE /admin/requests/<it> cancels it"},
            "model": {"type": ["string", "null"], "description": "the model its path names (null: named in the body)"},
            "path": {"type": "string"},
            "age": {"type": "number", "description": "seconds since it came in"},
            "cancelled": {"type": "boolean", "description": "cancelled, and not yet stopped"},
        },
    }}},
}


def requests_in_flight(error: dict[str, Any]) -> dict[str, Any]:
    """`GET /admin/requests`; `error`: the 403 answer as the document words it."""
    return {
        "operationId": "requestsInFlight",
        "summary": "The requests being served (every POST, queued or running), oldest first.",
        "responses": {"200": {"description": "The requests in flight.", "content": {JSON: {"schema": IN_FLIGHT}}},
                      "403": error},
    }
