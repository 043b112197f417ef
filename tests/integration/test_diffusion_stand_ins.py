"""The tiny diffusion and annotator repos hold what `download` leaves of the real ones, and the
loaders read them: legacy key names reach the model's weights instead of being left random."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from support.hub_listings import reconstructed_listing

from models_server.catalog import generation, minimal
from models_server.catalog.rows import Repo
from models_server.tasks.diffusers.diffusion_family import load_stable_diffusion, single_file_loader
from models_server.tasks.loading import LoadContext
from models_server.weights.download import select_files

# Every repo of these families with a reconstructed listing in tests/data/hub_listings/.
LISTED = [
    minimal.SD15,
    generation.SD2_REPOS[0],
    generation.SD_INPAINTING,
    generation.SD14_ORIGINAL,
    generation.ORANGEMIXS,
    minimal.ANNOTATORS,
    Repo("lllyasviel/sd-controlnet-canny", "controlnet"),
]


def tiny_files(folder: Path) -> list[str]:
    return sorted(
        str(path.relative_to(folder)) for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )


@pytest.mark.parametrize("repo", LISTED, ids=lambda repo: repo.name)
def test_a_stand_in_holds_exactly_the_files_download_takes_from_the_real_repo(tiny_root: Path, repo: Repo):
    expected = select_files(reconstructed_listing(repo.name), repo)
    assert tiny_files(tiny_root / repo.name) == expected


def test_sd15_loads_its_transformers_4_text_encoder_and_pre_0_14_vae_names(tiny_root: Path):
    """The real files name the text model `text_model.*` and the VAE's attention `query`/`key`/
    `value`/`proj_attn`; a model the library failed to map would keep its random initialisation."""
    folder = tiny_root / minimal.SD15.name
    text_file = load_file(folder / "text_encoder" / "model.safetensors")
    vae_file = load_file(folder / "vae" / "diffusion_pytorch_model.fp16.safetensors")
    assert all(key.startswith("text_model.") for key in text_file)
    assert "encoder.mid_block.attentions.0.proj_attn.weight" in vae_file

    pipeline = load_stable_diffusion(LoadContext(minimal.SD15.name, (folder,), "cpu", torch.float32))
    embedding = pipeline.text_encoder.get_input_embeddings().weight
    assert torch.equal(embedding, text_file["text_model.embeddings.token_embedding.weight"])
    attention = pipeline.vae.encoder.mid_block.attentions[0]
    assert torch.equal(attention.to_q.weight, vae_file["encoder.mid_block.attentions.0.query.weight"].float())
    assert torch.equal(attention.to_out[0].weight, vae_file["encoder.mid_block.attentions.0.proj_attn.weight"].float())
    assert pipeline.tokenizer("the").input_ids == [0, pipeline.tokenizer.convert_tokens_to_ids("the</w>"), 1]


def test_a_merged_single_file_in_the_ldm_layout_loads_its_own_weights(tiny_root: Path):
    """OrangeMixs' file carries LatentDiffusion's schedule buffers, EMA scalars and `position_ids`
    beside the weights; diffusers' conversion must still put every weight where it belongs."""
    checkpoint = tiny_root / generation.ORANGEMIXS.name / generation.ORANGEMIX_FILE
    state = load_file(checkpoint)
    assert {"betas", "alphas_cumprod", "model_ema.decay"} <= set(state)

    loader = single_file_loader(generation.ORANGEMIX_FILE)
    pipeline = loader(LoadContext(generation.ORANGEMIXS.name, (checkpoint.parents[2], tiny_root / minimal.SD15.name),
                                  "cpu", torch.float32))
    assert torch.equal(pipeline.unet.conv_in.weight, state["model.diffusion_model.input_blocks.0.0.weight"])
    assert torch.equal(pipeline.text_encoder.get_input_embeddings().weight,
                       state["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"])
    to_q = pipeline.vae.encoder.mid_block.attentions[0].to_q.weight
    assert torch.equal(to_q, state["first_stage_model.encoder.mid.attn_1.q.weight"][:, :, 0, 0])
