"""The tiny image-to-text generators write words, and the controller chains them.

The controller hands a caption to the next task only through `generated text`; an empty caption
makes it post an empty prompt (or its `<GENERATED>-0` placeholder) to text-to-video. So every
generator row (captioners, OCR, generative VQA, Donut) must answer readable text on ordinary
photos, through the server's own request path.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from support.answers import post

from models_server.catalog import catalog_rows
from models_server.tasks.transformers import document_qa, vision_text

# The tiny families whose rows write their answer token by token.
GENERATORS = {
    "vision-encoder-decoder", "blip-captioning", "blip-vqa", "git-vqa", "trocr", "manga-ocr", "donut-base",
    "donut-docvqa", "donut-refexp", "pix2struct", "blip2-opt",
}
PHOTOS = ("public/examples/photo.jpg", "public/examples/cat.jpg")
QUESTION = "What is in the picture?"


def generator_rows() -> list[Any]:
    return [row for row in catalog_rows() if row.weights and row.weights[0].family in GENERATORS]


def answer_text(row: Any, result: Any) -> str:
    if row.task is vision_text.CAPTION:
        return result["generated text"]
    return result[0]["answer"]


@pytest.mark.slow
@pytest.mark.parametrize("row", generator_rows(), ids=lambda row: row.id)
def test_every_tiny_generator_answers_readable_text(client, row: Any) -> None:
    assert row.task in (vision_text.CAPTION, vision_text.ANSWER, document_qa.ANSWER_DOCUMENT)
    for photo in PHOTOS:
        text = None if row.task is vision_text.CAPTION else QUESTION
        text_out = answer_text(row, post(client, row.id, {"img_url": photo, "text": text}))
        assert text_out.strip(), f"{row.id} answered {text_out!r} for {photo}"
        assert "\ufffd" not in text_out and text_out.isprintable()


def test_the_generator_families_are_all_served() -> None:
    """A family renamed in the catalog would silently drop its rows from the test above."""
    assert {row.weights[0].family for row in generator_rows()} == GENERATORS


# --- the controller's chain: image-to-text, then text-to-video on its caption --------------------


def controller_request(task: str, args: dict[str, str]) -> dict[str, Any]:
    """The body the controller posts for `task` (awesome_chat.py's local inference)."""
    if task == "image-to-text":
        return {"img_url": args["image"], "text": args.get("text")}
    return dict(args)


def substitute_generated(args: dict[str, str], deps: list[int], results: dict[int, Any]) -> dict[str, str]:
    """`<GENERATED>-N` in a task's text replaced as the controller's `run_task` does: first with
    task N's `generated text` when it has that key, then with any dependency's `generated text`
    (or, failing that, its own `text` argument), but only when that text is truthy."""
    args = copy.deepcopy(args)
    if "text" in args and "<GENERATED>-" in args["text"]:
        source = results[int(args["text"].split("-")[1])]
        if "generated text" in source["inference result"]:
            args["text"] = source["inference result"]["generated text"]
    text = None
    for dep in deps:
        if "generated text" in results[dep]["inference result"]:
            text = results[dep]["inference result"]["generated text"]
        elif "text" in results[dep]["task"]["args"]:
            text = results[dep]["task"]["args"]["text"]
    if "text" in args and "<GENERATED>" in args["text"] and text:
        args["text"] = text
    return args


@pytest.mark.slow
def test_a_caption_chains_into_text_to_video(client, served) -> None:
    """"Describe this photo, then make a video of it": the controller's plan for it, run as it runs it."""
    plan = [
        {"id": 0, "task": "image-to-text", "model": "nlpconnect/vit-gpt2-image-captioning", "dep": [-1],
         "args": {"image": "public/examples/photo.jpg"}},
        {"id": 1, "task": "text-to-video", "model": "damo-vilab/text-to-video-ms-1.7b", "dep": [0],
         "args": {"text": "<GENERATED>-0"}},
    ]
    results: dict[int, Any] = {}
    sent: dict[int, dict[str, Any]] = {}
    for task in plan:
        deps = [dep for dep in task["dep"] if dep != -1]
        args = substitute_generated(task["args"], deps, results)
        sent[task["id"]] = controller_request(task["task"], args)
        if task["task"] == "text-to-video":  # small and quick on the tiny pipeline
            sent[task["id"]].update(num_frames=2, num_inference_steps=1, seed=1)
        result = post(client, task["model"], sent[task["id"]])
        if "path" in result:
            result["generated video"] = result.pop("path")
        results[task["id"]] = {"task": {**task, "args": args}, "inference result": result}
    caption = results[0]["inference result"]["generated text"]
    prompt = sent[1]["text"]
    assert caption.strip() and prompt == caption  # the video is made from the caption, not a placeholder
    video = results[1]["inference result"]["generated video"]
    assert video.startswith("/videos/") and (served.public_dir / video.lstrip("/")).stat().st_size > 0
