"""Text-to-video through the HTTP route, and the mp4 writer on its own."""

import io

import av
import numpy as np
import pytest

from models_server.media import Video
from models_server.media.video import write_mp4


def decode(data) -> tuple[str, str, list[np.ndarray]]:
    with av.open(data) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        return stream.codec_context.name, stream.codec_context.pix_fmt, frames


def test_write_mp4_encodes_browser_playable_h264():
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(6)]
    buffer = io.BytesIO()
    write_mp4(Video(frames=frames, fps=8.0), buffer)
    buffer.seek(0)
    codec, pixel_format, decoded = decode(buffer)
    assert (codec, pixel_format) == ("h264", "yuv420p")
    assert len(decoded) == 6 and decoded[0].shape == (48, 64, 3)
    assert [round(float(f.mean())) for f in decoded] == pytest.approx([40 * i for i in range(6)], abs=3)


def test_write_mp4_pads_odd_sizes_to_even():
    buffer = io.BytesIO()
    write_mp4(Video(frames=[np.zeros((33, 45, 3), np.uint8)] * 2), buffer)
    buffer.seek(0)
    assert decode(buffer)[2][0].shape == (34, 46, 3)


def test_write_mp4_refuses_frames_of_different_sizes():
    frames = [np.zeros((32, 32, 3), np.uint8), np.zeros((16, 16, 3), np.uint8)]
    with pytest.raises(ValueError, match="differ"):
        write_mp4(Video(frames=frames), io.BytesIO())


@pytest.mark.slow
def test_text_to_video_writes_an_mp4_with_the_frames_asked_for(client, served):
    body = {"text": "a cat playing piano", "num_frames": 3, "num_inference_steps": 2, "seed": 3}
    response = client.post("/models/damo-vilab/text-to-video-ms-1.7b", json=body)
    assert response.status_code == 200, response.get_json()
    path = response.get_json()["path"]
    assert path.startswith("/videos/") and path.endswith(".mp4")
    codec, _, frames = decode(str(served.public_dir / path.lstrip("/")))
    assert codec == "h264" and len(frames) == 3 and frames[0].shape == (32, 32, 3)


def test_text_to_video_frames_are_capped_by_max_frames(client, served):
    too_many = served.settings.limits.max_frames + 1
    body = {"text": "a", "num_frames": too_many}
    response = client.post("/models/damo-vilab/text-to-video-ms-1.7b", json=body)
    assert response.status_code == 400 and "max_frames" in response.get_json()["error"]["message"]


def test_text_to_video_reads_its_fp16_variant_at_half_precision(tiny_root):
    """The repo holds fp16 files beside the full ones (diffusers loads it with variant="fp16"):
    a half-precision server reads those."""
    import torch
    from safetensors.torch import load_file

    from models_server.tasks.diffusers.stable_diffusion import fp16_variant
    from models_server.tasks.diffusers.video import load_text_to_video
    from models_server.tasks.loading import LoadContext

    folder = tiny_root / "damo-vilab/text-to-video-ms-1.7b"
    assert fp16_variant(folder / "unet", torch.float16) == "fp16"
    assert fp16_variant(folder / "unet", torch.float32) is None
    pipe = load_text_to_video(LoadContext("damo-vilab/text-to-video-ms-1.7b", (folder,), "cpu", torch.float16))
    saved = load_file(folder / "unet/diffusion_pytorch_model.fp16.safetensors")
    loaded = pipe.unet.state_dict()
    assert all(loaded[key].dtype == torch.float16 and torch.equal(loaded[key], value) for key, value in saved.items())
