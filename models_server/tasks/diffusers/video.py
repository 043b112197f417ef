"""Text-to-video with diffusers' TextToVideoSDPipeline (ModelScope's damo-vilab model).

The handler returns frames as a `media.Video`; the app encodes the mp4 and names the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from models_server.media import Video
from models_server.progress import legacy_callback
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.diffusers.stable_diffusion import fp16_variant, generator

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext

FPS = 8.0  # the rate the model's clips were trained at


def load_text_to_video(ctx: LoadContext) -> Any:
    """The whole pipeline from its repo folder; fp16 files are read when the dtype is half."""
    from diffusers import TextToVideoSDPipeline

    folder = ctx.weight_dirs[0]
    pipe = TextToVideoSDPipeline.from_pretrained(
        folder, dtype=ctx.dtype, variant=fp16_variant(folder / "unet", ctx.dtype)
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(ctx.device)


def generate_video(pipe: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Video:
    """A clip of `num_frames` frames for the prompt, as uint8 RGB frames."""
    import numpy as np

    result = pipe(
        inputs["text"],
        num_frames=params["num_frames"],
        num_inference_steps=params["num_inference_steps"],
        guidance_scale=params["guidance_scale"],
        negative_prompt=params.get("negative_prompt"),
        generator=generator(params),
        output_type="np",
        callback=legacy_callback(params["num_inference_steps"]),
        callback_steps=1,
    )
    clip = np.asarray(result.frames[0])  # (frames, height, width, 3) floats in [0, 1]
    frames = (clip.clip(0, 1) * 255).round().astype(np.uint8)
    return Video(frames=list(frames), fps=FPS)


TEXT_TO_VIDEO = Task(contracts.TEXT_TO_VIDEO, generate_video)
