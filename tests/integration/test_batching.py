"""Batching (`diffusion.max_batch`): requests of one shape queued for a ControlNet or text-to-image
run as one pipeline call, each still answered the image its seed gives it alone.

Which requests share a batch is made certain, not left to timing: the test holds the model's
turn (its run lock) while the requests queue, then lets go; the request that gets the turn
takes every request of its shape waiting then. A spy around the pipeline records each call's
prompts, so a test sees the batches that ran.

"The image it gets alone": a batch changes the CPU kernels' rounding. The UNet's and the
ControlNet's timestep path runs small matrix products whose row count is the batch (2 alone with
guidance, 2N in a batch of N), and the CPU GEMM rounds a row differently at 2 rows than at 4 or
more (~5e-7); the float image moves by ~1e-6, a few 8-bit values by one level. The tests hold every
answer to at most that one level (MAX_LEVELS) and most values exactly equal.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.batching import CONTROLNET, SD15, STEPS, Server, assert_same_image, controlnet_body
from support.waiting import wait_until


@pytest.fixture(scope="module")
def control_ref(public_dir: Path) -> str:
    edges = (np.random.default_rng(21).random((64, 64)) > 0.85).astype(np.uint8) * 255
    Image.fromarray(edges).convert("RGB").save(public_dir / "examples" / "batch-control-64.png")
    return "public/examples/batch-control-64.png"


@pytest.fixture(scope="module")
def server(tiny_root: Path, public_dir: Path) -> Server:
    return Server(tiny_root, public_dir, max_batch=4)


@pytest.mark.parametrize("size", [2, 4])
def test_a_batch_gives_each_request_the_image_its_seed_gives_it_alone(server, control_ref, size):
    bodies = [controlnet_body(control_ref, seed) for seed in range(1, size + 1)]
    bodies[-1]["negative_prompt"] = "blurry"  # one request's own negative prompt, the others none
    references = [server.alone(CONTROLNET, body) for body in bodies]
    assert not any(np.array_equal(references[0], other) for other in references[1:]), "seeds drew the same image"

    with server.spied(CONTROLNET) as spy:
        server.queued_together(CONTROLNET, bodies)
        answers = server.answered()
    assert spy.calls == [size], f"ran as calls of {spy.calls} prompts, not one batch of {size}"
    for index, ((status, body), reference) in enumerate(zip(answers, references, strict=True)):
        assert status == 200, body
        assert_same_image(server.image(body), reference, f"request {index} of a batch of {size}")


def test_text_to_image_batches_too(server):
    bodies = [{"text": f"a red fox {seed}", "seed": seed, "num_inference_steps": STEPS, "width": 64, "height": 64}
              for seed in (7, 8)]
    references = [server.alone(SD15, body) for body in bodies]
    with server.spied(SD15) as spy:
        server.queued_together(SD15, bodies)
        answers = server.answered()
    assert spy.calls == [2]
    for (status, body), reference in zip(answers, references, strict=True):
        assert status == 200, body
        assert_same_image(server.image(body), reference, "text-to-image in a batch of 2")


def test_requests_of_different_shapes_run_in_separate_calls(server, control_ref):
    """Two 64x64 two-step requests batch; a 3-step one and a 128x128 one each run alone."""
    bodies = [controlnet_body(control_ref, 1), controlnet_body(control_ref, 2),
              controlnet_body(control_ref, 3, num_inference_steps=STEPS + 1),
              controlnet_body(control_ref, 4, width=128, height=128)]
    with server.spied(CONTROLNET) as spy:
        server.queued_together(CONTROLNET, bodies)
        answers = server.answered()
    assert sorted(spy.calls) == [1, 1, 2], spy.calls
    assert all(status == 200 for status, _ in answers), answers
    assert server.image(answers[3][1]).shape == (128, 128, 3)


def test_a_request_cancelled_while_queued_leaves_and_the_rest_batch(server, control_ref):
    bodies = [controlnet_body(control_ref, seed) for seed in (1, 2, 3)]
    ids = ["batch-a", "batch-b", "batch-c"]
    references = [server.alone(CONTROLNET, body) for body in bodies]
    client = server.app.test_client()
    run_lock = server.runtime.slots.run_lock(CONTROLNET)
    with server.spied(CONTROLNET) as spy:
        with run_lock:
            server.queue(CONTROLNET, bodies, ids)
            assert client.delete("/admin/requests/batch-b").get_json()["stopped"] is True
            assert server.runtime.admission.boards.of(CONTROLNET).waiting() == 2
        answers = server.answered()
    assert spy.calls == [2]
    assert answers[1][0] == 409, answers[1]
    for index in (0, 2):
        assert answers[index][0] == 200, answers[index]
        assert_same_image(server.image(answers[index][1]), references[index], f"request {ids[index]}")


def test_cancelling_one_request_of_a_running_batch_answers_it_at_once_and_the_others_finish(server, control_ref):
    bodies = [controlnet_body(control_ref, seed) for seed in (4, 5)]
    ids = ["running-a", "running-b"]
    references = [server.alone(CONTROLNET, body) for body in bodies]
    client = server.app.test_client()
    with server.spied(CONTROLNET) as spy:
        spy.hold.clear()
        server.queued_together(CONTROLNET, bodies, ids)
        assert spy.entered.wait(60), "the batch never started"
        listed = {entry["request_id"] for entry in client.get("/admin/requests").get_json()["requests"]}
        assert set(ids) <= listed, f"/admin/requests shows {listed} while both run"
        assert client.get(f"/status/{CONTROLNET}").get_json()["queue"] == 2  # both requests of the running batch
        cancel = client.delete("/admin/requests/running-a").get_json()
        assert cancel["stopped"] is True, cancel  # answered while the batch is still held
        assert not server.answers[1], "the other request ended with the cancelled one"
        spy.hold.set()
        answers = server.answered()
    assert spy.calls == [2]
    assert answers[0][0] == 409, answers[0]
    assert answers[1][0] == 200, answers[1]
    assert_same_image(server.image(answers[1][1]), references[1], "the request left running")


def test_requests_past_their_deadline_in_a_running_batch_are_answered_504_and_the_batch_stops(
        tiny_root, public_dir, control_ref):
    """The held batch outlives both requests' request_timeout: each answers 504 on its own, the
    batch stops at its first step once nobody waits for it, and the model serves the next request."""
    timeout = 3.0
    short = Server(tiny_root, public_dir, max_batch=2, limits={"request_timeout": timeout})
    bodies = [controlnet_body(control_ref, seed) for seed in (10, 11)]
    with short.spied(CONTROLNET) as spy:
        spy.hold.clear()
        short.queued_together(CONTROLNET, bodies)
        assert spy.entered.wait(60), "the batch never started"
        wait_until(lambda: all(short.answers), 60, "both requests answered while their batch is held")
        assert [status for status, _ in short.answers] == [504, 504], short.answers
        spy.hold.set()
        wait_until(lambda: not short.runtime.slots.run_lock(CONTROLNET).locked(), 60, "the batch gave the turn back")
        assert short.runtime.view(CONTROLNET).running is False
    short.alone(CONTROLNET, bodies[0])


def test_a_batch_that_runs_out_of_memory_runs_its_requests_one_by_one(server, control_ref):
    bodies = [controlnet_body(control_ref, seed) for seed in (6, 7)]
    references = [server.alone(CONTROLNET, body) for body in bodies]
    with server.spied(CONTROLNET) as spy:
        spy.out_of_memory_above = 1
        server.queued_together(CONTROLNET, bodies)
        answers = server.answered()
    assert spy.calls == [2, 1, 1]
    for index, ((status, body), reference) in enumerate(zip(answers, references, strict=True)):
        assert status == 200, body
        assert np.array_equal(server.image(body), reference), f"request {index}, run alone after the batch failed"


def test_a_batch_with_the_step_cache_gives_each_request_its_image_alone(tiny_root, public_dir, control_ref):
    """The step cache keeps the deep features of the run: a batch's are the batch's, step by step."""
    cached = Server(tiny_root, public_dir, max_batch=2, step_cache_interval=2)
    bodies = [controlnet_body(control_ref, seed, num_inference_steps=4) for seed in (8, 9)]
    references = [cached.alone(CONTROLNET, body) for body in bodies]
    with cached.spied(CONTROLNET) as spy:
        cached.queued_together(CONTROLNET, bodies)
        answers = cached.answered()
    assert spy.calls == [2]
    for index, ((status, body), reference) in enumerate(zip(answers, references, strict=True)):
        assert status == 200, body
        assert_same_image(cached.image(body), reference, f"request {index} of a step-cached batch")


def test_a_batching_model_admits_a_whole_batch_even_under_a_smaller_max_queue_per_model(tiny_root, public_dir,
                                                                                         control_ref):
    small = Server(tiny_root, public_dir, max_batch=2, limits={"max_queue_per_model": 1})
    with small.spied(CONTROLNET) as spy:
        small.queued_together(CONTROLNET, [controlnet_body(control_ref, seed) for seed in (12, 13)])
        answers = small.answered()
    assert [status for status, _ in answers] == [200, 200], answers
    assert spy.calls == [2]


def test_max_batch_1_runs_every_request_alone(tiny_root, public_dir, control_ref):
    server = Server(tiny_root, public_dir, max_batch=1)
    with server.spied(CONTROLNET) as spy:
        bodies = [controlnet_body(control_ref, seed) for seed in (1, 2, 3)]
        threads = [threading.Thread(target=server.alone, args=(CONTROLNET, body)) for body in bodies]
        with server.runtime.slots.run_lock(CONTROLNET):
            for thread in threads:
                thread.start()
            wait_until(lambda: server.runtime.view(CONTROLNET).queue == 3, 60, "3 requests queued")
        for thread in threads:
            thread.join(timeout=120)
    assert spy.calls == [1, 1, 1]
