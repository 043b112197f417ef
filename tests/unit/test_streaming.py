"""A streamed answer read late: the parts the model made while nobody read are sent once each."""

from __future__ import annotations

import json
import math
import threading

from models_server.errors import Cancelled
from models_server.pipeline.streaming import PartStream, run_streamable
from models_server.progress import Job, partials_receiver, report_partial, tracking
from models_server.protocols.base import Call, Encoded
from models_server.protocols.openai.chat import EVENT_STREAM, Answer, EventStream
from models_server.tasks.transformers.chat import TextPiece

PIECES = ["Once", " upon", " a", " time"]


def test_the_rest_of_a_stream_read_after_the_run_repeats_no_piece():
    run_over = threading.Event()

    def answer(announce) -> Encoded:
        """As a chat handler on its model's thread: each piece reported, then the whole result encoded."""
        events = EventStream(Answer(True, "m", "m"), usage_chunk=False)
        call = Call({}, lambda results: Encoded(events.rest(results), EVENT_STREAM), stream=events)
        announce(call)
        with tracking(Job("m", math.inf, partial=partials_receiver())):
            report_partial(TextPiece("", first=True))
            for piece in PIECES:
                report_partial(TextPiece(piece))
        result = {"text": "".join(PIECES), "pieces": PIECES, "finish_reason": "stop", "prompt_tokens": 1,
                  "completion_tokens": len(PIECES)}
        try:
            return call.encode([result])
        finally:
            run_over.set()

    stream = run_streamable(answer)
    assert isinstance(stream, PartStream)
    assert run_over.wait(30)  # the whole run is over before the reader reads a second part
    events = b"".join(stream).decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks) == "".join(PIECES)
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks][-1] == "stop"


def test_an_error_after_the_stream_began_ends_it_with_an_error_event():
    """OpenAI's SDK raises an `error` event's message; the stream's status line was already sent."""

    def answer(announce) -> Encoded:
        events = EventStream(Answer(False, "m", "m"), usage_chunk=False)
        announce(Call({}, lambda results: Encoded(events.rest(results), EVENT_STREAM), stream=events))
        with tracking(Job("m", math.inf, partial=partials_receiver())):
            report_partial(TextPiece("", first=True))
            report_partial(TextPiece("Once"))
            raise Cancelled("request r was cancelled: by a person", request_id="r")

    stream = run_streamable(answer)
    assert isinstance(stream, PartStream)
    events = b"".join(stream).decode().split("\n\n")
    assert json.loads(events[0].removeprefix("data: "))["choices"][0]["text"] == "Once"
    assert json.loads(events[1].removeprefix("data: ")) == {"error": {
        "message": "request r was cancelled: by a person", "type": "cancelled", "param": None, "code": "cancelled"}}
    assert events[2:] == ["data: [DONE]", ""]
