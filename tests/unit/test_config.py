from pathlib import Path

import pytest

from models_server.config import load_settings, parse_size
from models_server.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_need_no_file():
    settings = load_settings(None, {}, environ={})
    assert (settings.tier, settings.host, settings.port, settings.device, settings.dtype) == (
        "minimal", "127.0.0.1", 8005, "auto", "auto",
    )


def test_precedence_flag_over_file_over_environment(tmp_path):
    config = write(tmp_path, "tier: standard\nport: 9001\n")
    environ = {"MODELS_SERVER_TIER": "full", "MODELS_SERVER_PORT": "9002", "MODELS_SERVER_HOST": "0.0.0.0"}
    settings = load_settings(config, {"port": 9003, "tier": None}, environ=environ)
    assert settings.port == 9003  # flag beats file and environment
    assert settings.tier == "standard"  # file beats environment
    assert settings.host == "0.0.0.0"  # environment beats the default


def test_relative_paths_in_a_file_are_relative_to_the_file(tmp_path):
    config = write(tmp_path, "model_root: models\npublic_dir: ../shared/public\n")
    settings = load_settings(config, {}, environ={})
    assert settings.model_root == tmp_path / "models"
    assert settings.public_dir == (tmp_path / "../shared/public")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("colour: blue\n", "unknown config key 'colour'"),
        ("limits:\n  max_stepz: 3\n", "unknown config key 'limits.max_stepz'"),
        ("port: lots\n", "config key 'port'"),
        ("tier: huge\n", "config key 'tier'"),
        ("device: tpu\n", "config key 'device'"),
        ("dtype: float8\n", "config key 'dtype'"),
        ("models:\n  canny-control: {enabled: maybe}\n", "config key 'models.canny-control.enabled'"),
        ("- a list\n", "must hold a mapping"),
        ("tier: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_values_are_refused_naming_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text), {}, environ={})
    assert named in str(error.value)
    assert "\n" not in str(error.value)


def test_models_override_disables_and_points_elsewhere(tmp_path):
    config = write(tmp_path, "models:\n  hed-control: false\n  canny-control: {weights: elsewhere}\n")
    settings = load_settings(config, {}, environ={})
    assert settings.override("hed-control").enabled is False
    assert settings.override("canny-control").weights == tmp_path / "elsewhere"
    assert settings.override("seg-control").enabled is True


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.yaml", {}, environ={})


@pytest.mark.parametrize(("text", "size"), [(1024, 1024), ("12GiB", 12 * 2**30), ("500 MB", 500 * 10**6), ("7", 7)])
def test_sizes(text, size):
    assert parse_size(text) == size


def test_size_setting_rejects_nonsense(tmp_path):
    with pytest.raises(ConfigError, match=r"limits\.max_body_bytes"):
        load_settings(write(tmp_path, "limits:\n  max_body_bytes: lots\n"), {}, environ={})


def test_by_default_one_busy_model_leaves_work_threads_for_the_others():
    settings = load_settings(None, {}, environ={})
    assert settings.limits.max_queue_per_model <= settings.threads // 2


def test_a_rows_diffusion_keys_override_the_section_and_keep_the_rest(tmp_path):
    config = write(tmp_path, "cache_dir: cache\ndiffusion: {channels_last: true, step_cache_interval: 3}\n"
                             "models:\n  runwayml/stable-diffusion-v1-5: {diffusion: {step_cache_interval: 1}}\n")
    settings = load_settings(config, {}, environ={})
    row = settings.diffusion_for("runwayml/stable-diffusion-v1-5")
    assert (row.channels_last, row.step_cache_interval, row.compile) == (True, 1, False)
    assert settings.diffusion_for("lllyasviel/sd-controlnet-canny").step_cache_interval == 3
    assert settings.cache_dir == tmp_path / "cache"


def test_a_step_cache_interval_below_one_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"diffusion\.step_cache_interval"):
        load_settings(write(tmp_path, "diffusion: {step_cache_interval: 0}\n"), {}, environ={})


def test_max_batch_is_off_by_default_set_per_row_and_only_tasks_that_batch_take_it(tmp_path):
    from models_server.catalog import catalog_rows
    from models_server.runtime.batches import max_batch

    assert load_settings(None, {}, environ={}).diffusion.max_batch == 1
    config = write(tmp_path, "diffusion: {max_batch: 4}\n"
                             "models:\n  runwayml/stable-diffusion-v1-5: {diffusion: {max_batch: 2}}\n")
    settings = load_settings(config, {}, environ={})
    rows = {row.id: row for row in catalog_rows()}
    assert max_batch(settings, rows["lllyasviel/sd-controlnet-canny"]) == 4
    assert max_batch(settings, rows["runwayml/stable-diffusion-v1-5"]) == 2
    assert max_batch(settings, rows["lambdalabs/sd-image-variations-diffusers"]) == 1  # its task does not batch
    with pytest.raises(ConfigError, match=r"diffusion\.max_batch"):
        load_settings(write(tmp_path, "diffusion: {max_batch: 0}\n"), {}, environ={})


def test_a_max_batch_that_would_take_more_than_half_the_work_threads_is_refused_naming_the_fix(tmp_path):
    assert load_settings(write(tmp_path, "threads: 16\ndiffusion: {max_batch: 4}\n"), {}, environ={})
    with pytest.raises(ConfigError, match=r"diffusion\.max_batch 5 .* set threads to at least 20"):
        load_settings(write(tmp_path, "diffusion: {max_batch: 5}\n"), {}, environ={})
    row = "models:\n  lllyasviel/sd-controlnet-canny: {diffusion: {max_batch: 3}}\n"
    with pytest.raises(ConfigError, match=r"models\.lllyasviel/sd-controlnet-canny\.diffusion\.max_batch 3"):
        load_settings(write(tmp_path, "threads: 8\n" + row), {}, environ={})
