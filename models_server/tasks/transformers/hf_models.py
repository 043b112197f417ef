"""Loading transformers models from a local folder and feeding them, the same way everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext


def load_pretrained(ctx: LoadContext, model_class: str, processor_class: str | None) -> tuple[Any, Any]:
    """The model (on ctx's device and dtype, in eval mode) and its processor from `weight_dirs[0]`.

    Classes are named as strings (`"AutoModelForObjectDetection"`) so transformers is
    imported only when a model loads. The processor always loads in full precision: it
    runs on the CPU and `to_model` casts its tensors.
    """
    import transformers

    folder = ctx.weight_dirs[0]
    model = getattr(transformers, model_class).from_pretrained(folder, dtype=ctx.dtype, local_files_only=True)
    model = model.to(ctx.device).eval()
    processor = None
    if processor_class == "AutoImageProcessor":
        processor = load_image_processor(folder, model.config)
    elif processor_class is not None:
        processor = getattr(transformers, processor_class).from_pretrained(folder, local_files_only=True)
    return model, processor


def load_image_processor(folder: Path, config: Any) -> Any:
    """The repo's image processor; for a repo pushed without one (a Trainer run that was not given
    its processor, e.g. xhyi/layoutlmv3_docvqa_t11c5000), its model type's processor with the
    library's defaults, which are the pretrained checkpoint's settings for these models."""
    import transformers
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING

    try:
        return transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    except OSError:
        known = IMAGE_PROCESSOR_MAPPING.get(type(config), None)
        if known is None:
            raise
    if isinstance(known, dict):  # one class per backend; AutoImageProcessor prefers torchvision's
        known = known.get("torchvision") or next(iter(known.values()))
    return known()


def to_model(inputs: Any, model: Any) -> dict[str, Any]:
    """Processor output moved to the model's device; floating tensors cast to its dtype."""
    moved = {}
    for key, value in dict(inputs).items():
        if hasattr(value, "to"):
            floating = value.is_floating_point()
            value = value.to(model.device, dtype=model.dtype) if floating else value.to(model.device)
        moved[key] = value
    return moved
