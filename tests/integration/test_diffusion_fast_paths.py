"""The diffusion fast paths (`diffusion:` settings), each through the server's request path on the
tiny SD1.5 base, a ControlNet and TAESD: the same seed gives the same image with the path on, a
compile that fails leaves the model serving eagerly, and the step cache really skips the deep blocks."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from support.answers import post, written
from support.serving import tiny_settings

from models_server.catalog import served_rows
from models_server.http.app import create_app
from models_server.runtime import Runtime
from models_server.tasks.diffusers.step_cache import StepCachedPipeline

CONTROLNET = "lllyasviel/sd-controlnet-canny"
SD15 = "runwayml/stable-diffusion-v1-5"
TAESD = "madebyollin/taesd"
STEPS = 5


@pytest.fixture(scope="module")
def control_ref(public_dir: Path) -> str:
    """A control map with edges in it (the tiny ControlNets react to its content)."""
    pattern = (np.indices((64, 64)).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)
    Image.fromarray(pattern).convert("RGB").save(public_dir / "examples" / "checks-64.png")
    return "public/examples/checks-64.png"


class Server:
    """A runtime of the SD rows under some `diffusion:` settings, and its test client."""

    def __init__(self, tiny_root: Path, public_dir: Path, tmp_path: Path, diffusion: dict[str, Any]) -> None:
        settings = tiny_settings(tiny_root, public_dir, diffusion=diffusion, cache_dir=tmp_path / "cache")
        rows = [row for row in served_rows(settings) if row.id in (CONTROLNET, SD15, TAESD)]
        self.runtime = Runtime(settings, rows)
        self.runtime.load_all()
        self.client = create_app(settings, self.runtime).test_client()
        self.public_dir = public_dir

    def image(self, model_id: str, body: dict[str, Any]) -> np.ndarray:
        with written(self.public_dir, post(self.client, model_id, body)["path"]) as image:
            return np.asarray(image.convert("RGB")).copy()

    def generations(self, control_ref: str) -> dict[str, np.ndarray]:
        """Both SD rows' image for seed 5 (text only, and along the control map)."""
        body = {"text": "a red fox", "seed": 5, "num_inference_steps": STEPS}
        return {
            SD15: self.image(SD15, body),
            CONTROLNET: self.image(CONTROLNET, {**body, "img_url": control_ref}),
        }


@pytest.fixture(scope="module")
def plain(tiny_root: Path, public_dir: Path, tmp_path_factory, control_ref: str) -> dict[str, np.ndarray]:
    server = Server(tiny_root, public_dir, tmp_path_factory.mktemp("plain"), {})
    return server.generations(control_ref)


SETTINGS = {
    "channels_last": {"channels_last": True},
    "tiny_vae": {"tiny_vae": True},
    "step_cache": {"step_cache_interval": 2},
    # a real torch.compile (dynamo traces the UNet and ControlNet) with a backend that needs no C++ toolchain
    "compile": {"compile": True, "compile_backend": "aot_eager"},
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_each_fast_path_serves_the_same_image_for_the_same_seed(tiny_root, public_dir, tmp_path, control_ref, plain,
                                                                name):
    server = Server(tiny_root, public_dir, tmp_path, SETTINGS[name])
    assert {row: server.runtime.view(row).state.value for row in (CONTROLNET, SD15)} == {
        CONTROLNET: "loaded", SD15: "loaded"}
    first, second = server.generations(control_ref), server.generations(control_ref)
    for model_id, image in first.items():
        assert image.shape == plain[model_id].shape
        assert np.array_equal(image, second[model_id]), f"{name}: {model_id} drew another image for the same seed"
        assert image.std() > 0, f"{name}: {model_id} drew a flat image"
    if name == "compile":
        for model_id in (CONTROLNET, SD15):
            assert type(server.runtime.model(model_id).unet).__name__ == "OptimizedModule"
        assert Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]) == tmp_path / "cache" / "torch-compile"
    if name == "tiny_vae":
        assert type(server.runtime.model(CONTROLNET).vae).__name__ == "AutoencoderTiny"
        # a different decoder draws a different picture of the same latents
        assert not np.array_equal(first[CONTROLNET], plain[CONTROLNET])


def test_a_failed_compile_leaves_the_model_eager_with_one_warning(tiny_root, public_dir, tmp_path, control_ref, plain,
                                                                   caplog):
    """An invalid backend name in the config: torch.compile refuses it; the model serves as if
    `compile` were off (the very same images) and the log says why, once per model."""
    with caplog.at_level(logging.WARNING, logger="models_server"):
        server = Server(tiny_root, public_dir, tmp_path, {"compile": True, "compile_backend": "no-such-backend"})
    warnings = [record.getMessage() for record in caplog.records if "torch.compile" in record.getMessage()]
    assert len(warnings) == 2, warnings
    assert all("InvalidBackend" in line and "\n" not in line for line in warnings)
    assert {model_id for model_id in (CONTROLNET, SD15) if any(model_id in line for line in warnings)} == {
        CONTROLNET, SD15}
    assert type(server.runtime.model(CONTROLNET).unet).__name__ == "UNet2DConditionModel"
    images = server.generations(control_ref)
    for model_id, image in images.items():
        assert np.array_equal(image, plain[model_id])


class Calls:
    """Counts the forward calls of modules (the first resnet of a block runs whenever the block does)."""

    def __init__(self, modules: dict[str, Any]) -> None:
        self.counts = dict.fromkeys(modules, 0)
        self.handles = [module.register_forward_hook(self._counter(name)) for name, module in modules.items()]

    def _counter(self, name: str):
        def count(*_: Any) -> None:
            self.counts[name] += 1
        return count

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


@pytest.fixture
def counted(tiny_root, public_dir, tmp_path) -> Iterator[tuple[Server, Calls]]:
    server = Server(tiny_root, public_dir, tmp_path, {"step_cache_interval": 2})
    pipeline = server.runtime.model(CONTROLNET)
    assert isinstance(pipeline, StepCachedPipeline)
    unet, controlnet = pipeline.unet, pipeline.controlnet
    calls = Calls({
        "unet shallow down": unet.down_blocks[0].resnets[0],
        "unet deep down": unet.down_blocks[1].resnets[0],
        "unet middle": unet.mid_block.resnets[0],
        "unet deep up": unet.up_blocks[0].resnets[0],
        "unet shallow up": unet.up_blocks[-1].resnets[0],
        "controlnet shallow down": controlnet.down_blocks[0].resnets[0],
        "controlnet middle": controlnet.mid_block.resnets[0],
    })
    yield server, calls
    calls.close()


def test_the_step_cache_runs_the_deep_blocks_on_every_other_step_only(counted, control_ref):
    server, calls = counted
    server.image(CONTROLNET, {"text": "a red fox", "seed": 5, "num_inference_steps": STEPS, "img_url": control_ref})
    full_steps = len(range(0, STEPS, 2))  # steps 0, 2, 4 run the whole UNet
    assert calls.counts == {
        "unet shallow down": STEPS, "unet deep down": full_steps, "unet middle": full_steps, "unet deep up": full_steps,
        "unet shallow up": STEPS, "controlnet shallow down": STEPS, "controlnet middle": full_steps,
    }


def test_the_step_cache_is_off_for_a_row_that_turns_it_off(tiny_root, public_dir, tmp_path, control_ref, plain):
    """Per row: `models.<id>.diffusion` overrides the section, and that row runs every block every
    step; its images are the plain ones."""
    settings = tiny_settings(tiny_root, public_dir, diffusion={"step_cache_interval": 2},
                             models={SD15: {"diffusion": {"step_cache_interval": 1}}})
    rows = [row for row in served_rows(settings) if row.id in (CONTROLNET, SD15)]
    runtime = Runtime(settings, rows)
    runtime.load_all()
    assert isinstance(runtime.model(CONTROLNET), StepCachedPipeline)
    assert not isinstance(runtime.model(SD15), StepCachedPipeline)
    client = create_app(settings, runtime).test_client()
    body = {"text": "a red fox", "seed": 5, "num_inference_steps": STEPS}
    with written(public_dir, post(client, SD15, body)["path"]) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), plain[SD15])


def test_taesd_serves_an_image_round_trip(tiny_root, public_dir, tmp_path, control_ref):
    server = Server(tiny_root, public_dir, tmp_path, {})
    image = server.image(TAESD, {"img_url": control_ref})
    assert image.shape == (64, 64, 3)


def test_compile_and_the_step_cache_together_draw_what_the_step_cache_draws_alone(tiny_root, public_dir, tmp_path,
                                                                                   control_ref):
    """The step cache's choice of step is made outside the compiled graphs: compiling changes
    nothing in which blocks run (a graph that froze one step's choice would draw another image)."""
    cached = Server(tiny_root, public_dir, tmp_path / "eager", {"step_cache_interval": 2}).generations(control_ref)
    both = Server(tiny_root, public_dir, tmp_path / "compiled",
                  {"step_cache_interval": 2, "compile": True, "compile_backend": "aot_eager"})
    assert type(both.runtime.model(CONTROLNET).unet).__name__ == "OptimizedModule"
    for model_id, image in both.generations(control_ref).items():
        assert np.array_equal(image, cached[model_id]), model_id
