"""The eight ControlNet annotators, loaded from tiny weights and run on real photos.

Canny needs no weights, so its edges are checked against the photo; the others run random
weights, so their tests check shape, palette, sharing and determinism rather than content.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from models_server.catalog import minimal
from models_server.tasks import controlnet_aux as annotators
from models_server.tasks.loading import LoadContext, SharedComponents
from tiny_models import make_tiny

ANNOTATOR_IDS = [row.id for row in minimal.MODELS if row.task is annotators.ANNOTATE]


@pytest.fixture(scope="module")
def weights_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the annotator repos, so this file runs alone in seconds (shares the dev cache if set)."""
    cache = os.environ.get("MODELS_SERVER_TINY_CACHE")
    root = Path(cache) if cache else tmp_path_factory.mktemp("tiny-annotators")
    make_tiny(root, [minimal.ANNOTATORS, minimal.DPT_HYBRID, minimal.UPERNET])
    return root


@pytest.fixture(scope="module")
def loaded(weights_root: Path) -> dict[str, Any]:
    """Every annotator id loaded on the CPU, sharing components as the runtime does."""
    shared = SharedComponents()
    models = {}
    for row in minimal.MODELS:
        if row.id in ANNOTATOR_IDS:
            dirs = tuple(weights_root / repo.name for repo in row.weights)
            ctx = LoadContext(model_id=row.id, weight_dirs=dirs, device="cpu", dtype=torch.float32,
                              shared_components=shared)
            models[row.id] = row.loader(ctx)
    return models


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())  # 512x512


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea())  # 451x300, not square


def run(model: Any, image: Image.Image) -> Image.Image:
    with torch.inference_mode():
        return annotators.ANNOTATE.handler(model, {"img_url": image}, {})


def test_catalog_has_the_eight_annotators() -> None:
    kinds = {"canny", "hed", "scribble", "mlsd", "openpose", "depth", "normal", "seg"}
    assert set(ANNOTATOR_IDS) == {f"{kind}-control" for kind in kinds}


# Canny's map is binary: a 1-bit image. Every other map is RGB.
MAP_MODES = {"canny-control": "1"}


@pytest.mark.parametrize("model_id", ANNOTATOR_IDS)
def test_map_is_at_input_size_in_its_mode_and_deterministic(
    loaded: dict[str, Any], photo: Image.Image, cat: Image.Image, model_id: str
) -> None:
    model = loaded[model_id]
    mode = MAP_MODES.get(model_id, "RGB")
    first = run(model, photo)
    assert isinstance(first, Image.Image)
    assert (first.mode, first.size) == (mode, photo.size)
    assert np.array_equal(np.asarray(first), np.asarray(run(model, photo)))
    other = run(model, cat)
    assert (other.mode, other.size) == (mode, cat.size)


def test_canny_marks_the_photos_edges(loaded: dict[str, Any], photo: Image.Image, cat: Image.Image) -> None:
    import cv2

    for image in (photo, cat):
        edges = np.asarray(run(loaded["canny-control"], image).convert("L"))
        assert set(np.unique(edges)) == {0, 255}
        grey = np.asarray(image.convert("L"), dtype=np.float32)
        gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        on_edge = edges == 255
        assert 0.01 < on_edge.mean() < 0.3
        near_edge = cv2.dilate(on_edge.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert gradient[near_edge].mean() > 3 * gradient[~near_edge].mean()


def test_scribble_is_binary(loaded: dict[str, Any], photo: Image.Image) -> None:
    assert set(np.unique(np.asarray(run(loaded["scribble-control"], photo)))) <= {0, 255}


def test_hed_and_scribble_share_one_network(loaded: dict[str, Any]) -> None:
    assert loaded["hed-control"].detector is loaded["scribble-control"].detector


def test_depth_and_normal_share_one_dpt(loaded: dict[str, Any]) -> None:
    depth, normal = loaded["depth-control"].estimator, loaded["normal-control"].estimator
    assert depth is normal
    assert type(depth.model).__name__ == "DPTForDepthEstimation"
    assert depth.model.config.is_hybrid


def test_seg_paints_only_ade_colors(loaded: dict[str, Any], photo: Image.Image) -> None:
    from controlnet_aux.util import ade_palette

    painted = np.asarray(run(loaded["seg-control"], photo)).reshape(-1, 3)
    colors = {tuple(c) for c in np.unique(painted, axis=0)}
    assert colors <= {tuple(c) for c in ade_palette()}
    assert len(colors) > 1


class DomeDepth:
    """Stands in for DPT: a dome (near, large values) in the middle of a far, flat floor."""

    def depth(self, image: Image.Image) -> np.ndarray:
        ys, xs = np.mgrid[0 : image.height, 0 : image.width].astype(np.float32)
        r2 = ((xs - image.width / 2) ** 2 + (ys - image.height / 2) ** 2) / (image.height / 3) ** 2
        return (np.clip(1.0 - r2, 0.0, None) * 500.0).astype(np.float32)


def test_depth_map_is_white_where_near(photo: Image.Image) -> None:
    grey = np.asarray(annotators.DepthMap(DomeDepth())(photo))
    assert grey.shape == (512, 512, 3)
    assert tuple(grey[256, 256]) == (255, 255, 255)
    assert tuple(grey[0, 0]) == (0, 0, 0)


def test_normal_map_faces_camera_on_background_and_tilts_on_slopes(photo: Image.Image) -> None:
    normals = np.asarray(annotators.NormalMap(DomeDepth())(photo)).astype(int)
    assert tuple(normals[5, 5]) == (127, 127, 255)  # far floor: straight at the camera
    left, right = normals[256, 256 - 60], normals[256, 256 + 60]
    assert left[0] > 140 and right[0] < 115  # depth rises toward the middle: x slope flips sign
    top, bottom = normals[256 - 60, 256], normals[256 + 60, 256]
    assert top[1] > 140 and bottom[1] < 115


def test_tiny_transformers_repos_are_reproducible(tmp_path: Path) -> None:
    from tiny_models import annotators as tiny

    for build in (tiny.build_dpt_hybrid, tiny.build_upernet):
        outputs = []
        for run_dir in ("a", "b"):
            folder = tmp_path / build.__name__ / run_dir
            folder.mkdir(parents=True)
            torch.manual_seed(0)
            build(folder)
            outputs.append((folder / "model.safetensors").read_bytes())
        assert outputs[0] == outputs[1]


# -- bounded cost: the size every stage works at is computed first --------------------------------

SMALL_BUDGET = 160 * 1024  # a small work budget keeps these runs quick; the code path is the same


def _first_conv(annotator: Any) -> torch.nn.Module | None:
    """The first convolution of the torch network inside a controlnet_aux detector: it sees the
    network's whole input (None for canny, which has no network)."""
    detector = annotator.detector
    for path in ("model", "netNetwork", "body_estimation.model"):
        found: Any = detector
        for name in path.split("."):
            found = getattr(found, name, None)
        if isinstance(found, torch.nn.Module):
            return next(m for m in found.modules() if isinstance(m, torch.nn.Conv2d))
    return None


AUX_IDS = ["hed-control", "scribble-control", "mlsd-control", "openpose-control"]


@pytest.mark.parametrize("model_id", AUX_IDS)
def test_a_tiny_elongated_png_works_within_the_budget_and_comes_back_at_its_size(
    loaded: dict[str, Any], model_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1x20 image made controlnet_aux work at 512x10240 (gigabytes); every stage now stays in budget."""
    from models_server.tasks import work_size

    monkeypatch.setattr(work_size, "MAX_WORK_PIXELS", SMALL_BUDGET)
    annotator = loaded[model_id]
    given: list[tuple[int, int]] = []
    real_detector = annotator.detector

    def spy(image: Image.Image, **kwargs: Any) -> Image.Image:
        given.append(image.size)
        return real_detector(image, **kwargs)

    seen: list[int] = []
    network = _first_conv(annotator)
    hook = network.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[-2] * args[0].shape[-1])) \
        if network is not None else None
    try:
        import dataclasses

        spied = dataclasses.replace(annotator, detector=spy)
        result = run(spied, Image.new("RGB", (1, 20), (200, 30, 90)))
    finally:
        if hook is not None:
            hook.remove()
    assert (result.mode, result.size) == ("RGB", (1, 20))
    assert given and all(w * h <= SMALL_BUDGET for w, h in given)
    assert all(pixels <= SMALL_BUDGET for pixels in seen)
    if network is not None:
        assert seen, "the network never ran"


@pytest.mark.parametrize("model_id", AUX_IDS)
def test_an_image_too_elongated_for_any_working_size_is_a_400_naming_the_limit(
    loaded: dict[str, Any], model_id: str
) -> None:
    from models_server.errors import BadInput

    with pytest.raises(BadInput, match=r"1x49000000.*limit of 1048576 pixels \(MAX_WORK_PIXELS\)"):
        run(loaded[model_id], Image.new("RGB", (1, 49_000_000)))


@pytest.mark.parametrize("model_id", ["depth-control", "normal-control", "seg-control", "canny-control"])
@pytest.mark.parametrize("size", [(1, 20), (20, 1), (1, 200_000)])
def test_fixed_size_networks_and_canny_take_any_aspect_and_answer_at_the_input_size(
    loaded: dict[str, Any], model_id: str, size: tuple[int, int]
) -> None:
    result = run(loaded[model_id], Image.new("RGB", size, (90, 140, 200)))
    assert (result.mode, result.size) == (MAP_MODES.get(model_id, "RGB"), size)


def test_canny_of_an_image_over_the_work_budget_is_scaled_for_the_edges_and_back(
    loaded: dict[str, Any], photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models_server.tasks import work_size

    monkeypatch.setattr(work_size, "MAX_WORK_PIXELS", SMALL_BUDGET)
    canny = loaded["canny-control"]
    given: list[tuple[int, ...]] = []

    def spy(pixels: np.ndarray, low: int, high: int) -> np.ndarray:
        given.append(pixels.shape)
        return canny.canny(pixels, low, high)

    import dataclasses

    result = run(dataclasses.replace(canny, canny=spy), photo)
    assert result.size == photo.size and result.mode == "1"
    assert given and given[0][0] * given[0][1] <= SMALL_BUDGET


SIXTEEN_BIT_ROWS = {"hed-control": "netNetwork", "mlsd-control": "model", "openpose-control": "model"}


def _network_dtypes(annotator: Any) -> set[Any]:
    from models_server.runtime import memory

    return {tensor.dtype for module in memory.modules_of(annotator) for tensor in module.parameters()}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_in_a_16_bit_server_the_aux_networks_run_16_bit_and_still_draw_maps(weights_root: Path, photo, dtype):
    rows = {row.id: row for row in minimal.MODELS}
    for model_id in SIXTEEN_BIT_ROWS:
        row = rows[model_id]
        ctx = LoadContext(model_id=model_id, weight_dirs=tuple(weights_root / repo.name for repo in row.weights),
                          device="cpu", dtype=dtype, shared_components=SharedComponents())
        annotator = row.loader(ctx)
        # HED sees raw 0-255 pixels: float16's range is too short for its VGG layers, bfloat16's is not.
        expected = torch.float32 if (model_id == "hed-control" and dtype == torch.float16) else dtype
        assert _network_dtypes(annotator) == {expected}, model_id
        drawn = annotators.annotate(annotator, {"img_url": photo}, {})
        assert drawn.size == photo.size, model_id


NETWORKS = {  # where each detector keeps its network, and an input of the shape it is fed
    "hed-control": (lambda detector: detector.netNetwork, lambda: torch.rand(1, 3, 64, 64) * 255),
    "mlsd-control": (lambda detector: detector.model, lambda: torch.rand(1, 4, 64, 64) * 2 - 1),
    "openpose-control": (lambda detector: detector.body_estimation.model, lambda: torch.rand(1, 3, 64, 64) - 0.5),
}


@pytest.mark.parametrize("model_id", NETWORKS)
def test_a_16_bit_network_answers_in_float32_what_the_float32_one_answers(loaded: dict[str, Any], model_id):
    import copy

    pick, sample = NETWORKS[model_id]
    network = pick(loaded[model_id].detector)
    wrapped = annotators.SixteenBitNetwork(copy.deepcopy(network), torch.bfloat16)
    torch.manual_seed(0)
    x = sample()
    with torch.no_grad():
        full, half = network(x), wrapped(x)
    pairs = [(full, half)] if torch.is_tensor(full) else list(zip(full, half, strict=True))
    for expected, got in pairs:
        assert got.dtype == torch.float32
        scale = expected.abs().max().item() or 1.0
        assert (got - expected).abs().max().item() <= 0.05 * scale  # bfloat16 rounding, not a different answer


def _library_network(model_id: str, folder: Path) -> Any:
    """The network controlnet_aux's own loader builds from `folder` (initialised, then overwritten)."""
    from models_server.tasks.libraries import aux_module

    if model_id == "hed-control":
        return aux_module("hed").HEDdetector.from_pretrained(str(folder)).netNetwork
    return aux_module("open_pose.body").Body(str(folder / "body_pose_model.pth")).model


@pytest.mark.parametrize("model_id", ["hed-control", "openpose-control"])
def test_an_aux_network_built_without_initialising_holds_what_the_library_loads(
    loaded: dict[str, Any], weights_root: Path, model_id: str
) -> None:
    (row,) = [row for row in minimal.MODELS if row.id == model_id]
    ours = NETWORKS[model_id][0](loaded[model_id].detector)
    theirs = _library_network(model_id, weights_root / row.weights[0].name)
    assert type(ours) is type(theirs)
    assert not ours.training
    ours_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(their_state)
    for name, tensor in their_state.items():
        assert ours_state[name].dtype == tensor.dtype, name
        assert not ours_state[name].is_meta, name
        assert torch.equal(ours_state[name], tensor), name


def test_a_checkpoint_that_leaves_a_tensor_unset_is_refused(tmp_path: Path) -> None:
    class TwoLayers(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = torch.nn.Linear(2, 2)
            self.register_buffer("scale", torch.ones(2), persistent=False)  # in no checkpoint

    path = tmp_path / "two.pth"
    torch.save(TwoLayers().state_dict(), path)
    with pytest.raises(RuntimeError, match="leaves 1 tensors of TwoLayers unset"):
        annotators.checkpoint_network(TwoLayers, path)
