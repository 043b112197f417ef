"""The TAESD builders write what the loaders read from the real repo, at the scale of the SD they decode for."""

import json
from pathlib import Path

from models_server.catalog.generation import TAESD
from tiny_models.real_size import SD15_UNET, SD15_VAE
from tiny_models.taesd import TAESD_CONFIG, build_taesd, build_taesd_real


def written(folder: Path) -> tuple[set[str], dict]:
    files = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
    return files, json.loads((folder / "config.json").read_text())


def test_the_real_size_taesd_is_the_published_config_in_the_rows_files(tmp_path):
    build_taesd_real(tmp_path)
    files, config = written(tmp_path)
    assert files == set(TAESD.files)
    assert {key: config[key] for key in TAESD_CONFIG} == TAESD_CONFIG
    # it decodes SD1.5's latents to SD1.5's image size
    assert config["latent_channels"] == SD15_UNET["out_channels"]
    assert len(config["decoder_block_out_channels"]) == len(SD15_VAE["block_out_channels"])


def test_the_tiny_taesd_scales_like_the_tiny_sd_vae(tmp_path, tiny_root):
    build_taesd(tmp_path)
    files, config = written(tmp_path)
    assert files == set(TAESD.files)
    vae = json.loads((tiny_root / "runwayml/stable-diffusion-v1-5/vae/config.json").read_text())
    assert len(config["decoder_block_out_channels"]) == len(vae["block_out_channels"])
    assert config["latent_channels"] == vae["latent_channels"]
