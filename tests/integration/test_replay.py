"""The 24 GB GPU box on paper: a controller's day replayed over every row of the full tier.

No real weights: each row loads a stand-in holding buffers of its real fp16 size (scaled down
2**16 times), through the real residency code, with the budgets of configs/gpu-24gb.yaml scaled
the same way. The repos several rows share (the SD 1.5 base) are shared components, as the real
loaders make them. This machine has no GPU, so the GPU budget is played by the CPU budget: the
GPU -> CPU step of the real box is not exercised, only "does the working set fit and rotate".
"""

import dataclasses
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from support.paths import REPO

from models_server.catalog import ModelSpec, catalog_rows
from models_server.catalog.sizes import SHARED_REPO_BYTES
from models_server.config import load_settings
from models_server.runtime import Runtime
from models_server.tasks.base import Contract, Field, Kind, Task

SCALE = 2**16
CONFIG = REPO / "configs" / "gpu-24gb.yaml"


def _buffer(size: int):
    import torch

    module = torch.nn.Module()
    module.register_buffer("weights", torch.zeros(max(1, size // SCALE), dtype=torch.uint8))
    return module


def stand_in(row: ModelSpec) -> ModelSpec:
    shared = {repo.name: SHARED_REPO_BYTES[repo.name] for repo in row.weights if repo.name in SHARED_REPO_BYTES}
    own = max(0, (row.fp16_bytes or 0) - sum(shared.values()))

    def load(ctx):
        parts = {name: ctx.shared(("stand-in", name), lambda size=size: _buffer(size)) for name, size in shared.items()}
        return {"own": _buffer(own), **parts}

    contract = Contract(row.task.name, (Field("text", Kind.TEXT, required=True),))
    task = Task(contract, lambda model, inputs, params: {"ok": 1})
    scaled = None if row.fp16_bytes is None else max(1, row.fp16_bytes // SCALE)
    return dataclasses.replace(row, task=task, weights=(), loader=load, fp16_bytes=scaled)


def test_a_day_of_controller_requests_fits_the_24gb_box(tmp_path):
    assert all(row.fp16_bytes is not None for row in catalog_rows()), "every row carries its fp16 size"
    rows = [stand_in(row) for row in catalog_rows() if row.in_tier("full")]
    box = load_settings(CONFIG, {"device": "cpu", "model_root": tmp_path, "public_dir": tmp_path}, environ={})
    budget = box.max_gpu_memory // SCALE
    settings = box.model_copy(update={"max_cpu_memory": budget, "max_gpu_memory": None})  # float16, as the box
    runtime = Runtime(settings, rows)
    runtime.load_all()

    plan = random.Random(24)
    ids = [row.id for row in rows]
    controlnets = [model_id for model_id in ids if "control" in model_id]
    requests = plan.sample(ids, len(ids)) + [
        plan.choice(controlnets) if plan.random() < 0.4 else plan.choice(ids) for _ in range(300)
    ]
    peak, lock, answers = [0], threading.Lock(), []

    def ask(model_id: str) -> None:
        answers.append((model_id, runtime.run(model_id, {"text": "x"}, {})))
        with lock:
            peak[0] = max(peak[0], runtime.resident_bytes()["cpu"])

    with ThreadPoolExecutor(4) as pool:  # the controller runs a plan's independent tasks at once
        for future in [pool.submit(ask, model_id) for model_id in requests]:
            future.result()
    assert len(answers) == len(requests) and all(answer == {"ok": 1} for _, answer in answers)
    assert peak[0] <= budget
    assert {view.state.value for view in runtime.views().values()} <= {"loaded", "not_loaded"}
