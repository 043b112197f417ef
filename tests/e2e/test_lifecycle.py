"""A person's hands on a live server: probes, and (behind the key) what is loaded and until when."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.cli import serve_process

pytestmark = pytest.mark.slow

KEY = "lifecycle-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server(tiny_root: Path, public_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The minimal tier from the tiny models, behind a key, one model switched off, one broken."""
    folder = tmp_path_factory.mktemp("lifecycle")
    config = folder / "config.yaml"
    config.write_text(f"api_key: {KEY}\nmodels:\n  seg-control: {{weights: {folder / 'absent'}}}\n")
    with serve_process(["--config", str(config), "--tier", "minimal", "--model-root", str(tiny_root),
                        "--public-dir", str(public_dir), "--device", "cpu"], folder / "server.log") as base:
        yield base


def wait_ready(base: str, seconds: float = 300) -> list[requests.Response]:
    """Every /readyz answer, polled until the first 200."""
    answers = []
    deadline = time.monotonic() + seconds
    while not answers or answers[-1].status_code != 200:
        assert time.monotonic() < deadline, answers[-1].json()
        answers.append(requests.get(f"{base}/readyz", timeout=10))
        time.sleep(0.1)
    return answers


def test_probes_answer_without_a_key_and_readiness_waits_for_the_preloaded_models(server):
    assert requests.get(f"{server}/status", timeout=10).status_code == 403  # the key is needed elsewhere
    health = requests.get(f"{server}/healthz", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    answers = wait_ready(server)
    first, last = answers[0], answers[-1]
    assert first.status_code == 503 and first.json()["ready"] is False
    assert first.json()["loading"]  # the port opens before the models load: they are listed
    assert last.json() == {"ready": True, "loading": [], "failed": ["seg-control"]}  # failed for good is done
    models = requests.get(f"{server}/status", headers=AUTH, timeout=10).json()["models"]
    states = {model_id: status["state"] for model_id, status in models.items()}
    assert "loading" not in states.values() and states["lllyasviel/sd-controlnet-canny"] == "loaded"
    assert requests.get(f"{server}/running", timeout=10).json() == {"running": True}
