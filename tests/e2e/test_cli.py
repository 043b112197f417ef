"""The `models-server` command as a user runs it: a subprocess, real flags, real exit codes."""

import os
import socket
import time
from pathlib import Path

import pytest
import requests
from support.cli import cli, free_port, serve_process, wait_running

from models_server.catalog import catalog_rows


@pytest.mark.parametrize("command", [[], ["serve"], ["make-tiny"], ["list"], ["download"], ["check"]])
def test_help_everywhere(command):
    result = cli(*command, "--help")
    assert result.returncode == 0
    assert "usage: models-server" in result.stdout


def test_list_shows_the_catalog_of_a_tier():
    result = cli("list", "--tier", "minimal")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "task", "tier", "weights"]
    listed = {line.split()[0] for line in lines[1:]}
    minimal = {row.id for row in catalog_rows() if row.tier == "minimal"}
    assert listed == minimal
    assert "runwayml/stable-diffusion-v1-5" in result.stdout
    assert "(= midas-control)" in result.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["serve", "--bogus"], "--bogus"),
        (["serve", "--tier", "huge"], "--tier"),
        (["serve", "--port", "eighty"], "--port"),
        (["list", "--tier", "x"], "--tier"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_flags_exit_nonzero_with_one_line_naming_them(args, named):
    result = cli(*args)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and named in result.stderr


def test_bad_config_value_exits_nonzero_naming_the_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("tier: standard\nlimits:\n  max_steps: many\n")
    result = cli("serve", "--config", str(config))
    assert result.returncode == 2
    assert "limits.max_steps" in result.stderr and result.stderr.count("\n") == 1


def test_bad_device_flag_is_refused(tmp_path):
    result = cli("serve", "--device", "tpu:0", "--public-dir", str(tmp_path))
    assert result.returncode == 2 and "'device'" in result.stderr


@pytest.mark.slow
def test_serve_opens_the_port_before_the_models_load(tiny_root: Path, tmp_path: Path, photo_ref, public_dir):
    port = free_port()
    process = serve_process(
        ["--tier", "minimal", "--port", str(port), "--model-root", str(tiny_root), "--public-dir", str(public_dir),
         "--device", "cpu"],
        tmp_path / "serve.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        states = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/running", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        while time.monotonic() < deadline:
            state = requests.get(f"{base}/status/lllyasviel/sd-controlnet-seg", timeout=5).json()["state"]
            states.append(state)
            if state != "loading":
                break
            time.sleep(0.1)
        assert states[0] == "loading"  # /running answered before the last model loaded
        assert states[-1] == "loaded"
        response = requests.post(f"{base}/models/canny-control", json={"img_url": photo_ref}, timeout=60)
        assert response.status_code == 200 and (public_dir / response.json()["path"].lstrip("/")).is_file()
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(tiny_root, public_dir, photo_ref,
                                                                             tmp_path):
    import signal
    import threading

    port = free_port()
    # A grace period no loaded CI machine can outlast: the 60 steps must finish, whatever the load.
    config = tmp_path / "grace.yaml"
    config.write_text("shutdown_grace_seconds: 600\n")
    log = tmp_path / "serve.log"
    process = serve_process(
        ["--config", str(config), "--tier", "minimal", "--port", str(port), "--model-root", str(tiny_root),
         "--public-dir", str(public_dir), "--device", "cpu"],
        log,
    )
    base, model = f"http://127.0.0.1:{port}", "lllyasviel/sd-controlnet-canny"
    try:
        wait_running(base, process, log=log)
        while requests.get(f"{base}/status/{model}", timeout=30).json()["state"] != "loaded":
            time.sleep(0.1)
        outcome = {}
        body = {"img_url": photo_ref, "text": "a long one", "num_inference_steps": 60, "width": 128, "height": 128}

        def generate():
            try:
                outcome["response"] = requests.post(f"{base}/models/{model}", json=body, timeout=300)
            except requests.RequestException as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=generate)
        worker.start()
        progress = None
        while progress is None or progress["step"] < 1:
            progress = requests.get(f"{base}/status/{model}", timeout=30).json().get("progress")
        assert progress["total"] == 60 and progress["step"] < 60  # it is running: stop now
        process.send_signal(signal.SIGTERM)
        refused = False
        while process.poll() is None and not outcome:
            try:
                requests.get(f"{base}/running", timeout=10)
            except requests.ConnectionError:
                refused = True
                break
            except requests.Timeout:  # a starved CPU, not an answer either way: ask again
                continue
            time.sleep(0.02)
        worker.join(timeout=300)
        assert refused, "a new connection was accepted after SIGTERM"
        assert "error" not in outcome, f"the request in flight was cut: {outcome.get('error')!r}"
        assert outcome["response"].status_code == 200
        assert (public_dir / outcome["response"].json()["path"].lstrip("/")).is_file()
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_openmp_defaults_bound_the_spin_and_leave_a_users_choice(monkeypatch) -> None:
    from models_server.cli import set_openmp_defaults

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("KMP_BLOCKTIME", raising=False)
    set_openmp_defaults()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"  # the user's
    assert (os.environ["GOMP_SPINCOUNT"], os.environ["KMP_BLOCKTIME"]) == ("30000", "1")  # never an unbounded spin


@pytest.mark.parametrize("engine", ["single", "ray"])
def test_a_port_already_taken_is_one_clear_line_before_anything_starts(engine: str, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = cli("serve", "--config", "configs/tiny.yaml", "--engine", engine, "--host", "127.0.0.1",
                     "--port", str(port), "--model-root", str(tmp_path), timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
