"""Loading transformers models from a local folder and feeding them, the same way everywhere."""

from __future__ import annotations

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
    if processor_class is not None:
        processor = getattr(transformers, processor_class).from_pretrained(folder, local_files_only=True)
    return model, processor


def to_model(inputs: Any, model: Any) -> dict[str, Any]:
    """Processor output moved to the model's device; floating tensors cast to its dtype."""
    moved = {}
    for key, value in dict(inputs).items():
        if hasattr(value, "to"):
            floating = value.is_floating_point()
            value = value.to(model.device, dtype=model.dtype) if floating else value.to(model.device)
        moved[key] = value
    return moved
