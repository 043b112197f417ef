"""Tiny espnet TTS models in the Hub's espnet layout: `exp/<train dir>/config.yaml` plus the model
file (`train.total_count.ave_10best.pth`, a state dict), written by espnet's own tools.

espnet writes the config itself (`TTSTask.main(--dry_run true ...)`, as its own tests do) with
small model dimensions; the model is then built from that config by `Text2Speech` and its
random state dict saved. The English repos (kan-bayashi's LJSpeech recipes, their run folders as
the repos name them: `..._raw_phn_tacotron_g2p_en_no_space`) clean text with espnet's `tacotron`
cleaner, which spells numbers and abbreviations out in upper case, and phonemise it with
g2p_en_no_space; their miniatures keep that cleaner and those folder and file names (the joint
FastSpeech2 + HiFi-GAN run averages its 5 best checkpoints, VITS its 10 best) but read the
cleaned upper-case characters (token_type char, no g2p): g2p_en reads NLTK data this machine
does not have, and the loader's own check refuses a config naming it without that data.
mio/amadeus's has its real front end (g2p pyopenjtalk, phoneme tokens), so it needs pyopenjtalk
and its dictionary, as the real one does.

Statistics, as espnet's recipe (egs2/TEMPLATE/tts1/tts.sh) lays them out: its stats stage writes
`exp/tts_stats_<feats>_<tokens>/train/{feats,pitch,energy}_stats.npz`; training, run from the
recipe folder, is given `--normalize global_mvn --normalize_conf stats_file=<that dir>/train/
feats_stats.npz` (and the pitch and energy ones when those files exist), so the config names them
relative to the repo root; packing keeps those relative paths. FastSpeech2 normalises all three;
VITS (`feats_normalize none` in its recipe) normalises nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

# What the tacotron cleaner leaves: upper-case letters, space and a little punctuation.
TOKENS = ("<blank>", "<unk>", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", " ", ",", ".", "'", "?", "!", "-", "<sos/eos>")
MODEL_FILE = "train.total_count.ave_10best.pth"
JOINT_MODEL_FILE = "train.total_count.ave_5best.pth"
ENGLISH_FRONT_END = "raw_phn_tacotron_g2p_en_no_space"  # as the English repos' run folders are named

_VITS_CONF = {
    "generator_type": "vits_generator",
    "generator_params": {
        "hidden_channels": 16, "spks": -1, "global_channels": -1, "segment_size": 8,
        "text_encoder_attention_heads": 2, "text_encoder_ffn_expand": 2, "text_encoder_blocks": 1,
        "decoder_channels": 16, "decoder_upsample_scales": [4, 4, 4, 4],
        "decoder_upsample_kernel_sizes": [8, 8, 8, 8], "decoder_resblock_kernel_sizes": [3],
        "decoder_resblock_dilations": [[1, 3, 5]], "flow_flows": 1, "flow_layers": 1, "flow_base_dilation": 1,
        "flow_kernel_size": 3, "posterior_encoder_layers": 1, "posterior_encoder_kernel_size": 3,
        "stochastic_duration_predictor_flows": 1, "stochastic_duration_predictor_kernel_size": 3,
        "stochastic_duration_predictor_dropout_rate": 0.0,
    },
    "discriminator_type": "hifigan_multi_scale_multi_period_discriminator",
    "discriminator_params": {
        "scales": 1, "periods": [2],
        "scale_discriminator_params": {"channels": 4, "max_downsample_channels": 8, "downsample_scales": [2]},
        "period_discriminator_params": {"channels": 4, "max_downsample_channels": 8, "downsample_scales": [3]},
    },
    "sampling_rate": 22050,
}


# The front end of the Japanese VITS (mio/amadeus, its config: g2p pyopenjtalk, token_type phn), with the
# cleaner espnet's Japanese recipes use and OpenJTalk's phoneme set as token list.
PYOPENJTALK_FRONT_END = ("--token_type", "phn", "--cleaner", "jaconv", "--g2p", "pyopenjtalk")
PYOPENJTALK_TOKENS = ("<blank>", "<unk>", *"aiueoAIUEON", "cl", "pau", *"kgsztdnhbpmyrwjfv", "sh", "ch", "ts", "ky",
                      "gy", "ny", "hy", "by", "py", "my", "ry", "dy", "ty", "<sos/eos>")
CHAR_FRONT_END = ("--token_type", "char", "--cleaner", "tacotron", "--g2p", "none")


def _build(folder: Path, run: str, model_args: list[str], front_end: tuple[str, ...] = CHAR_FRONT_END,
           token_list: tuple[str, ...] = TOKENS, model_file: str = MODEL_FILE) -> None:
    """Run espnet from `folder`, as a recipe runs from its own: relative `exp/...` paths in
    `model_args` (the statistics files) are written into the config as they are."""
    import torch

    from models_server.tasks.nltk_data import import_espnet_tts

    # espnet imports g2p_en, which would download NLTK data the miniatures never read
    Text2Speech = import_espnet_tts()
    from espnet2.tasks.tts import TTSTask

    run_dir = folder / "exp" / run
    tokens = folder / "tokens.txt"
    tokens.write_text("\n".join(token_list) + "\n")
    common = ["--dry_run", "true", "--output_dir", str(run_dir), "--token_list", str(tokens), *front_end]
    # --dry_run prints the whole model, and `main` its command line to stderr: ours, not espnet's
    with contextlib.chdir(folder), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        TTSTask.main(cmd=[*common, *model_args])
        tts = Text2Speech(train_config=str(run_dir / "config.yaml"), device="cpu")
    tokens.unlink()  # the config holds the token list itself, as the real ones do
    torch.save(tts.model.state_dict(), run_dir / model_file)


def _conf(conf: dict[str, Any]) -> str:
    return json.dumps(conf)  # espnet's nested-dict options read YAML, of which JSON is a subset


_VITS_ARGS = [
    "--tts", "vits", "--tts_conf", _conf(_VITS_CONF), "--normalize", "none", "--feats_extract", "linear_spectrogram",
    "--feats_extract_conf", _conf({"n_fft": 1024, "hop_length": 256, "win_length": None}),
]


def build_vits(folder: Path) -> None:
    """espnet/kan-bayashi_ljspeech_vits: a VITS text-to-waveform model at 22.05 kHz."""
    _build(folder, f"tts_train_vits_{ENGLISH_FRONT_END}", _VITS_ARGS)


def build_vits_pyopenjtalk(folder: Path) -> None:
    """mio/amadeus: the same VITS reading Japanese through pyopenjtalk's phonemes."""
    _build(folder, "tts_train_vits_raw_phn_jaconv_pyopenjtalk", _VITS_ARGS, PYOPENJTALK_FRONT_END, PYOPENJTALK_TOKENS)


_JOINT_CONF = {
    "text2mel_type": "fastspeech2",
    "text2mel_params": {
        "adim": 16, "aheads": 2, "elayers": 1, "eunits": 16, "dlayers": 1, "dunits": 16,
        "positionwise_layer_type": "conv1d", "positionwise_conv_kernel_size": 3,
        "duration_predictor_layers": 1, "duration_predictor_chans": 8,
        "pitch_predictor_layers": 1, "pitch_predictor_chans": 8,
        "energy_predictor_layers": 1, "energy_predictor_chans": 8,
        "postnet_layers": 1, "postnet_chans": 8, "encoder_type": "conformer", "decoder_type": "conformer",
        "conformer_pos_enc_layer_type": "rel_pos", "conformer_self_attn_layer_type": "rel_selfattn",
        "conformer_enc_kernel_size": 3, "conformer_dec_kernel_size": 3,
    },
    "vocoder_type": "hifigan_generator",
    "vocoder_params": {
        "channels": 16, "upsample_scales": [4, 4, 4, 4], "upsample_kernel_sizes": [8, 8, 8, 8],
        "resblock_kernel_sizes": [3], "resblock_dilations": [[1, 3, 5]],
    },
    "discriminator_type": "hifigan_multi_scale_multi_period_discriminator",
    "discriminator_params": _VITS_CONF["discriminator_params"],
    "segment_size": 8,
    "sampling_rate": 22050,
}


STATS_DIR = f"exp/tts_stats_{ENGLISH_FRONT_END}/train"  # relative to the repo root, as the recipe names it


def build_fastspeech2_hifigan(folder: Path) -> None:
    """espnet/kan-bayashi_ljspeech_joint_finetune_conformer_fastspeech2_hifigan: a conformer
    FastSpeech2 and a HiFi-GAN generator fine-tuned as one text-to-waveform model (22.05 kHz),
    its mel, pitch and energy normalised by the statistics of the stats stage (global_mvn)."""
    _write_stats(folder / STATS_DIR, {"feats": 80, "pitch": 1, "energy": 1})
    _build(folder, f"tts_train_joint_conformer_fastspeech2_hifigan_{ENGLISH_FRONT_END}", [
        "--tts", "joint_text2wav", "--tts_conf", _conf(_JOINT_CONF),
        "--feats_extract", "fbank", "--feats_extract_conf",
        _conf({"n_fft": 1024, "hop_length": 256, "win_length": None, "fs": 22050, "n_mels": 80}),
        "--pitch_extract", "dio", "--pitch_extract_conf", _conf({"fs": 22050, "n_fft": 1024, "hop_length": 256}),
        "--energy_extract", "energy", "--energy_extract_conf", _conf({"fs": 22050, "n_fft": 1024, "hop_length": 256}),
        "--normalize", "global_mvn", "--normalize_conf", f"stats_file={STATS_DIR}/feats_stats.npz",
        "--pitch_normalize", "global_mvn", "--pitch_normalize_conf", f"stats_file={STATS_DIR}/pitch_stats.npz",
        "--energy_normalize", "global_mvn", "--energy_normalize_conf", f"stats_file={STATS_DIR}/energy_stats.npz",
    ], model_file=JOINT_MODEL_FILE)


def _write_stats(folder: Path, dims: dict[str, int]) -> None:
    """The statistics files of espnet's stats stage (count, sum, sum of squares: GlobalMVN's format):
    zero mean, unit variance, so the random model's outputs keep their scale."""
    import numpy as np

    folder.mkdir(parents=True)
    for name, dim in dims.items():
        np.savez(folder / f"{name}_stats.npz", count=np.array(100), sum=np.zeros(dim), sum_square=np.full(dim, 100.0))
