"""Tiny speechbrain models in the layout of the Hub's speechbrain repos.

A speechbrain repo is a `hyperparams.yaml` (HyperPyYAML naming the classes and their
arguments, a `modules` dict and a `pretrainer` listing what to load) plus one file per
pretrainer loadable: `<name>.ckpt` (a state dict, or a normalizer's statistics) and
`label_encoder.txt`. Each builder writes such a yaml with small dimensions, instantiates it
with speechbrain's own loader, and saves every loadable with speechbrain's own save hook, so
the files are exactly what `from_hparams` reads. Where the real yaml names files through
`pretrained_path: <Hub id>`, so does the miniature: the loader must point those at the local
folder without ever asking the Hub.

Sources: the classes, module names and loadables of each repo's inference yaml as speechbrain's
interfaces read them (speechbrain/inference/*.py: `modules`, `pretrainer`, `label_encoder`,
`mean_var_norm_emb`), the recipes' hparams they are generated from (public copies of the SepFormer
inference yaml name recipes/WSJ0Mix/separation/hparams/sepformer-wham.yaml), and the checkpoint
file names of the reconstructed Hub listings (tests/data/hub_listings). Only the dimensions are
cut down.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from models_server.tasks.libraries import import_library

# VoxLingua107 labels as its label_encoder.txt spells them (a few of the 107).
VOXLINGUA_LANGUAGES = ("en: English", "de: German", "fr: French", "es: Spanish", "zh: Chinese", "ja: Japanese")
# CommonLanguage labels (a few of the 45).
COMMONLANGUAGE_LANGUAGES = ("English", "German", "French", "Spanish", "Chinese_China", "Japanese")
# VoxCeleb speaker ids (a few of the 7205).
VOXCELEB_SPEAKERS = ("id10001", "id10002", "id10003", "id10004")
# IEMOCAP emotions as speechbrain/emotion-recognition-wav2vec2-IEMOCAP labels them.
IEMOCAP_EMOTIONS = ("neu", "ang", "hap", "sad")


def _build(folder: Path, yaml_text: str, labels: Iterable[str] = ()) -> None:
    """Write the yaml, instantiate it, fill the label encoder, save every pretrainer loadable."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    import_library("speechbrain")  # first: the process stays usable with speechbrain imported
    from speechbrain.utils.checkpoints import DEFAULT_SAVE_HOOKS, get_default_hook

    (folder / "hyperparams.yaml").write_text(yaml_text)
    hparams = load_hyperpyyaml(yaml_text)
    pretrainer = hparams["pretrainer"]
    labels = list(labels)
    if "label_encoder" in hparams:
        hparams["label_encoder"].update_from_iterable(labels)
    for name, loadable in pretrainer.loadables.items():
        if type(loadable).__name__ == "InputNormalization":  # statistics as training leaves them
            loadable.train()
            loadable(torch.randn(4, 1, 16), torch.ones(4))
            loadable.eval()
        filename = PurePosixPath(str(pretrainer.paths[name])).name if name in pretrainer.paths else f"{name}.ckpt"
        get_default_hook(loadable, DEFAULT_SAVE_HOOKS)(loadable, folder / filename)


def _sepformer_yaml(sample_rate: int, speakers: int) -> str:
    return f"""\
# SepFormer (miniature): encoder, dual-path transformer mask net, decoder.
sample_rate: {sample_rate}
num_spks: {speakers}

Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: 16
    out_channels: 16

SBtfintra: !new:speechbrain.lobes.models.dual_path.SBTransformerBlock
    num_layers: 1
    d_model: 16
    nhead: 2
    d_ffn: 32
    dropout: 0
    use_positional_encoding: true
    norm_before: true

SBtfinter: !new:speechbrain.lobes.models.dual_path.SBTransformerBlock
    num_layers: 1
    d_model: 16
    nhead: 2
    d_ffn: 32
    dropout: 0
    use_positional_encoding: true
    norm_before: true

MaskNet: !new:speechbrain.lobes.models.dual_path.Dual_Path_Model
    num_spks: !ref <num_spks>
    in_channels: 16
    out_channels: 16
    num_layers: 1
    K: 25
    intra_model: !ref <SBtfintra>
    inter_model: !ref <SBtfinter>
    norm: ln
    linear_layer_after_inter_intra: false
    skip_around_intra: true

Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: 16
    out_channels: 1
    kernel_size: 16
    stride: 8
    bias: false

modules:
    encoder: !ref <Encoder>
    decoder: !ref <Decoder>
    masknet: !ref <MaskNet>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        encoder: !ref <Encoder>
        masknet: !ref <MaskNet>
        decoder: !ref <Decoder>
"""


def build_sepformer_2spk_8k(folder: Path) -> None:
    """speechbrain/sepformer-wsj02mix, speechbrain/sepformer-wham: two speakers at 8 kHz."""
    _build(folder, _sepformer_yaml(8000, 2))


def build_sepformer_enhancement_8k(folder: Path) -> None:
    """speechbrain/sepformer-wham-enhancement: one (clean) source at 8 kHz."""
    _build(folder, _sepformer_yaml(8000, 1))


def build_sepformer_enhancement_16k(folder: Path) -> None:
    """speechbrain/sepformer-wham16k-enhancement: one (clean) source at 16 kHz."""
    _build(folder, _sepformer_yaml(16000, 1))


METRICGAN_YAML = """\
# MetricGAN+ (miniature: one BLSTM layer; its width is fixed by the class's head): a spectral mask,
# resynthesised with the noisy phase.
sample_rate: 16000
win_length: 32
hop_length: 16
n_fft: 512
window_fn: !name:torch.hamming_window

compute_stft: !new:speechbrain.processing.features.STFT
    sample_rate: !ref <sample_rate>
    win_length: !ref <win_length>
    hop_length: !ref <hop_length>
    n_fft: !ref <n_fft>
    window_fn: !ref <window_fn>

compute_istft: !new:speechbrain.processing.features.ISTFT
    sample_rate: !ref <sample_rate>
    win_length: !ref <win_length>
    hop_length: !ref <hop_length>
    window_fn: !ref <window_fn>

spectral_magnitude: !name:speechbrain.processing.features.spectral_magnitude
    power: 0.5

resynth: !name:speechbrain.processing.signal_processing.resynthesize
    stft: !ref <compute_stft>
    istft: !ref <compute_istft>

enhance_model: !new:speechbrain.lobes.models.MetricGAN.EnhancementGenerator
    input_size: 257
    hidden_size: 200
    num_layers: 1

modules:
    enhance_model: !ref <enhance_model>

pretrained_path: speechbrain/metricgan-plus-voicebank

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        enhance_model: !ref <enhance_model>
    paths:
        enhance_model: !ref <pretrained_path>/enhance_model.ckpt
"""


def build_metricgan(folder: Path) -> None:
    """speechbrain/metricgan-plus-voicebank: SpectralMaskEnhancement over 16 kHz speech."""
    _build(folder, METRICGAN_YAML)


MIMIC_YAML = """\
# MTL-mimic enhancement (miniature): a ResNet masking the spectrogram, trained to please an ASR model.
sample_rate: 16000

enhance_model: !new:speechbrain.lobes.models.EnhanceResnet.EnhanceResnet
    n_fft: 512
    win_length: 32
    hop_length: 16
    sample_rate: !ref <sample_rate>
    channel_counts: [4, 4]
    dense_count: 1
    dense_nodes: 16
    dropout: 0.0

modules:
    enhance_model: !ref <enhance_model>

pretrained_path: speechbrain/mtl-mimic-voicebank

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        enhance_model: !ref <enhance_model>
    paths:
        enhance_model: !ref <pretrained_path>/enhance_model.ckpt
"""


def build_mtl_mimic(folder: Path) -> None:
    """speechbrain/mtl-mimic-voicebank: WaveformEnhancement (EnhanceResnet) over 16 kHz speech."""
    _build(folder, MIMIC_YAML)


# The two heads of speechbrain's language-id recipes: a softmax MLP (VoxLingua107) and the
# cosine-similarity head of ECAPA (CommonLanguage).
_SOFTMAX_HEAD = """\
classifier: !new:speechbrain.lobes.models.Xvector.Classifier
    input_shape: [null, null, 16]
    activation: !name:torch.nn.LeakyReLU
    lin_blocks: 1
    lin_neurons: 16
    out_neurons: {classes}
"""
_COSINE_HEAD = """\
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 16
    out_neurons: {classes}
"""


def _ecapa_yaml(repo: str, classes: int, head: str) -> str:
    return f"""\
# ECAPA-TDNN language identification (miniature): fbank, sentence mean normalisation, embedding, classifier.
sample_rate: 16000
n_mels: 20

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: false

embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    res2net_scale: 4
    se_channels: 8
    lin_neurons: 16

{head.format(classes=classes)}
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>

pretrained_path: {repo}

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def build_ecapa_voxlingua(folder: Path) -> None:
    """speechbrain/lang-id-voxlingua107-ecapa, TalTechNLP/voxlingua107-epaca-tdnn: VoxLingua107 labels."""
    _build(folder, _ecapa_yaml("speechbrain/lang-id-voxlingua107-ecapa", len(VOXLINGUA_LANGUAGES), _SOFTMAX_HEAD),
           VOXLINGUA_LANGUAGES)


def build_ecapa_commonlanguage(folder: Path) -> None:
    """speechbrain/lang-id-commonlanguage_ecapa: CommonLanguage labels."""
    _build(folder, _ecapa_yaml("speechbrain/lang-id-commonlanguage_ecapa", len(COMMONLANGUAGE_LANGUAGES), _COSINE_HEAD),
           COMMONLANGUAGE_LANGUAGES)


XVECTOR_YAML = f"""\
# x-vector speaker recognition (miniature): fbank, TDNN embedding, global embedding normaliser, classifier.
sample_rate: 16000
n_mels: 24

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: false

embedding_model: !new:speechbrain.lobes.models.Xvector.Xvector
    in_channels: !ref <n_mels>
    activation: !name:torch.nn.LeakyReLU
    tdnn_blocks: 5
    tdnn_channels: [16, 16, 16, 16, 48]
    tdnn_kernel_sizes: [5, 3, 3, 1, 1]
    tdnn_dilations: [1, 2, 3, 1, 1]
    lin_neurons: 16

classifier: !new:speechbrain.lobes.models.Xvector.Classifier
    input_shape: [null, null, 16]
    activation: !name:torch.nn.LeakyReLU
    lin_blocks: 1
    lin_neurons: 16
    out_neurons: {len(VOXCELEB_SPEAKERS)}

mean_var_norm_emb: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
    std_norm: false

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
    mean_var_norm_emb: !ref <mean_var_norm_emb>

pretrained_path: speechbrain/spkrec-xvect-voxceleb

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        mean_var_norm_emb: !ref <mean_var_norm_emb>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        mean_var_norm_emb: !ref <pretrained_path>/mean_var_norm_emb.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def build_xvector_speakers(folder: Path) -> None:
    """speechbrain/spkrec-xvect-voxceleb: x-vector embedding with a VoxCeleb speaker classifier."""
    _build(folder, XVECTOR_YAML, VOXCELEB_SPEAKERS)


TACOTRON2_YAML = """\
# Tacotron2 (miniature): characters to 80-bin mel frames, for the HiFi-GAN vocoder.
mask_padding: true
n_mel_channels: 80
n_symbols: 148
symbols_embedding_dim: 16
encoder_kernel_size: 5
encoder_n_convolutions: 1
encoder_embedding_dim: 16
attention_rnn_dim: 16
attention_dim: 8
attention_location_n_filters: 4
attention_location_kernel_size: 31
n_frames_per_step: 1
decoder_rnn_dim: 16
prenet_dim: 8
max_decoder_steps: 40
gate_threshold: 0.5
p_attention_dropout: 0.1
p_decoder_dropout: 0.1
postnet_embedding_dim: 16
postnet_kernel_size: 5
postnet_n_convolutions: 2
decoder_no_early_stopping: false
text_cleaners: ['english_cleaners']

model: !new:speechbrain.lobes.models.Tacotron2.Tacotron2
    mask_padding: !ref <mask_padding>
    n_mel_channels: !ref <n_mel_channels>
    n_symbols: !ref <n_symbols>
    symbols_embedding_dim: !ref <symbols_embedding_dim>
    encoder_kernel_size: !ref <encoder_kernel_size>
    encoder_n_convolutions: !ref <encoder_n_convolutions>
    encoder_embedding_dim: !ref <encoder_embedding_dim>
    attention_rnn_dim: !ref <attention_rnn_dim>
    attention_dim: !ref <attention_dim>
    attention_location_n_filters: !ref <attention_location_n_filters>
    attention_location_kernel_size: !ref <attention_location_kernel_size>
    n_frames_per_step: !ref <n_frames_per_step>
    decoder_rnn_dim: !ref <decoder_rnn_dim>
    prenet_dim: !ref <prenet_dim>
    max_decoder_steps: !ref <max_decoder_steps>
    gate_threshold: !ref <gate_threshold>
    p_attention_dropout: !ref <p_attention_dropout>
    p_decoder_dropout: !ref <p_decoder_dropout>
    postnet_embedding_dim: !ref <postnet_embedding_dim>
    postnet_kernel_size: !ref <postnet_kernel_size>
    postnet_n_convolutions: !ref <postnet_n_convolutions>
    decoder_no_early_stopping: !ref <decoder_no_early_stopping>

text_to_sequence: !name:speechbrain.utils.text_to_sequence.text_to_sequence

modules:
    model: !ref <model>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        model: !ref <model>
"""


def build_tacotron2(folder: Path) -> None:
    """speechbrain/tts-tacotron2-ljspeech: Tacotron2 over english_cleaners' characters."""
    _build(folder, TACOTRON2_YAML)


HIFIGAN_YAML = """\
# HiFi-GAN vocoder (miniature): 80-bin mels to 22.05 kHz audio, 256 samples a frame (4*4*4*4).
sample_rate: 22050

generator: !new:speechbrain.lobes.models.HifiGAN.HifiganGenerator
    in_channels: 80
    out_channels: 1
    resblock_type: "1"
    resblock_dilation_sizes: [[1, 3, 5]]
    resblock_kernel_sizes: [3]
    upsample_kernel_sizes: [8, 8, 8, 8]
    upsample_initial_channel: 16
    upsample_factors: [4, 4, 4, 4]
    inference_padding: 5
    cond_channels: 0
    conv_post_bias: true

modules:
    generator: !ref <generator>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        generator: !ref <generator>
"""


def build_hifigan_vocoder(folder: Path) -> None:
    """speechbrain/tts-hifigan-ljspeech: the vocoder speechbrain's Tacotron2 card pairs it with."""
    _build(folder, HIFIGAN_YAML)
