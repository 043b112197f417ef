"""Every config in configs/ preloads no more than its memory budget holds, added up as
`models-server check` adds it up (so a config edit cannot make a box read more at start than fits)."""

from pathlib import Path

import pytest
from support.paths import REPO

from models_server.catalog import build_catalog, catalog_rows, served_rows
from models_server.catalog.sizes import MB, SHARED_REPO_BYTES
from models_server.check import Target, check_models, checked_rows, preloaded_bytes
from models_server.config import load_settings

SHIPPED = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", SHIPPED, ids=lambda path: path.name)
def test_a_shipped_config_preloads_what_its_budget_holds(config: Path):
    settings = load_settings(config, environ={})
    target = Target.of(settings)
    results = check_models(checked_rows(served_rows(settings), settings), settings)
    if target.budget is not None:
        assert preloaded_bytes(results) <= target.budget
    assert [warning for result in results for warning in result.warnings] == []


def test_the_gpu_example_has_a_budget_to_hold():
    assert Target.of(load_settings(REPO / "configs" / "gpu-24gb.yaml", environ={})).budget is not None


def test_the_sd_base_under_every_controlnet_counts_once(tmp_path: Path):
    settings = load_settings(flags={"device": "cuda", "dtype": "float16", "model_root": tmp_path}, environ={})
    rows = build_catalog(catalog_rows())
    kinds = ("canny", "depth", "hed", "mlsd")
    results = check_models([rows[f"lllyasviel/sd-controlnet-{kind}"] for kind in kinds], settings)
    base = SHARED_REPO_BYTES["runwayml/stable-diffusion-v1-5"]
    assert preloaded_bytes(results) == len(kinds) * 723 * MB + base
