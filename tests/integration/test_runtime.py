"""Loading, states and failure isolation of the runtime, on tiny models."""

import logging
import threading

import pytest
from support.serving import model_replaced, tiny_settings

from models_server.catalog import ModelSpec, catalog_rows
from models_server.catalog.minimal import CONTROLNET_KINDS
from models_server.errors import ConfigError
from models_server.http.app import create_app
from models_server.http.status_body import model_status
from models_server.runtime import Runtime, State
from models_server.tasks.base import Contract, Field, Kind, Task


def rows(*ids: str) -> list[ModelSpec]:
    by_id = {row.id: row for row in catalog_rows()}
    return [by_id[model_id] for model_id in ids]


def test_eight_controlnets_share_one_base_and_own_their_scheduler_and_tokenizer(served):
    pipelines = [served.runtime.model(f"lllyasviel/sd-controlnet-{kind}") for kind in CONTROLNET_KINDS]
    first = pipelines[0]
    for pipeline in pipelines[1:]:
        for name in ("unet", "vae", "text_encoder"):
            assert getattr(pipeline, name) is getattr(first, name), name
        assert pipeline.scheduler is not first.scheduler
        # a fast tokenizer's padding state changes per call: shared, it mixes concurrent prompts
        assert pipeline.tokenizer is not first.tokenizer
        assert pipeline.controlnet is not first.controlnet
    assert len({id(p.controlnet) for p in pipelines}) == 8


def test_missing_weights_fail_that_model_only(tiny_root, public_dir, tmp_path):
    settings = tiny_settings(
        tiny_root, public_dir, models={"lllyasviel/sd-controlnet-hed": {"weights": str(tmp_path / "absent")}}
    )
    runtime = Runtime(settings, rows("canny-control", "lllyasviel/sd-controlnet-hed", "lllyasviel/sd-controlnet-mlsd"))
    runtime.load_all()
    failed = model_status(runtime.view("lllyasviel/sd-controlnet-hed"), runtime)
    assert failed["state"] == "failed" and failed["loaded"] is False
    assert "absent" in failed["error"]["message"]
    assert runtime.view("lllyasviel/sd-controlnet-mlsd").state is State.LOADED
    assert runtime.view("canny-control").state is State.LOADED


def test_missing_model_root_names_where_it_looked(public_dir, tmp_path):
    settings = tiny_settings(tmp_path / "empty-root", public_dir)
    runtime = Runtime(settings, rows("hed-control"))
    runtime.load_all()
    view = runtime.view("hed-control")
    assert view.state is State.FAILED
    assert "lllyasviel/Annotators" in view.reason and "models-server download" in view.reason


@pytest.mark.parametrize(("model_id", "removed", "reason"), [
    ("deepset/minilm-uncased-squad2", "pytorch_model.bin", "holds no weight file (.safetensors or .bin)"),
    ("CompVis/stable-diffusion-v1-4", "unet/diffusion_pytorch_model.fp16.safetensors",
     "unet holds no weight file (model_index.json lists unet)"),
])
def test_a_lazy_model_whose_copy_is_incomplete_is_failed_at_start(tiny_root, public_dir, tmp_path, model_id, removed,
                                                                   reason):
    """A half-copied folder would answer `loaded: true` and fail its first request: it is checked at
    start as `check` checks it, with the download as the fix."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(tiny_root / model_id, folder)
    (folder / removed).unlink()
    settings = tiny_settings(tiny_root, public_dir, models={model_id: {"weights": str(folder)}})
    (row,) = rows(model_id)
    assert not row.preload
    view = Runtime(settings, [row]).view(model_id)
    assert view.state is State.FAILED
    assert reason in (view.reason or "") and f"fix: models-server download --model {model_id}" in view.reason


def test_a_lazy_sentence_transformer_naming_modules_of_its_own_code_is_failed_at_start(tiny_root, public_dir,
                                                                                       tmp_path):
    """Remote code stays off, so sentence-transformers would refuse the module at load: said at start."""
    import json
    import shutil

    model_id = "hkunlp/instructor-xl"
    folder = tmp_path / "copy"
    shutil.copytree(tiny_root / model_id, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["type"] = "InstructorEmbedding.INSTRUCTOR_Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))
    (row,) = rows(model_id)
    assert not row.preload
    settings = tiny_settings(tiny_root, public_dir, models={model_id: {"weights": str(folder)}})
    view = Runtime(settings, [row]).view(model_id)
    assert view.state is State.FAILED
    assert "names modules sentence-transformers does not ship: InstructorEmbedding.INSTRUCTOR_Transformer" in (
        view.reason or "")


@pytest.mark.parametrize("model_id", ["lllyasviel/sd-controlnet-canny", "runwayml/stable-diffusion-v1-5"])
def test_a_pipeline_whose_tiny_vae_decoder_is_absent_is_failed_at_start(tiny_root, public_dir, tmp_path, model_id):
    """`tiny_vae` makes the SD1.5 pipelines read TAESD's folder: without it they are failed at start
    with the download as the fix, not loaded and then failed; with it, or with the setting off, they load."""
    root = tmp_path / "root"
    for repo in ("lllyasviel/sd-controlnet-canny", "runwayml/stable-diffusion-v1-5"):
        (root / repo).parent.mkdir(parents=True, exist_ok=True)
        (root / repo).symlink_to(tiny_root / repo)
    settings = tiny_settings(root, public_dir, diffusion={"tiny_vae": True})
    view = Runtime(settings, rows(model_id)).view(model_id)
    assert view.state is State.FAILED
    assert "models-server download --model madebyollin/taesd" in (view.reason or "")
    assert Runtime(tiny_settings(root, public_dir), rows(model_id)).view(model_id).state is not State.FAILED
    (root / "madebyollin").mkdir()
    (root / "madebyollin/taesd").symlink_to(tiny_root / "madebyollin/taesd")
    assert Runtime(settings, rows(model_id)).view(model_id).state is not State.FAILED


def test_tier_and_config_decide_what_is_disabled(tiny_root, public_dir):
    settings = tiny_settings(tiny_root, public_dir, tier="minimal", models={"hed-control": {"enabled": False}})
    runtime = Runtime(settings)
    assert runtime.view("hed-control").state is State.DISABLED
    assert runtime.view("canny-control").state is State.LOADING
    higher = [row for row in catalog_rows() if row.tier != "minimal"]
    for row in higher:
        assert runtime.view(row.id).state is State.DISABLED
        assert "tier" in runtime.view(row.id).reason


def test_unknown_model_in_config_is_refused(tiny_root, public_dir):
    with pytest.raises(ConfigError, match=r"models\.no/such-model"):
        Runtime(tiny_settings(tiny_root, public_dir, models={"no/such-model": {"enabled": False}}))


def test_requests_to_models_that_cannot_serve_are_503_with_the_state(tiny_root, public_dir, photo_ref, tmp_path):
    settings = tiny_settings(
        tiny_root, public_dir, models={"hed-control": False, "mlsd-control": {"weights": str(tmp_path / "nope")}}
    )
    runtime = Runtime(settings, rows("canny-control", "hed-control", "mlsd-control"))
    client = create_app(settings, runtime).test_client()
    loading = client.post("/models/canny-control", json={"img_url": photo_ref})
    assert loading.status_code == 503 and loading.get_json()["error"]["state"] == "loading"
    runtime.load_all()
    for model_id, state in (("hed-control", "disabled"), ("mlsd-control", "failed")):
        response = client.post(f"/models/{model_id}", json={"img_url": photo_ref})
        assert response.status_code == 503
        assert response.get_json()["error"]["state"] == state
        assert client.get(f"/status/{model_id}").get_json()["state"] == state
    assert client.post("/models/canny-control", json={"img_url": photo_ref}).status_code == 200


def test_an_exception_in_a_handler_is_a_500_and_the_model_serves_on(tiny_root, public_dir):
    calls = []

    def flaky(model, inputs, params):
        calls.append(inputs["text"])
        if inputs["text"] == "explode":
            raise RuntimeError("boom")
        return {"echo": inputs["text"]}

    task = Task(Contract("echo", (Field("text", Kind.TEXT, required=True),)), flaky)
    spec = ModelSpec("test/flaky", task, "minimal", (), lambda ctx: object())
    settings = tiny_settings(tiny_root, public_dir)
    runtime = Runtime(settings, [spec])
    runtime.load_all()
    client = create_app(settings, runtime).test_client()
    failed = client.post("/models/test/flaky", json={"text": "explode"})
    assert failed.status_code == 500
    assert failed.get_json()["error"] == {
        "message": "model test/flaky failed while running (RuntimeError); the server log has the details",
        "type": "inference_failed"}
    assert client.post("/models/test/flaky", json={"text": "again"}).get_json() == {"echo": "again"}
    assert runtime.view("test/flaky").queue == 0
    assert not runtime.slots.run_lock("test/flaky").locked()
    assert calls == ["explode", "again"]


class MissingFrontEnd:
    """A model whose first use imports a package that is not installed, as a g2p front end does."""

    def __getattr__(self, name: str):
        raise ModuleNotFoundError("No module named 'pyopenjtalk'")

    def __call__(self, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'pyopenjtalk'")


def test_a_library_error_is_a_500_in_our_words_and_its_text_goes_to_status(served, client, photo_ref, caplog):
    with model_replaced(served.runtime, "canny-control", MissingFrontEnd()):
        response = client.post("/models/canny-control", json={"img_url": photo_ref})
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["type"] == "inference_failed"
    assert "canny-control" in error["message"] and "ModuleNotFoundError" in error["message"]
    assert "pyopenjtalk" not in response.get_data(as_text=True)
    status = client.get("/status/canny-control").get_json()
    assert status["loaded"] is True and status["state"] == "loaded"  # one failed request, not a failed model
    assert status["last_error"] == "ModuleNotFoundError: No module named 'pyopenjtalk'"
    assert "No module named 'pyopenjtalk'" in caplog.text
    assert client.post("/models/canny-control", json={"img_url": photo_ref}).status_code == 200


def test_admin_reload_retries_a_failed_model(tiny_root, public_dir, photo_ref, tmp_path):
    import shutil

    weights = tmp_path / "hed-weights"
    settings = tiny_settings(tiny_root, public_dir, models={"lllyasviel/sd-controlnet-hed": {"weights": str(weights)}})
    runtime = Runtime(settings, rows("lllyasviel/sd-controlnet-hed", "canny-control"))
    runtime.load_all()
    client = create_app(settings, runtime).test_client()
    assert client.get("/status/lllyasviel/sd-controlnet-hed").get_json()["state"] == "failed"

    shutil.copytree(tiny_root / "lllyasviel" / "sd-controlnet-hed", weights)  # the operator fixes the weights
    reloaded = client.post("/admin/reload/lllyasviel/sd-controlnet-hed")
    assert reloaded.status_code == 200 and reloaded.get_json()["state"] == "loaded"
    body = {"img_url": photo_ref, "text": "x", "num_inference_steps": 1}
    assert client.post("/models/lllyasviel/sd-controlnet-hed", json=body).status_code == 200
    assert client.post("/admin/reload/nobody/nothing").status_code == 404


def _recording_spec(model_id: str, handler) -> ModelSpec:
    import torch

    contract = Contract("echo", (Field("text", Kind.TEXT, required=True), Field("img_url", Kind.IMAGE)),
                        params=(Field("num_inference_steps", Kind.INT, default=20),))
    task = Task(contract, handler)
    return ModelSpec(model_id, task, "minimal", (), lambda ctx: {"layer": torch.nn.Linear(4, 4), "calls": []})


def test_warm_up_runs_the_handler_once_at_load_with_cheap_inputs(tiny_root, public_dir):
    def record(model, inputs, params):
        model["calls"].append((inputs["text"], inputs["img_url"].size, params["num_inference_steps"]))
        return {}

    runtime = Runtime(tiny_settings(tiny_root, public_dir, warmup=True), [_recording_spec("test/warm", record)])
    runtime.load_all()
    calls = runtime.model("test/warm")["calls"]
    assert len(calls) == 1 and calls[0][1] == (64, 64) and calls[0][2] == 1


def test_compile_true_compiles_the_modules_and_warms_them_up(tiny_root, public_dir):
    def record(model, inputs, params):
        model["calls"].append(inputs["text"])
        return {}

    settings = tiny_settings(tiny_root, public_dir, models={"test/compiled": {"compile": True}})
    runtime = Runtime(settings, [_recording_spec("test/compiled", record)])
    runtime.load_all()
    model = runtime.model("test/compiled")
    assert model["layer"]._compiled_call_impl is not None  # torch.compile wraps the forward
    assert len(model["calls"]) == 1


def test_a_compile_that_fails_its_warm_up_leaves_the_model_eager_and_serving(tiny_root, public_dir, caplog):
    def fails_compiled(model, inputs, params):
        if model["layer"]._compiled_call_impl is not None:
            raise RuntimeError("inductor: C++ compile error\nmore detail")
        model["calls"].append(inputs["text"])
        return {"ok": True}

    settings = tiny_settings(tiny_root, public_dir, models={"test/compiled": {"compile": True}})
    runtime = Runtime(settings, [_recording_spec("test/compiled", fails_compiled)])
    with caplog.at_level(logging.WARNING, logger="models_server"):
        runtime.load_all()
    model = runtime.model("test/compiled")
    assert model["layer"]._compiled_call_impl is None and len(model["calls"]) == 1  # the eager warm-up ran
    assert runtime.view("test/compiled").state is State.LOADED
    assert [record.getMessage() for record in caplog.records] == [
        "torch.compile of test/compiled failed, it runs without compiling: RuntimeError: inductor: C++ compile error"]


def test_a_warm_up_that_fails_eagerly_too_keeps_the_compile(tiny_root, public_dir):
    def always_fails(model, inputs, params):
        raise ValueError("the sample is not what this model takes")

    settings = tiny_settings(tiny_root, public_dir, models={"test/compiled": {"compile": True}})
    runtime = Runtime(settings, [_recording_spec("test/compiled", always_fails)])
    runtime.load_all()
    assert runtime.model("test/compiled")["layer"]._compiled_call_impl is not None
    assert runtime.view("test/compiled").state is State.LOADED


def test_out_of_memory_in_a_request_is_a_503_and_the_model_serves_on(tiny_root, public_dir):
    import torch

    def maybe_oom(model, inputs, params):
        if inputs["text"] == "huge":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return {"ok": True}

    settings = tiny_settings(tiny_root, public_dir)
    runtime = Runtime(settings, [_recording_spec("test/oom", maybe_oom)])
    runtime.load_all()
    client = create_app(settings, runtime).test_client()
    response = client.post("/models/test/oom", json={"text": "huge"})
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert "out of memory" in response.get_json()["error"]["message"]
    assert client.post("/models/test/oom", json={"text": "small"}).get_json() == {"ok": True}
    assert not runtime.slots.run_lock("test/oom").locked() and runtime.view("test/oom").queue == 0


def test_a_models_calls_run_on_one_thread_of_its_own_whichever_thread_asks(tiny_root, public_dir):
    """torch's OpenMP keeps a team per calling thread: a model called from every server thread in
    turn woke a cold team each time (runtime/lanes.py)."""
    import torch

    seen: list[tuple[str, int, bool]] = []

    def where(model, inputs, params):
        seen.append((model, threading.get_ident(), torch.is_inference_mode_enabled()))
        return {}

    task = Task(Contract("where", (Field("text", Kind.TEXT, required=True),)), where)
    specs = [ModelSpec(f"test/{name}", task, "minimal", (), lambda ctx, name=name: name) for name in ("a", "b")]
    runtime = Runtime(tiny_settings(tiny_root, public_dir), specs)
    runtime.load_all()
    done = threading.Event()  # callers stay alive to the end, so no thread id is reused meanwhile

    def call(model_id: str, ran: threading.Event) -> None:
        runtime.run(model_id, {"text": "x"}, {})
        ran.set()
        done.wait(timeout=60)

    callers = []
    for model_id in ("test/a", "test/b", "test/a", "test/a", "test/b"):
        ran = threading.Event()
        caller = threading.Thread(target=call, args=(model_id, ran))
        caller.start()
        assert ran.wait(timeout=60)
        callers.append(caller)
    done.set()
    for caller in callers:
        caller.join()
    threads = {model: {ident for name, ident, _ in seen if name == model} for model in ("a", "b")}
    assert len(threads["a"]) == 1 and len(threads["b"]) == 1 and threads["a"] != threads["b"]
    assert not (threads["a"] | threads["b"]) & {caller.ident for caller in callers}
    assert all(inference for _, _, inference in seen)  # per-thread state is set where the call runs


def test_a_model_without_torch_calls_runs_on_the_requests_own_thread(tiny_root, public_dir):
    """No hand-off to a model thread where there is no OpenMP team to keep warm (canny: OpenCV)."""
    import torch

    seen: list[tuple[int, bool]] = []

    def where(model, inputs, params):
        seen.append((threading.get_ident(), torch.is_inference_mode_enabled()))
        return {}

    task = Task(Contract("where", (Field("text", Kind.TEXT, required=True),)), where)
    spec = ModelSpec("test/opencv", task, "minimal", (), lambda ctx: "opencv", torch_calls=False)
    runtime = Runtime(tiny_settings(tiny_root, public_dir), [spec])
    runtime.load_all()
    runtime.run("test/opencv", {"text": "x"}, {})
    assert seen == [(threading.get_ident(), True)]
