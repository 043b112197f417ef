"""Sending requests at the same moment: one test client per thread, all released by one barrier."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

Request = tuple[str, dict[str, Any]]  # (model id, JSON body)
Answer = tuple[int, dict[str, Any]]  # (status, JSON answer)


def post_together(app: Flask, requests: list[Request]) -> list[Answer]:
    """Each request from a client thread of its own, all released at once; answers in request order.

    Different models run concurrently (each has its own lock), so requests to different models
    released together meet inside the shared components they use.
    """
    answers: list[Answer | None] = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def post(index: int) -> None:
        client = app.test_client()
        model_id, body = requests[index]
        start.wait(timeout=60)
        response = client.post(f"/models/{model_id}", json=body)
        answers[index] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=post, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    missing = [requests[index][0] for index, answer in enumerate(answers) if answer is None]
    assert not missing, f"no answer for {missing}"
    return answers  # type: ignore[return-value]
