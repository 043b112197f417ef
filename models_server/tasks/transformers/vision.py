"""Image in, labels/boxes/maps out: classification, detection, segmentation, depth.

Each way of answering is a small class: the loader builds it once from a local folder through
transformers' Auto classes, so the architecture comes from the checkpoint's own config (ViT, BEiT,
DeiT, ResNet and timm checkpoints classify; DETR, YOLOS and Table Transformer detect; DETR
panoptic, MaskFormer, SegFormer and CLIPSeg segment; DPT and GLPN estimate depth). Calling it
runs one image; the handlers turn its output into the controller's shapes. Boxes are
post-processed to the size of the image as sent (after EXIF rotation), which is the
picture the controller draws them on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.media.types import Segmentation
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.transformers.hf_models import load_pretrained, to_model
from models_server.tasks.work_size import crop_box, fit_within, processor_input, scale_to

if TYPE_CHECKING:
    from PIL import Image

    from models_server.tasks.loading import LoadContext


# The names OWL-ViT looks for when a request gives none: COCO's 80 classes.
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)


# --- classification -----------------------------------------------------------------------------


@dataclass
class Classifier:
    model: Any
    processor: Any

    def __call__(self, image: Image.Image, top_k: int) -> list[dict[str, Any]]:
        import torch

        pixels, _ = processor_input(image, self.processor)
        inputs = to_model(self.processor(images=pixels, return_tensors="pt"), self.model)
        with torch.inference_mode():
            logits = self.model(**inputs).logits[0].float()
        multi = getattr(self.model.config, "problem_type", None) == "multi_label_classification"
        probs = logits.sigmoid() if multi else logits.softmax(-1)
        scores, ids = probs.topk(min(top_k, probs.numel()))
        names = self.model.config.id2label
        return [
            {"label": names[int(i)], "score": round(float(s), 4)} for s, i in zip(scores, ids, strict=True)
        ]


def load_classifier(ctx: LoadContext) -> Classifier:
    model, processor = load_pretrained(ctx, "AutoModelForImageClassification", "AutoImageProcessor")
    return Classifier(model, processor)


def classify(model: Classifier, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{"label", "score"}]`, best first, top 5 unless `top_k` says otherwise."""
    return model(inputs["img_url"], params["top_k"])


CLASSIFY = Task(contracts.IMAGE_CLASSIFICATION, classify)


# --- detection ----------------------------------------------------------------------------------


@dataclass
class Detector:
    """DETR, YOLOS (closed vocabulary) or OWL-ViT (labels given as text)."""

    model: Any
    processor: Any
    default_threshold: float = 0.5

    def __call__(
        self, image: Image.Image, threshold: float | None, labels: list[str] | None = None
    ) -> list[dict[str, Any]]:
        import torch

        threshold = self.default_threshold if threshold is None else threshold
        pixels, canvas = processor_input(image, self.processor)
        if labels is None:
            inputs = self.processor(images=pixels, return_tensors="pt")
        else:
            inputs = self.processor(images=pixels, text=[labels], padding=True, truncation=True,
                                    max_length=text_positions(self.model), return_tensors="pt")
        with torch.inference_mode():
            outputs = self.model(**to_model(inputs, self.model))
        sizes = [(canvas[1], canvas[0])]  # boxes in `image`'s pixels; padding lies right of or below it
        # Open-vocabulary processors name it "grounded"; both give label indices.
        post_process = getattr(self.processor, "post_process_grounded_object_detection", None)
        post_process = post_process or self.processor.post_process_object_detection
        found = post_process(outputs, threshold=threshold, target_sizes=sizes)[0]
        names = labels if labels is not None else self.model.config.id2label
        detections = [
            {"score": round(float(score), 4), "label": names[int(label)], "box": _pixel_box(box, image)}
            for score, label, box in zip(found["scores"], found["labels"], found["boxes"], strict=True)
        ]
        return sorted(detections, key=lambda item: item["score"], reverse=True)


def text_positions(model: Any) -> int:
    """How many tokens a CLIP-style text model reads (OWL-ViT 16, CLIPSeg 77): longer labels and
    prompts are cut there, as its tokenizer's own limit may not say."""
    return int(model.config.text_config.max_position_embeddings)


def _pixel_box(box: Any, image: Image.Image) -> dict[str, int]:
    """Integer corners clamped to the image, as the controller draws them."""
    xmin, ymin, xmax, ymax = (float(v) for v in box)

    def clamp(value: float, limit: int) -> int:
        return round(min(max(value, 0.0), float(limit)))

    return {
        "xmin": clamp(xmin, image.width), "ymin": clamp(ymin, image.height),
        "xmax": clamp(xmax, image.width), "ymax": clamp(ymax, image.height),
    }


def load_detector(ctx: LoadContext) -> Detector:
    model, processor = load_pretrained(ctx, "AutoModelForObjectDetection", "AutoImageProcessor")
    return Detector(model, processor)


def load_open_vocabulary_detector(ctx: LoadContext) -> Detector:
    model, processor = load_pretrained(ctx, "AutoModelForZeroShotObjectDetection", "AutoProcessor")
    return Detector(model, processor, default_threshold=0.1)


def detect(model: Detector, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{"score", "label", "box": {"xmin", "ymin", "xmax", "ymax"}}]` in the input's pixels."""
    return model(inputs["img_url"], params["threshold"])


def detect_open_vocabulary(model: Detector, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict]:
    """As `detect`, for the labels in `text` ("cat, dog") or, without them, COCO's classes."""
    return model(inputs["img_url"], params["threshold"], inputs["text"] or list(COCO_CLASSES))


DETECT = Task(contracts.OBJECT_DETECTION, detect)
DETECT_OPEN_VOCABULARY = Task(contracts.ZERO_SHOT_OBJECT_DETECTION, detect_open_vocabulary)


# --- segmentation -------------------------------------------------------------------------------

# What CLIPSeg looks for when a request names nothing: broad things most photos hold.
DEFAULT_SEGMENT_PROMPTS = (
    "person", "animal", "vehicle", "building", "road", "sky", "tree", "grass", "water", "furniture",
    "food", "text",
)

# Masks and class scores are computed at this size at most, then scaled to the image (see Segmenter).
SEGMENT_WORK_PIXELS = 512 * 512


@dataclass
class Segmenter:
    """Mask classification (DETR panoptic, MaskFormer: one scored mask per query) or per-pixel
    classes (SegFormer).

    Calling it gives a map of segment ids at the image's size and, per id, its label and
    score. SegFormer's score for a class is its mean probability over the pixels it won.
    Masks and class scores are computed at SEGMENT_WORK_PIXELS at most (one float plane per
    query or class: 150 planes of a 12-megapixel photo would be 7 GB), then the id map is
    scaled to the image's size without interpolation.
    """

    model: Any
    processor: Any
    panoptic: bool
    fused_labels: frozenset[int] = frozenset()  # "stuff": one segment per label, however many queries found it

    def __call__(
        self, image: Image.Image, threshold: float | None, mask_threshold: float | None, overlap: float | None = None
    ):
        """`overlap`: how much of a query's mask must survive the other masks for it to count."""
        import numpy as np
        import torch
        from PIL import Image

        pixels, canvas = processor_input(image, self.processor)
        inputs = to_model(self.processor(images=pixels, return_tensors="pt"), self.model)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        work = fit_within(canvas, SEGMENT_WORK_PIXELS)
        ids, segments = self._segments(outputs, (work[1], work[0]), threshold, mask_threshold, overlap)
        left, top, right, bottom = crop_box(canvas, work, image.size)
        ids = np.ascontiguousarray(ids[top:bottom, left:right].astype("int32"))
        if ids.shape != (image.height, image.width):
            ids = np.asarray(Image.fromarray(ids).resize(image.size, Image.Resampling.NEAREST))
        return ids, segments

    def _segments(self, outputs: Any, work: tuple[int, int], threshold: float | None,
                  mask_threshold: float | None, overlap: float | None) -> tuple[Any, dict[int, dict[str, Any]]]:
        """int32 segment ids at `work` (height, width), and each id's label and score."""
        import torch

        size = [work]
        names = self.model.config.id2label
        if self.panoptic:
            found = self.processor.post_process_panoptic_segmentation(
                outputs, threshold=0.85 if threshold is None else threshold,
                mask_threshold=0.5 if mask_threshold is None else mask_threshold,
                overlap_mask_area_threshold=0.8 if overlap is None else overlap,
                label_ids_to_fuse=set(self.fused_labels), target_sizes=size,
            )[0]
            segments = {
                info["id"]: {"label": names[info["label_id"]], "score": round(float(info["score"]), 4)}
                for info in found["segments_info"]
            }
            return found["segmentation"].cpu().numpy().astype("int32"), segments
        logits = torch.nn.functional.interpolate(
            outputs.logits.float(), size=size[0], mode="bilinear", align_corners=False
        )[0]
        return _winners(logits.softmax(0), [names[i] for i in range(len(names))], 0.0)


def _winners(probs: Any, labels: list[str], threshold: float):
    """Each pixel to the label of highest probability, or to no segment (0) below `threshold`.

    Segment ids are label index + 1; a segment's score is its mean probability over its pixels.
    """
    best, classes = probs.max(0)
    ids = (classes + 1).masked_fill(best < threshold, 0)
    segments = {
        segment_id: {"label": labels[segment_id - 1], "score": round(float(best[ids == segment_id].mean()), 4)}
        for segment_id in ids.unique().tolist()
        if segment_id > 0
    }
    return ids.cpu().numpy().astype("int64"), segments


@dataclass
class PromptedSegmenter:
    """CLIPSeg: one probability map per text prompt; each pixel goes to its most likely prompt.
    The image is brought to the processor's fixed size (352 px) once, not once per prompt."""

    model: Any
    processor: Any

    def __call__(self, image: Image.Image, prompts: list[str], threshold: float | None):
        import torch

        pixels, _ = processor_input(image, self.processor)
        inputs = self.processor(
            text=prompts, images=[pixels] * len(prompts), padding=True, truncation=True,
            max_length=text_positions(self.model), return_tensors="pt",
        )
        with torch.inference_mode():
            logits = self.model(**to_model(inputs, self.model)).logits.float()
        logits = logits.reshape(len(prompts), 1, *logits.shape[-2:])
        probs = torch.nn.functional.interpolate(
            logits.sigmoid(), size=(image.height, image.width), mode="bilinear", align_corners=False
        )[:, 0]
        return _winners(probs, prompts, 0.4 if threshold is None else threshold)


# DETR's panoptic heads number COCO panoptic's categories (250 outputs): ids up to 90 are things,
# the rest stuff, which DETR's own post-processing (is_thing_map) merges into one segment per class.
DETR_PANOPTIC_OUTPUTS, DETR_LAST_THING_ID = 250, 90


def stuff_labels(config: Any) -> frozenset[int]:
    """The label ids whose segments are fused: COCO panoptic's stuff for a DETR panoptic checkpoint;
    none for other models (MaskFormer's maps carry no thing/stuff split; transformers' pipeline fuses
    nothing)."""
    if config.model_type != "detr" or len(config.id2label) != DETR_PANOPTIC_OUTPUTS:
        return frozenset()
    return frozenset(int(i) for i in config.id2label if int(i) > DETR_LAST_THING_ID)


def load_mask_segmenter(ctx: LoadContext) -> Segmenter:
    """DETR panoptic, MaskFormer, Mask2Former: transformers' universal segmentation models,
    post-processed as panoptic segmentation (as its pipeline does by default)."""
    model, processor = load_pretrained(ctx, "AutoModelForUniversalSegmentation", "AutoImageProcessor")
    return Segmenter(model, processor, panoptic=True, fused_labels=stuff_labels(model.config))


def load_semantic_segmenter(ctx: LoadContext) -> Segmenter:
    model, processor = load_pretrained(ctx, "AutoModelForSemanticSegmentation", "AutoImageProcessor")
    return Segmenter(model, processor, panoptic=False)


def load_prompted_segmenter(ctx: LoadContext) -> PromptedSegmenter:
    return PromptedSegmenter(*load_pretrained(ctx, "CLIPSegForImageSegmentation", "AutoProcessor"))


def segment(model: Segmenter, inputs: dict[str, Any], params: dict[str, Any]) -> Segmentation:
    """The overlay, `[{"label", "score", "area"}]` largest first, and each segment's mask.

    The overlay paints each segment in its own colour over the photo; with no segment
    found it is the photo itself, so the controller's `path` is always there.
    """
    image = inputs["img_url"]
    found = model(image, params["threshold"], params["mask_threshold"], params["overlap_mask_area_threshold"])
    return _segmentation(image, *found)


def segment_by_prompts(model: PromptedSegmenter, inputs: dict[str, Any], params: dict[str, Any]) -> Segmentation:
    """As `segment`, for the things named in `text` ("cat, sofa") or, without them, DEFAULT_SEGMENT_PROMPTS."""
    image = inputs["img_url"]
    prompts = inputs["text"] or list(DEFAULT_SEGMENT_PROMPTS)
    return _segmentation(image, *model(image, prompts, params["threshold"]))


def _segmentation(image: Image.Image, ids: Any, segments: dict[int, dict[str, Any]]) -> Segmentation:
    import numpy as np
    from PIL import Image

    counts = np.bincount(np.clip(ids, 0, None).ravel())
    areas = {segment_id: int(counts[segment_id]) if 0 <= segment_id < len(counts) else 0 for segment_id in segments}
    palette = np.random.default_rng(0).integers(40, 256, size=(int(ids.max(initial=0)) + 2, 3)).astype(np.uint16)
    # Integer arithmetic on uint8/uint16 planes: a few bytes per pixel, not float32 copies of the photo.
    inside = ids > 0
    overlay = np.array(image, dtype=np.uint8)
    blended = (overlay[inside].astype(np.uint16) + palette[ids[inside]] + 1) // 2
    overlay[inside] = blended.astype(np.uint8)
    ordered = sorted(segments, key=lambda segment_id: areas[segment_id], reverse=True)
    kept = [i for i in ordered if areas[i] > 0]
    return Segmentation(
        overlay=Image.fromarray(overlay),
        segments=[{**segments[i], "area": _fraction(areas[i], ids.size)} for i in kept],
        masks=[Image.fromarray((ids == i).view(np.uint8) * np.uint8(255), mode="L") for i in kept],
    )


def _fraction(part: int, whole: int) -> float:
    """`part / whole` to 4 significant digits: a segment of a few pixels among 150 classes is a
    small fraction of a photo, never 0."""
    return float(f"{part / whole:.4g}")


SEGMENT = Task(contracts.IMAGE_SEGMENTATION, segment)
SEGMENT_BY_PROMPTS = Task(contracts.PROMPTED_IMAGE_SEGMENTATION, segment_by_prompts)


# --- depth --------------------------------------------------------------------------------------


@dataclass
class DepthEstimator:
    model: Any
    processor: Any

    def __call__(self, image: Image.Image) -> Image.Image:
        """Relative depth (near is bright) as an 8-bit greyscale image of the input's size."""
        import numpy as np
        import torch
        from PIL import Image

        pixels, canvas = processor_input(image, self.processor)
        inputs = to_model(self.processor(images=pixels, return_tensors="pt"), self.model)
        with torch.inference_mode():
            predicted = self.model(**inputs).predicted_depth.float()
        work = fit_within(canvas)  # float planes of the full photo would cost gigabytes
        left, top, right, bottom = crop_box(canvas, work, image.size)
        depth = torch.nn.functional.interpolate(
            predicted[:, None], size=(work[1], work[0]), mode="bicubic", align_corners=False
        )[0, 0, top:bottom, left:right].cpu().numpy()
        low, high = float(depth.min()), float(depth.max())
        scaled = (depth - low) / (high - low) if high > low else np.zeros_like(depth)
        grey = Image.fromarray((scaled * 255).round().astype(np.uint8))  # 2-D uint8: mode L
        return scale_to(grey, image.size, Image.Resampling.BICUBIC)


def load_depth_estimator(ctx: LoadContext) -> DepthEstimator:
    model, processor = load_pretrained(ctx, "AutoModelForDepthEstimation", "AutoImageProcessor")
    return DepthEstimator(model, processor)


def estimate_depth(model: DepthEstimator, inputs: dict[str, Any], params: dict[str, Any]) -> Image.Image:
    """The depth map; the app writes it and answers `{"path": "/images/<name>.png"}`."""
    return model(inputs["img_url"])


ESTIMATE_DEPTH = Task(contracts.DEPTH_ESTIMATION, estimate_depth)
