"""A step cache in the manner of DeepCache: the UNet's deep features change little from one
denoising step to the next, so they are computed every `interval` steps and reused in between.

What runs on each kind of step (a UNet of down blocks D0..Dn, a middle block M, up blocks U0..Un):
- a full step runs everything and keeps the output of every deep block (D1..Dn, M, U0..Un-1);
- a cached step runs only the shallow branch: the input convolution, D0, the last up block Un and
  the output convolution. Un reads the cached output of Un-1 (the deep features, upsampled) and
  the fresh skip connections of D0; the deep blocks hand back their kept outputs without running.

A ControlNet is an encoder of the same shape whose residuals are added to the UNet's skip
connections and to M's output. On a cached step its shallow part runs too (its input conv, the
control-map embedding, its D0 and their zero convolutions), so the residuals Un reads follow the
current latents and the control map; its deep blocks reuse their kept outputs, whose residuals
only reach UNet blocks that are not run on that step. The control map thus steers every step.

The blocks are wrapped once per module (`install`), and do nothing different unless a run is
active in the calling thread (`StepCachedPipeline`): pipelines that share the UNet, running at the
same time in other threads, are untouched, and each run keeps its own features.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

_RUN: ContextVar[_Run | None] = ContextVar("step_cache_run", default=None)
_WRAPPED = "_step_cache_wrapped"


class _Run:
    """One pipeline call: which step it is on and the deep blocks' outputs of the last full step."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.step = 0
        self.kept: dict[int, Any] = {}

    @property
    def full(self) -> bool:
        return self.step % self.interval == 0


def deep_blocks(model: Any) -> list[Any]:
    """The blocks a cached step skips: a UNet's inner down blocks, middle and inner up blocks; a
    ControlNet's inner down blocks and middle (it has no up blocks)."""
    blocks = [*model.down_blocks[1:], model.mid_block]
    up_blocks = getattr(model, "up_blocks", None)
    return blocks if up_blocks is None else [*blocks, *up_blocks[:-1]]


def install(model: Any) -> None:
    """Wrap `model`'s deep blocks (once) so that an active run may reuse their outputs."""
    for block in deep_blocks(model):
        if not getattr(block, _WRAPPED, False):
            block.forward = _cached_forward(block.forward, id(block))
            setattr(block, _WRAPPED, True)


def _cached_forward(forward: Callable[..., Any], key: int) -> Callable[..., Any]:
    import torch

    def cached_forward(*args: Any, **kwargs: Any) -> Any:
        run = _RUN.get()
        if run is None:
            return forward(*args, **kwargs)
        if run.full or key not in run.kept:
            run.kept[key] = forward(*args, **kwargs)
        return run.kept[key]

    # Under torch.compile the choice is made in Python on each call, never frozen into a graph;
    # the block's own forward is still compiled.
    return torch.compiler.disable(cached_forward, recursive=False)


class StepCachedPipeline:
    """A diffusers pipeline whose calls run with the step cache on; every other attribute is the
    pipeline's own. The models must have been `install`ed."""

    def __init__(self, pipeline: Any, interval: int) -> None:
        self.pipeline = pipeline
        self.interval = interval

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipeline, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = _Run(self.interval)
        on_step_end = kwargs.get("callback_on_step_end")

        def next_step(pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            run.step = step + 1
            return tensors if on_step_end is None else on_step_end(pipeline, step, timestep, tensors)

        token = _RUN.set(run)
        try:
            return self.pipeline(*args, **{**kwargs, "callback_on_step_end": next_step})
        finally:
            _RUN.reset(token)
