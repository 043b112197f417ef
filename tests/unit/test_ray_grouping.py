"""Default grouping for `--engine ray`: units of models sharing weights are never split, then packed."""

from __future__ import annotations

import pytest

from models_server.catalog import catalog_rows
from models_server.config import load_settings
from models_server.engines.ray.grouping import enabled_rows, plan_groups, units
from models_server.errors import ConfigError

CONTROLNETS = [f"lllyasviel/sd-controlnet-{name}" for name in
               ("canny", "depth", "hed", "mlsd", "normal", "openpose", "scribble", "seg")]


def settings(**values):
    return load_settings(None, {"tier": "full", **values}, environ={})


def unit_holding(model_id: str, tier: str = "full") -> set[str]:
    found = [unit for unit in units(enabled_rows(catalog_rows(), settings(tier=tier))) if model_id in unit.models]
    assert len(found) == 1
    return set(found[0].models)


def test_the_sd_base_its_controlnets_and_text_to_image_are_one_unit() -> None:
    unit = unit_holding("runwayml/stable-diffusion-v1-5")
    assert set(CONTROLNETS) <= unit
    assert "WarriorMama777/OrangeMixs" in unit  # a text-to-image row reading the same base
    assert "canny-control" not in unit


def test_the_dpt_annotators_share_a_unit_with_the_depth_model() -> None:
    assert unit_holding("depth-control") == {"depth-control", "normal-control", "Intel/dpt-hybrid-midas"}


def test_a_named_model_brings_the_models_it_shares_weights_with() -> None:
    plans = plan_groups(catalog_rows(), settings(tier="minimal", ray={"groups": {"d": {"models": ["depth-control"]}}}))
    assert set(plans[0].models) == {"depth-control", "normal-control"}
    assert all("normal-control" not in plan.models for plan in plans[1:])


def test_a_unit_counts_a_shared_base_once() -> None:
    sd = next(unit for unit in units(enabled_rows(catalog_rows(), settings()))
              if "lllyasviel/sd-controlnet-canny" in unit.models)
    rows = {row.id: row for row in catalog_rows()}
    assert sd.bytes < sum(rows[model_id].fp16_bytes or 0 for model_id in sd.models) / 2


def test_default_groups_hold_every_served_model_once_and_never_split_a_unit() -> None:
    plans = plan_groups(catalog_rows(), settings(ray={"group_bytes": "8GB"}))
    placed = [model_id for plan in plans for model_id in plan.models]
    assert sorted(placed) == sorted(row.id for row in enabled_rows(catalog_rows(), settings()))
    group_of = {model_id: plan.name for plan in plans for model_id in plan.models}
    for unit in units(enabled_rows(catalog_rows(), settings())):
        assert len({group_of[model_id] for model_id in unit.models}) == 1, unit.models
    for plan in plans:
        assert plan.bytes <= 8 * 10**9 or len(units([r for r in catalog_rows() if r.id in plan.models])) == 1


def test_named_groups_come_first_and_the_rest_is_packed() -> None:
    plans = plan_groups(catalog_rows(), settings(tier="minimal", ray={"groups": {
        "sd": {"models": CONTROLNETS, "num_gpus": 1, "resources": {"sd_node": 1}}}}))
    assert plans[0].name == "sd" and plans[0].resources() == {"CPU": 1.0, "GPU": 1.0, "sd_node": 1}
    assert {model_id for plan in plans[1:] for model_id in plan.models} == {
        row.id for row in enabled_rows(catalog_rows(), settings(tier="minimal"))} - set(CONTROLNETS)


@pytest.mark.parametrize(("groups", "message"), [
    ({"a": {"models": ["no/such-model"]}}, "no such model id 'no/such-model'"),
    ({"a": {"models": ["gpt2"]}}, "'gpt2' is not served (tier full, or disabled)"),
    ({"a": {"models": ["depth-control"]}, "b": {"models": ["normal-control"]}},
     "'depth-control' shares weights with 'normal-control', which is in group 'b'"),
])
def test_named_groups_are_checked(groups, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_groups(catalog_rows(), settings(tier="minimal", ray={"groups": groups}))


def test_a_model_in_two_groups_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'canny-control' is in groups 'a' and 'b'"):
        settings(ray={"groups": {"a": {"models": ["canny-control"]}, "b": {"models": ["canny-control"]}}})


def test_a_model_the_config_adds_by_its_task_gets_a_group() -> None:
    from models_server.catalog import served_rows

    configured = load_settings(None, {"tier": "minimal", "models": {"someone/my-classifier": {
        "task": "text-classification"}}}, environ={})
    placed = {model for plan in plan_groups(served_rows(configured), configured) for model in plan.models}
    assert "someone/my-classifier" in placed
