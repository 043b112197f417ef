"""What a host reads of a runtime, whether its models run in this process or elsewhere.

The Flask app, its metrics and status page, and the request pipeline depend on this and nothing
more: the single-process `Runtime` and the Ray ingress's `ClusterRuntime` both answer it, checked
by mypy wherever one is passed as a `RuntimeView`. Running a request is not here: that is the
pipeline's executor, which differs by engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from models_server.catalog import ModelSpec
from models_server.config import Settings
from models_server.runtime.device_memory import DeviceMemory
from models_server.runtime.slots import DeviceFacts, SlotView


class RuntimeView(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def catalog(self) -> Mapping[str, ModelSpec]:
        """Every served id and alias to its row."""

    @property
    def device(self) -> str: ...

    @property
    def devices(self) -> DeviceFacts:
        """The runtime's device, for a model whose snapshot names none of its own."""

    def resolve(self, model_id: str) -> str:
        """The served id for an id or alias; NotFound for anything else."""

    def batch_limit(self, model_id: str) -> int:
        """The most requests the model runs as one call (1 unless its task batches)."""

    def view(self, model_id: str) -> SlotView: ...

    def views(self) -> dict[str, SlotView]: ...

    def resident_bytes(self) -> dict[str, int]:
        """Bytes of weights resident, by placement (gpu, cpu)."""

    def memory(self) -> dict[str, DeviceMemory]:
        """Per device ("cpu", "cuda:0", ...): the models' bytes, and what torch and the driver say."""

    def reload(self, model_id: str) -> SlotView:
        """Load a model again; its snapshot once the load is done."""

    def load(self, model_id: str, keep_alive: float | None = None) -> SlotView:
        """Make the model resident now; `keep_alive` seconds idle before it unloads (-1 never)."""

    def unload(self, model_id: str) -> SlotView:
        """Free the model once its requests are done; a later request loads it again."""

    def keep_alive_status(self, view: SlotView) -> dict[str, float | None]:
        """`keep_alive` and `expires_in` for the model's /status, or nothing where models stay."""
