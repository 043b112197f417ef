"""ControlNet annotators: turn a photo into the control map a `sd-controlnet-<kind>` expects.

Every annotator is a callable `model(image) -> image`; `annotate` only calls it. One small class
per kind of detector, chosen by the catalog row's loader, never by model id. The maps always come
back at the input's size, whatever resolution the detector works at, so the controller can
overlay or chain them without caring which annotator made them.

Each annotator works at a size computed before it runs (`work_size`): at most MAX_WORK_PIXELS at
any stage, so an extreme aspect ratio (a 1x20 PNG) cannot make it allocate gigabytes. Images too
elongated to fit even the smallest working size are refused with a 400 naming the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.libraries import aux_module
from models_server.tasks.work_size import aux_work_size, crop_box, fit_within, processor_input, scale_to

if TYPE_CHECKING:
    import numpy as np

    from models_server.tasks.loading import LoadContext

# Side of the image the controlnet_aux networks see; 512 is what ControlNet was trained with.
# HED's VGG-sized network takes ~3 s at 512 on two CPU cores, so on CPU it works at 384 (~1 s,
# edges still well placed) and the map is scaled back; M-LSD and OpenPose are cheap at 512.
AUX_RESOLUTION = 512
HED_CPU_RESOLUTION = 384


Annotator = Callable[[Image.Image], Image.Image]


def annotate(model: Annotator, inputs: dict[str, Any], params: dict[str, Any]) -> Image.Image:
    """The control map of `inputs["img_url"]`: an image of the same size (RGB; 1-bit for canny's binary edges)."""
    return model(inputs["img_url"])


ANNOTATE = Task(contracts.CONTROL_MAP, annotate)


def _fit(result: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
    """`result` as RGB at `size`: detectors round their working size to multiples of 64."""
    return scale_to(result, size, resample).convert("RGB")


# OpenPose's body network rescales whatever it is given to this height (boxsize 368 x scale 0.5).
OPENPOSE_NET_HEIGHT = 184


@dataclass(frozen=True)
class AuxAnnotator:
    """A controlnet_aux detector run at `resolution` (None: the input's shorter side).

    The image is resized here to the working size `aux_work_size` computed (multiples of 64, so
    the detector's own resize is a no-op), which keeps every stage within MAX_WORK_PIXELS.
    `fixed_height` is the height a network rescales to on its own (OpenPose), counted too.
    Binary maps (canny, scribble) are resized back with NEAREST so they stay binary.
    """

    detector: Callable[..., Image.Image]
    resolution: int | None
    resample: Image.Resampling = Image.Resampling.BILINEAR
    options: dict[str, Any] = field(default_factory=dict)
    fixed_height: int | None = None
    name: str = "the annotator"

    def work_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return aux_work_size(size, self.resolution or min(size), self.fixed_height, name=self.name)

    def __call__(self, image: Image.Image) -> Image.Image:
        size = image.size
        work = self.work_size(size)
        if work != image.size:
            image = image.resize(work, Image.Resampling.LANCZOS, reducing_gap=3.0)
        side = min(work)
        result = self.detector(
            image, detect_resolution=side, image_resolution=side, output_type="pil", **self.options
        )
        return _fit(result, size, self.resample)


@dataclass(frozen=True)
class CannyEdges:
    """Canny edges of the image at its own size, on its three channels as controlnet_aux's
    detector computes them, without that detector's resizes to multiples of 64 and back: edges
    need no network's input size, and each resize cost as much as the edges themselves. The map
    is binary, so it comes back as a 1-bit image, whose PNG is a quarter of the RGB one's work.
    An image over MAX_WORK_PIXELS is scaled down for the edges and the map scaled back.
    """

    canny: Callable[..., np.ndarray]
    low_threshold: int
    high_threshold: int

    def __call__(self, image: Image.Image) -> Image.Image:
        import numpy as np

        work = fit_within(image.size)
        source = image if work == image.size else image.resize(work, Image.Resampling.BILINEAR)
        edges = self.canny(np.asarray(source.convert("RGB")), self.low_threshold, self.high_threshold)
        binary = Image.fromarray(edges).convert("1", dither=Image.Dither.NONE)
        return binary if work == image.size else binary.resize(image.size, Image.Resampling.NEAREST)


@dataclass(frozen=True)
class RelativeDepth:
    """A DPT model and its processor, shared by the depth and normal annotators."""

    model: Any
    processor: Any

    def depth(self, image: Image.Image) -> np.ndarray:
        """Relative inverse depth (larger is nearer) as float32, at about `fit_within(image.size)`.

        The network sees its own fixed size; its answer is scaled to the image's size but no
        further than MAX_WORK_PIXELS: float maps of a 50-megapixel photo would cost gigabytes.
        Callers scale the map they make from it to the image's size.
        """
        import torch

        prepared, canvas = processor_input(image, self.processor)
        pixels = self.processor(images=prepared, return_tensors="pt")["pixel_values"]
        pixels = pixels.to(self.model.device, self.model.dtype)
        predicted = self.model(pixel_values=pixels).predicted_depth.float()
        work = fit_within(canvas)
        left, top, right, bottom = crop_box(canvas, work, image.size)
        resized = torch.nn.functional.interpolate(
            predicted[:, None], size=(work[1], work[0]), mode="bicubic", align_corners=False
        )
        return resized[0, 0, top:bottom, left:right].cpu().numpy()


def _unit_range(values: np.ndarray) -> np.ndarray:
    """Scale to 0..1; a flat map becomes all zeros instead of dividing by zero."""
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else values * 0.0


@dataclass(frozen=True)
class DepthMap:
    """Depth as grey levels, near is white: the map sd-controlnet-depth was trained on."""

    estimator: RelativeDepth

    def __call__(self, image: Image.Image) -> Image.Image:
        import numpy as np

        grey = (_unit_range(self.estimator.depth(image)) * 255.0).round().astype(np.uint8)
        return _fit(Image.fromarray(grey), image.size, Image.Resampling.BICUBIC)


@dataclass(frozen=True)
class NormalMap:
    """Surface normals from depth, the way sd-controlnet-normal's training maps were made.

    The depth slope along x and y (Sobel) gives the normal's x and y, a constant gives z; where the
    scene is far (normalized depth under `background`), the slopes are dropped so the background
    faces the camera. The unit normal maps from -1..1 to 0..255 per channel.
    """

    estimator: RelativeDepth
    background: float = 0.4
    z: float = 2.0 * 3.141592653589793

    def __call__(self, image: Image.Image) -> Image.Image:
        import cv2
        import numpy as np

        depth = self.estimator.depth(image)
        far = _unit_range(depth) < self.background
        slope_x = cv2.Sobel(depth, cv2.CV_32F, 1, 0, ksize=3)
        slope_y = cv2.Sobel(depth, cv2.CV_32F, 0, 1, ksize=3)
        slope_x[far] = 0.0
        slope_y[far] = 0.0
        normal = np.stack([slope_x, slope_y, np.full_like(depth, self.z)], axis=2)
        normal /= np.linalg.norm(normal, axis=2, keepdims=True)
        rgb = Image.fromarray(np.clip(normal * 127.5 + 127.5, 0, 255).astype(np.uint8))
        return _fit(rgb, image.size, Image.Resampling.BILINEAR)


@dataclass(frozen=True)
class SegmentationMap:
    """ADE20K classes painted with the palette sd-controlnet-seg was trained on."""

    model: Any
    processor: Any
    palette: np.ndarray  # (num_classes, 3) uint8

    def __call__(self, image: Image.Image) -> Image.Image:
        prepared, canvas = processor_input(image, self.processor)
        pixels = self.processor(images=prepared, return_tensors="pt")["pixel_values"]
        pixels = pixels.to(self.model.device, self.model.dtype)
        # argmax at the model's resolution, then a NEAREST resize: upsampling 150 logit planes to a
        # large photo first would cost gigabytes for the same picture.
        labels = self.model(pixel_values=pixels).logits[0].argmax(dim=0).to("cpu", copy=True).numpy()
        left, top, right, bottom = crop_box(canvas, (labels.shape[1], labels.shape[0]), image.size)
        painted = Image.fromarray(self.palette[labels[top:bottom, left:right]])
        return painted.resize(image.size, Image.Resampling.NEAREST)


class SixteenBitNetwork:
    """A controlnet_aux network kept in a 16-bit dtype, speaking float32 at its edges.

    The detectors build float32 inputs and read float32 outputs, and some networks override
    `__call__` (HED), so module hooks would not run: the detector calls this instead. Its
    `network` attribute is what residency counts and moves.
    """

    def __init__(self, network: Any, dtype: Any) -> None:
        self.network = network.to(dtype)
        self.dtype = dtype

    def __call__(self, *inputs: Any) -> Any:
        import torch

        outputs = self.network(*(x.to(self.dtype) if torch.is_tensor(x) else x for x in inputs))
        if torch.is_tensor(outputs):
            return outputs.float()
        return type(outputs)(x.float() if torch.is_tensor(x) else x for x in outputs)

    def __getattr__(self, name: str) -> Any:  # parameters(), eval(), ... as the detector expects
        return getattr(self.network, name)


def aux_dtype(ctx: LoadContext, normalised_input: bool) -> Any:
    """The dtype a controlnet_aux network runs in: the server's 16-bit dtype where its range fits.

    float16 tops out at 65504: HED's VGG layers see raw 0-255 pixels and can exceed it, so HED
    takes bfloat16 (float32's range) but not float16. OpenPose and M-LSD normalise their input.
    """
    import torch

    if ctx.dtype == torch.bfloat16 or (ctx.dtype == torch.float16 and normalised_input):
        return ctx.dtype
    return None


def _sixteen_bit(network: Any, dtype: Any) -> Any:
    return network if dtype is None else SixteenBitNetwork(network, dtype)


# Loaders. controlnet_aux detectors build float32 inputs themselves; in a 16-bit server their
# networks run 16-bit behind `SixteenBitNetwork` (half the memory: -137 MB at real size), the
# transformers models take ctx.dtype directly.


def checkpoint_network(build: Callable[[], Any], path: Path,
                       rename: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None) -> Any:
    """The network `build` makes, holding the tensors of the checkpoint at `path`, in float32 and
    eval mode, as the detectors' own `from_pretrained` leave it. Built on the meta device and given
    the checkpoint's tensors in place: the random initialisation the detectors run first, only to
    overwrite it, is most of HED's and OpenPose's load (at their real size, 57 -> 17 and 240 ->
    100 ms). Not M-LSD's: its init is a few milliseconds, less than building its hundred small
    layers on the meta device costs. `rename` maps the checkpoint's names to the network's
    (OpenPose's `transfer`)."""
    import torch

    with torch.device("meta"):
        network = build()
    state = torch.load(path, map_location="cpu", weights_only=True)
    if rename is not None:
        state = rename(network, state)
    network.load_state_dict(state, strict=True, assign=True)
    empty = [name for name, tensor in [*network.named_parameters(), *network.named_buffers()] if tensor.is_meta]
    if empty:
        raise RuntimeError(f"{path.name} leaves {len(empty)} tensors of {type(network).__name__} unset: {empty[:3]}")
    return network.float().eval()


def load_canny(ctx: LoadContext) -> CannyEdges:
    """Canny edges with the thresholds of the sd-controlnet-canny card; no weights."""
    import cv2

    return CannyEdges(cv2.Canny, low_threshold=100, high_threshold=200)


def _hed(ctx: LoadContext) -> Any:
    """One HED network per folder and device, whichever of hed/scribble loads first."""
    folder = ctx.weight_dirs[0]

    def build() -> Any:
        hed = aux_module("hed")
        detector = hed.HEDdetector(checkpoint_network(hed.ControlNetHED_Apache2, folder / "ControlNetHED.pth"))
        detector.to(ctx.device)
        detector.netNetwork = _sixteen_bit(detector.netNetwork, aux_dtype(ctx, normalised_input=False))
        return detector

    return ctx.shared(("controlnet_aux.hed", str(folder), ctx.device, ctx.dtype), build)


def _hed_resolution(ctx: LoadContext) -> int:
    return HED_CPU_RESOLUTION if ctx.device == "cpu" else AUX_RESOLUTION


def load_hed(ctx: LoadContext) -> AuxAnnotator:
    """Soft HED edges (grey levels)."""
    return AuxAnnotator(_hed(ctx), resolution=_hed_resolution(ctx), name="HED")


def load_scribble(ctx: LoadContext) -> AuxAnnotator:
    """HED edges thinned and thresholded to white strokes on black, like a user's scribble."""
    return AuxAnnotator(
        _hed(ctx), resolution=_hed_resolution(ctx), resample=Image.Resampling.NEAREST,
        options={"scribble": True}, name="HED",
    )


def load_mlsd(ctx: LoadContext) -> AuxAnnotator:
    """Straight line segments (M-LSD), white on black."""
    detector = aux_module("mlsd").MLSDdetector.from_pretrained(str(ctx.weight_dirs[0])).to(ctx.device)
    detector.model = _sixteen_bit(detector.model, aux_dtype(ctx, normalised_input=True))
    return AuxAnnotator(detector, resolution=AUX_RESOLUTION, name="M-LSD")


def load_openpose(ctx: LoadContext) -> AuxAnnotator:
    """OpenPose body skeletons.

    `OpenposeDetector.from_pretrained` also loads the hand and face networks (~300 MB) that the
    body-only map never runs, so the detector is built from the body network alone.
    """
    open_pose = aux_module("open_pose")
    body_module = aux_module("open_pose.body")
    network = checkpoint_network(body_module.bodypose_model, ctx.weight_dirs[0] / "body_pose_model.pth",
                                 rename=body_module.util.transfer)
    body = object.__new__(body_module.Body)  # Body.__init__ would build (and initialise) the network again
    body.model = network
    body.to(ctx.device)
    body.model = _sixteen_bit(body.model, aux_dtype(ctx, normalised_input=True))
    return AuxAnnotator(
        open_pose.OpenposeDetector(body), resolution=AUX_RESOLUTION, fixed_height=OPENPOSE_NET_HEIGHT, name="OpenPose"
    )


def _dpt(ctx: LoadContext) -> RelativeDepth:
    folder = ctx.weight_dirs[0]

    def build() -> RelativeDepth:
        from transformers import DPTForDepthEstimation, DPTImageProcessor

        model = DPTForDepthEstimation.from_pretrained(folder, dtype=ctx.dtype).to(ctx.device).eval()
        return RelativeDepth(model, DPTImageProcessor.from_pretrained(folder))

    return ctx.shared(("transformers.dpt", str(folder), ctx.device, ctx.dtype), build)


def load_depth(ctx: LoadContext) -> DepthMap:
    """MiDaS (DPT-Hybrid) depth, shared with the normal annotator."""
    return DepthMap(_dpt(ctx))


def load_normal(ctx: LoadContext) -> NormalMap:
    """Normals from the same MiDaS depth model as `load_depth`."""
    return NormalMap(_dpt(ctx))


def load_seg(ctx: LoadContext) -> SegmentationMap:
    """UperNet-ConvNeXt semantic segmentation in the ADE20K palette."""
    import numpy as np
    from transformers import AutoImageProcessor, UperNetForSemanticSegmentation

    folder = ctx.weight_dirs[0]
    model = UperNetForSemanticSegmentation.from_pretrained(folder, dtype=ctx.dtype).to(ctx.device).eval()
    palette = np.array(aux_module("util").ade_palette(), dtype=np.uint8)
    return SegmentationMap(model, AutoImageProcessor.from_pretrained(folder), palette)
