"""The Stable Diffusion pipelines under concurrency: no answer fails or changes because another model runs.

The eight ControlNet pipelines and text-to-image share one SD1.5 base (UNet, VAE, text encoder);
each model has its own lock, so requests to different models run on the shared modules at the
same time. Anything a call changes in a shared component turns into failed or silently different
answers under load: a shared fast tokenizer did (every call sets its padding and truncation).

Requests go out in waves: one client thread per request, released together by a barrier, so the
nine pipelines encode their prompts at the same moment in every wave, which is when sharing bites.

"The same image" means the same PNG pixels, exactly. The tiny models run on the CPU; a request
with a seed draws its noise from a CPU generator of its own; torch's CPU kernels split their work
by the configured thread count, not by what else is running. So an image made alongside others is
computed by the same operations in the same order as one made alone, and no bit may differ. (On a
GPU, kernels that accumulate with atomics may differ in the last bits; this suite runs on the CPU.)
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from PIL import Image
from support.concurrent_clients import Answer, Request, post_together

from models_server.catalog.minimal import CONTROLNET_KINDS

CONTROLNETS = [f"lllyasviel/sd-controlnet-{kind}" for kind in CONTROLNET_KINDS]
TEXT_TO_IMAGE = "runwayml/stable-diffusion-v1-5"
SD_PIPELINES = [*CONTROLNETS, TEXT_TO_IMAGE]
CONTROL_REF = "public/examples/control-64.png"
STRESS_WAVES = 20  # x 9 pipelines = 180 requests; the shared tokenizer failed or changed ~10 % of them
ROUNDS = 3
PROMPT = "a house by a lake"


@pytest.fixture(scope="module")
def control_ref(served) -> str:
    """A 64x64 control map, so the ControlNets generate at 64x64 without being told a size."""
    edges = (np.random.default_rng(13).random((64, 64)) > 0.85).astype(np.uint8) * 255
    Image.fromarray(edges).convert("RGB").save(served.public_dir / "examples" / "control-64.png")
    return CONTROL_REF


def long_prompt(limit: int) -> str:
    """A prompt of exactly `limit` characters: far past CLIP's 77 tokens, so it must be cut."""
    words = itertools.cycle(["a", "watercolour", "of", "the", "old", "harbour", "at", "dawn", "with", "gulls"])
    text = ""
    while len(text) < limit:
        text += next(words) + " "
    return text[:limit]


def sd_request(model_id: str, control_ref: str, prompt: str, seed: int, steps: int = 2) -> Request:
    """64x64 with a seed; text-to-image is told the size, ControlNets take the control map's."""
    body: dict[str, Any] = {"text": prompt, "num_inference_steps": steps, "seed": seed}
    extra = {"width": 64, "height": 64} if model_id == TEXT_TO_IMAGE else {"img_url": control_ref}
    return model_id, body | extra


def pixels(served, answer: Answer) -> np.ndarray:
    status, body = answer
    assert status == 200, body
    with Image.open(served.public_dir / body["path"].lstrip("/")) as image:
        return np.asarray(image.convert("RGB")).copy()


def alone(served, client, request: Request) -> np.ndarray:
    """The image `request` gives when nothing else runs."""
    model_id, body = request
    response = client.post(f"/models/{model_id}", json=body)
    return pixels(served, (response.status_code, response.get_json()))


def check_rounds(served, requests: dict[str, Request], reference: dict[str, np.ndarray]) -> None:
    """ROUNDS times, every request at once: each image equals the one it gave alone."""
    names = list(requests)
    for round_number in range(ROUNDS):
        answers = post_together(served.app, [requests[name] for name in names])
        for name, answer in zip(names, answers, strict=True):
            assert np.array_equal(pixels(served, answer), reference[name]), (
                f"round {round_number}: {name} alongside the others differs from its image alone"
            )


def test_waves_of_all_sd_pipelines_with_short_and_maximum_prompts_all_answer_their_own_image(
    served, client, control_ref
):
    """180 one-step requests in waves of nine (one per pipeline), short and max_prompt_chars prompts mixed.

    Every answer must be 200 and the very image that pipeline gives that prompt alone: a prompt
    encoded with another request's tokenizer settings either fails ("Expected size 2 but got
    size 77", "Sequence length must be less than max_position_embeddings") or, worse, succeeds
    with the wrong conditioning.
    """
    prompts = ["a cat", long_prompt(served.settings.limits.max_prompt_chars)]
    requests = {
        (model_id, which): sd_request(model_id, control_ref, prompt, seed=3, steps=1)  # prompts race, not steps
        for model_id in SD_PIPELINES
        for which, prompt in enumerate(prompts)
    }
    reference = {key: alone(served, client, request) for key, request in requests.items()}

    failed: list[str] = []
    for wave in range(STRESS_WAVES):
        # half the pipelines get the short prompt and half the long one, alternating per wave
        keys = [(model_id, (wave + index) % 2) for index, model_id in enumerate(SD_PIPELINES)]
        for key, (status, body) in zip(keys, post_together(served.app, [requests[key] for key in keys]), strict=True):
            if status != 200:
                failed.append(f"{key}: {status} {body['error']['message'][:160]}")
            elif not np.array_equal(pixels(served, (status, body)), reference[key]):
                failed.append(f"{key}: a different image than alone")
    total = STRESS_WAVES * len(SD_PIPELINES)
    assert not failed, f"{len(failed)} of {total} requests failed or changed, e.g. {failed[:4]}"


def test_each_controlnet_kind_gives_its_own_image_alone_or_alongside_the_others(served, client, control_ref):
    requests = {model_id: sd_request(model_id, control_ref, PROMPT, seed=5) for model_id in CONTROLNETS}
    reference = {name: alone(served, client, request) for name, request in requests.items()}
    for first, second in itertools.combinations(CONTROLNETS, 2):
        assert not np.array_equal(reference[first], reference[second]), (
            f"{first} and {second} drew the same image: a request served by the wrong ControlNet would pass"
        )
    check_rounds(served, requests, reference)


def test_one_kind_with_different_seeds_gives_distinct_images_alone_or_queued_together(served, client, control_ref):
    """Eight seeds to one ControlNet at once (they queue on its lock, in any order), and text-to-image."""
    canny = CONTROLNETS[0]
    requests = {f"{canny} seed {seed}": sd_request(canny, control_ref, PROMPT, seed) for seed in range(1, 9)}
    requests[f"{TEXT_TO_IMAGE} seed 1"] = sd_request(TEXT_TO_IMAGE, control_ref, PROMPT, seed=1)
    reference = {name: alone(served, client, request) for name, request in requests.items()}
    for first, second in itertools.combinations([name for name in requests if name.startswith(canny)], 2):
        assert not np.array_equal(reference[first], reference[second]), f"{first} and {second} drew the same image"
    check_rounds(served, requests, reference)
