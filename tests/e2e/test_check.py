"""`models-server check` on the tiny models and on deliberately broken copies of them."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.serving import tiny_settings

from models_server.catalog import build_catalog, catalog_rows
from models_server.check import (
    Target,
    Verdict,
    check_models,
    checked_rows,
    coverage_lines,
    report,
)
from models_server.weights.lfs import POINTER_PREFIX

ROWS = build_catalog(catalog_rows())
BROKEN = ("gpt2", "distilbert-base-uncased-finetuned-sst-2-english", "dslim/bert-base-NER",
          "runwayml/stable-diffusion-v1-5", "t5-base")


def copy_repo(tiny_root: Path, root: Path, name: str) -> Path:
    target = root / name
    shutil.copytree(tiny_root / name, target)
    return target


@pytest.fixture(scope="module")
def broken_root(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copies of five tiny repos, four broken the ways users' folders break; t5-base left intact."""
    root = tmp_path_factory.mktemp("broken-models")
    for name in BROKEN:
        copy_repo(tiny_root, root, name)
    (root / "gpt2" / "model.safetensors").unlink()  # a missing file
    pointer = root / "distilbert-base-uncased-finetuned-sst-2-english" / "model.safetensors"
    pointer.write_bytes(POINTER_PREFIX + b"\noid sha256:" + b"0" * 64 + b"\nsize 1234\n")  # git-lfs stub
    config = root / "dslim" / "bert-base-NER" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model_type": "bertt"}))  # a wrong config
    shutil.rmtree(root / "runwayml" / "stable-diffusion-v1-5" / "unet")  # a missing component
    return root


def test_the_tiny_tier_passes_every_model(tiny_root, public_dir):
    settings = tiny_settings(tiny_root, public_dir)
    rows = checked_rows(catalog_rows(), settings)
    results = check_models(rows, settings)
    assert len(results) == len(rows) == sum(row.in_tier("full") for row in catalog_rows())
    failed = {result.spec.id: result.problems for result in results if result.verdict is not Verdict.OK}
    assert failed == {}
    assert all(result.size for result in results if result.spec.weights)


def test_broken_copies_fail_each_with_its_cause_and_fix(broken_root, public_dir):
    settings = tiny_settings(broken_root, public_dir)
    results = {r.spec.id: r for r in check_models([ROWS[name] for name in BROKEN], settings)}
    assert results["t5-base"].verdict is Verdict.OK
    gpt2 = results["gpt2"]
    assert gpt2.verdict is Verdict.FAIL and "holds no weight file" in gpt2.problems[0]
    assert gpt2.fixes[0] == "models-server download --model gpt2"
    stub = results["distilbert-base-uncased-finetuned-sst-2-english"]
    assert "model.safetensors" in stub.problems[0] and "git-lfs pointer" in stub.problems[0]
    assert stub.fixes[0].startswith("git lfs pull")
    ner = results["dslim/bert-base-NER"]
    assert "model_type 'bertt'" in ner.problems[0] and "config.json" in ner.problems[0]
    sd = results["runwayml/stable-diffusion-v1-5"]
    assert "unet/config.json is missing" in sd.problems[0]
    assert all(result.blocks_start for name, result in results.items() if name != "t5-base")


def test_a_truncated_safetensors_file_is_named(tiny_root, public_dir, tmp_path):
    folder = copy_repo(tiny_root, tmp_path, "t5-base")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    [result] = check_models([ROWS["t5-base"]], tiny_settings(tmp_path, public_dir))
    assert "is truncated" in result.problems[0] and str(weights) in result.problems[0]


def test_a_model_whose_folder_is_absent_points_at_download(tmp_path, public_dir):
    [result] = check_models([ROWS["gpt2"]], tiny_settings(tmp_path, public_dir))
    assert "weights of gpt2 not found" in result.problems[0]
    assert result.fixes == ["models-server download --model gpt2"]


def test_a_pipeline_whose_tiny_vae_decoder_is_absent_fails_as_the_server_would_fail_it(tiny_root, public_dir, tmp_path):
    """`tiny_vae` makes the SD1.5 pipelines read TAESD's folder: `check` says it is missing, with
    the download as the fix, as the server's start-up does (tests/integration/test_runtime.py)."""
    copy_repo(tiny_root, tmp_path, "runwayml/stable-diffusion-v1-5")
    settings = tiny_settings(tmp_path, public_dir, diffusion={"tiny_vae": True})
    [result] = check_models([ROWS["runwayml/stable-diffusion-v1-5"]], settings)
    assert result.verdict is Verdict.FAIL
    assert result.problems[0].startswith("its `diffusion:` settings read madebyollin/taesd: weights of")
    assert result.fixes == ["models-server download --model madebyollin/taesd"]
    copy_repo(tiny_root, tmp_path, "madebyollin/taesd")
    [result] = check_models([ROWS["runwayml/stable-diffusion-v1-5"]], settings)
    assert result.verdict is Verdict.OK, result.problems


def test_a_model_bigger_than_the_budget_fails_and_lazy_ones_do_not_block(tiny_root, public_dir):
    settings = tiny_settings(tiny_root, public_dir, max_cpu_memory="100kB",
                             models={"gpt2": {"preload": False}})
    results = {r.spec.id: r for r in check_models([ROWS["gpt2"], ROWS["microsoft/resnet-50"]], settings)}
    gpt2 = results["gpt2"]
    assert gpt2.verdict is Verdict.FAIL and "max_cpu_memory is 100.0 kB" in gpt2.problems[0]
    assert not gpt2.preload and not gpt2.blocks_start  # lazy: it fails on its first request, not at start
    assert results["microsoft/resnet-50"].verdict is Verdict.OK  # 91 kB on disk (1000 ImageNet classes)


def test_load_catches_a_config_that_does_not_fit_the_weights(tiny_root, public_dir, tmp_path):
    folder = copy_repo(tiny_root, tmp_path, "t5-base")
    copy_repo(tiny_root, tmp_path, "gpt2")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "d_model": config["d_model"] * 2}))
    settings = tiny_settings(tmp_path, public_dir)
    seen = []
    offline = check_models([ROWS["t5-base"]], settings)
    assert offline[0].verdict is Verdict.OK  # shapes only show when the weights meet the model
    results = check_models([ROWS["t5-base"], ROWS["gpt2"]], settings, load=True,
                           progress=lambda step, total, what: seen.append((step, total, what)))
    t5, gpt2 = results
    assert t5.verdict is Verdict.FAIL and t5.problems[0].startswith("does not load on cpu")
    assert t5.fixes[0].startswith("the config does not fit the weights' shapes")
    assert gpt2.verdict is Verdict.OK and gpt2.load_seconds is not None and gpt2.size_source == "loaded"
    assert [step for step, _, _ in seen] == [1, 2, 3, 4] and seen[-1][2] == "loading gpt2"


def test_coverage_counts_the_candidates_that_would_answer_loaded(broken_root, public_dir):
    settings = tiny_settings(broken_root, public_dir)
    results = check_models([ROWS[name] for name in BROKEN], settings)
    lines = coverage_lines(results, {"text2text-generation": ["t5-base", "google/flan-t5-base"],
                                     "text-generation": ["gpt2"]}, minimum=1)
    assert lines == ["  text2text-generation: 1 of 2 candidates ready",
                     "  text-generation: 0 of 1 candidates ready  (fewer than 1: a hybrid controller "
                     "without the Hub hangs)"]
    text = report(results, Target.of(settings), 1.0, {"text-generation": ["gpt2"]})
    assert "controller coverage per task:" in text
    assert text[-1].startswith("5 models checked in 1.0s: 1 ok, 0 warn, 4 fail (4 preloaded)")


def test_checked_rows_takes_ids_and_aliases_and_refuses_unknown_ones(tiny_root, public_dir):
    settings = tiny_settings(tiny_root, public_dir, tier="minimal")
    assert [row.id for row in checked_rows(catalog_rows(), settings, ["gpt2", "midas-control"])] == [
        "gpt2", "depth-control"]
    with pytest.raises(LookupError, match="'nope' is not a served model id"):
        checked_rows(catalog_rows(), settings, ["nope"])
    assert all(row.tier == "minimal" for row in checked_rows(catalog_rows(), settings))


def test_the_command_prints_a_table_and_exits_nonzero_on_a_broken_preloaded_model(broken_root, tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text(f"tier: full\nmodel_root: {broken_root}\ndevice: cpu\n")
    args = ["check", "--config", str(config), "--model", "t5-base", "--model", "gpt2"]
    result = subprocess.run([sys.executable, "-m", "models_server", *args], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["model", "task", "start", "size", "verdict"]
    assert lines[1].split()[0] == "t5-base" and " ok " in lines[1]
    assert lines[2].split()[0] == "gpt2" and " fail " in lines[2] and "models-server download --model gpt2" in lines[2]
    assert lines[-1].startswith("2 models checked") and "1 fail (1 preloaded)" in lines[-1]
    assert "Warning" not in result.stderr  # the libraries' import-time warnings are hidden
    ok = subprocess.run([sys.executable, "-m", "models_server", *args[:-2]], capture_output=True, text=True,
                        timeout=300)
    assert ok.returncode == 0, ok.stdout


def test_when_the_fixes_download_and_the_hub_cannot_be_reached_check_says_so_in_one_line(tmp_path):
    from support.cli import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    env = {**os.environ, "HF_ENDPOINT": endpoint}
    result = subprocess.run([sys.executable, "-m", "models_server", "check", "--tier", "minimal", "--model", "gpt2",
                             "--model-root", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if "Hugging Face Hub" in line]
    assert f"cannot reach the Hugging Face Hub at {endpoint}: the connection was refused" in line
    assert "HF_ENDPOINT" in line and "HTTPS_PROXY" in line
