"""Each device's memory report, from the runtime's byte accounting and a source of readings.

No CUDA card is here: a fake source stands in for torch's allocator and the driver, so the CUDA
branch of the report is checked all the same; the real source is checked for what it reads here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from models_server.progress import CancelToken
from models_server.runtime.cancellation import Cancellations
from models_server.runtime.device_memory import (
    CudaReading,
    DeviceMemory,
    ReplicaMemory,
    TorchMemory,
    device_memory,
)

GIB = 1 << 30


@dataclass
class FakeCards:
    """Two cards: the server's (cuda:1) and one another process uses; `asked` records what was asked."""

    cards: list[CudaReading] = field(default_factory=lambda: [
        CudaReading(device="cuda:0", allocated=0, reserved=0, free=None, total=None),
        CudaReading(device="cuda:1", allocated=5 * GIB, reserved=6 * GIB, free=10 * GIB, total=24 * GIB),
    ])
    rss: int | None = 3 * GIB
    asked: list[str] = field(default_factory=list)

    def cuda(self, in_use: str) -> list[CudaReading]:
        self.asked.append(in_use)
        return self.cards

    def process_rss(self) -> int | None:
        return self.rss


def test_a_cuda_runtime_reports_its_weights_on_its_card_and_the_readings_beside_them():
    source = FakeCards()
    report = device_memory({"cpu": 100, "gpu": 4 * GIB}, "cuda:1", source)
    assert source.asked == ["cuda:1"]
    assert list(report) == ["cpu", "cuda:0", "cuda:1"]
    assert report["cuda:1"] == DeviceMemory(models_bytes=4 * GIB, allocated_bytes=5 * GIB, reserved_bytes=6 * GIB,
                                            free_bytes=10 * GIB, total_bytes=24 * GIB)
    assert report["cuda:0"].models_bytes == 0 and report["cuda:0"].free_bytes is None  # not this server's card
    assert report["cpu"] == DeviceMemory(models_bytes=100, allocated_bytes=None, reserved_bytes=3 * GIB,
                                         free_bytes=None, total_bytes=None)
    assert report["cuda:1"].as_json() == {"models_bytes": 4 * GIB, "allocated_bytes": 5 * GIB,
                                          "reserved_bytes": 6 * GIB, "free_bytes": 10 * GIB, "total_bytes": 24 * GIB}


def test_a_cuda_device_nothing_was_read_of_still_shows_the_models_bytes():
    report = device_memory({"cpu": 0, "gpu": 7}, "cuda:0", ReplicaMemory())
    assert report == {
        "cpu": DeviceMemory(models_bytes=0, allocated_bytes=None, reserved_bytes=None, free_bytes=None,
                            total_bytes=None),
        "cuda:0": DeviceMemory(models_bytes=7, allocated_bytes=None, reserved_bytes=None, free_bytes=None,
                               total_bytes=None),
    }


def test_a_cpu_runtime_reports_the_cpu_only():
    report = device_memory({"cpu": 42, "gpu": 0}, "cpu", FakeCards(cards=[]))  # torch has no card in use
    assert list(report) == ["cpu"] and report["cpu"].models_bytes == 42


def test_torch_memory_here_reads_the_process_rss_and_opens_no_cuda_context():
    import psutil
    import torch

    source = TorchMemory()
    rss = source.process_rss()
    assert rss is not None and abs(rss - psutil.Process().memory_info().rss) < 256 << 20
    assert source.cuda("cpu") == [] and not torch.cuda.is_initialized()


def test_the_in_flight_list_names_each_request_its_model_and_start():
    in_flight = Cancellations()
    entered, leave = threading.Event(), threading.Event()

    def serve():
        with in_flight.tracked(CancelToken("req-1"), model="canny-control", path="/models/canny-control"):
            entered.set()
            leave.wait(30)

    before = time.time()
    thread = threading.Thread(target=serve)
    thread.start()
    assert entered.wait(30)
    (listed,) = in_flight.in_flight()
    assert (listed.request_id, listed.model, listed.path, listed.cancelled) == (
        "req-1", "canny-control", "/models/canny-control", False)
    assert before <= listed.started <= time.time()
    assert len(in_flight.cancel("req-1", "by a test")) == 1
    assert in_flight.in_flight()[0].cancelled
    leave.set()
    thread.join(30)
    assert in_flight.in_flight() == []
