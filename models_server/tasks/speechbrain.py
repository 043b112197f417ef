"""speechbrain models: speech enhancement and separation, language / speaker / emotion
classification, and Tacotron2 text-to-speech with its HiFi-GAN vocoder.

Every model loads through speechbrain's own `from_hparams(source=<local folder>)`, with the
interface class the repo's card names. Two things keep that local and read-only:
- `savedir=None`: speechbrain then reads the files where they are, instead of linking them
  into a `pretrained_models/` folder (which it would create in the working directory);
- pretrainer `paths` that name the Hub (`pretrained_path: speechbrain/<repo>` in most real
  yamls) are rewritten to the same file names in the local folder, and the fetcher runs with
  `allow_network=False`, so a missing file is an error, never a download.
The models run in float32 whatever the server's dtype: they are small (at most ~100 M
parameters) and their STFTs and normalisers are not written for half precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from models_server.errors import WeightsMissing
from models_server.media import Audio
from models_server.tasks import contracts
from models_server.tasks.audio_outputs import audio_answer, clipped
from models_server.tasks.base import Task
from models_server.tasks.libraries import import_library

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext

HPARAMS_FILE = "hyperparams.yaml"


def local_overrides(folder: Path) -> dict[str, Any]:
    """HyperPyYAML overrides pointing every pretrainer `paths` entry at the file of that name in `folder`."""
    from ruamel.yaml import YAML

    hparams_file = folder / HPARAMS_FILE
    if not hparams_file.is_file():
        raise WeightsMissing(f"no {HPARAMS_FILE} in {folder}")
    document = YAML(typ="rt").load(hparams_file.read_text())
    paths = (document.get("pretrainer") or {}).get("paths") or {}
    if not paths:
        return {}
    # A value is a plain path or a `!ref <pretrained_path>/file`; either way its last part names the file.
    local = {name: folder / PurePosixPath(str(getattr(value, "value", value))).name for name, value in paths.items()}
    return {"pretrainer": {"paths": {name: str(path) for name, path in local.items()}}}


def from_folder(interface: Any, folder: Path, device: str, overrides: dict[str, Any] | None = None) -> Any:
    """`interface.from_hparams` on a local folder: no network, nothing written anywhere."""
    import_library("speechbrain")  # first: the process stays usable with speechbrain imported
    from speechbrain.utils.fetching import FetchConfig

    merged = {**local_overrides(folder), **(overrides or {})}
    model = interface.from_hparams(
        source=str(folder), hparams_file=HPARAMS_FILE, savedir=None, overrides=merged,
        run_opts={"device": device}, fetch_config=FetchConfig(allow_network=False),
    )
    return model.eval()


def _sample_rate(model: Any, default: int = 16000) -> int:
    return int(getattr(model.hparams, "sample_rate", default))


def _waveform(audio: Audio, rate: int, device: Any):
    import torch

    from models_server.media.audio import resample

    samples = resample(audio, rate).samples
    return torch.from_numpy(samples).unsqueeze(0).to(device)


# --- audio-to-audio: enhancement and separation -------------------------------------------------


@dataclass
class Enhancer:
    """A speechbrain model that cleans or separates speech: `run(batch) -> (batch, time, sources)`."""

    model: Any
    kind: str  # "separation", "spectral-mask" or "waveform"

    @property
    def sample_rate(self) -> int:
        if self.kind == "spectral-mask":
            return int(self.model.hparams.compute_stft.sample_rate)
        return _sample_rate(self.model)

    def run(self, mixture):
        import torch

        with torch.inference_mode():
            if self.kind == "separation":
                return self.model.separate_batch(mixture)
            if self.kind == "spectral-mask":
                return self.model.enhance_batch(mixture, lengths=torch.ones(1, device=mixture.device)).unsqueeze(-1)
            return self.model.enhance_batch(mixture).unsqueeze(-1)


def load_separator(ctx: LoadContext) -> Enhancer:
    """SepFormer: speaker separation (wsj0-2mix, WHAM!) or single-source enhancement (WHAM! enhancement)."""
    from speechbrain.inference.separation import SepformerSeparation

    return Enhancer(from_folder(SepformerSeparation, ctx.weight_dirs[0], ctx.device), "separation")


def load_spectral_mask_enhancer(ctx: LoadContext) -> Enhancer:
    """MetricGAN+: a predicted spectral mask, resynthesised with the noisy phase."""
    from speechbrain.inference.enhancement import SpectralMaskEnhancement

    return Enhancer(from_folder(SpectralMaskEnhancement, ctx.weight_dirs[0], ctx.device), "spectral-mask")


def load_waveform_enhancer(ctx: LoadContext) -> Enhancer:
    """MTL-mimic: a ResNet enhancer that outputs the cleaned waveform."""
    from speechbrain.inference.enhancement import WaveformEnhancement

    return Enhancer(from_folder(WaveformEnhancement, ctx.weight_dirs[0], ctx.device), "waveform")


def enhance(enhancer: Enhancer, inputs: dict[str, Any], params: dict[str, Any]) -> Audio | dict[str, Any]:
    """The cleaned speech, or each separated speaker, at the model's rate; see `audio_answer`."""
    rate = enhancer.sample_rate
    mixture = _waveform(inputs["audio"], rate, enhancer.model.device)
    sources = enhancer.run(mixture)[0]  # (time, sources)
    if enhancer.kind == "separation":
        # Separated sources come at arbitrary scale: each is brought to full scale, as speechbrain's
        # own separate_file does; a silent source stays silent.
        sources = sources / sources.abs().amax(dim=0, keepdim=True).clamp_min(1e-8)
    return audio_answer([clipped(sources[:, i], rate) for i in range(sources.shape[1])])


ENHANCE = Task(contracts.AUDIO_TO_AUDIO, enhance)


# --- audio-classification: language, speaker, emotion -------------------------------------------


def load_encoder_classifier(ctx: LoadContext) -> Any:
    """ECAPA-TDNN / x-vector classifiers (language id, speaker id) through EncoderClassifier."""
    from speechbrain.inference.classifiers import EncoderClassifier

    return from_folder(EncoderClassifier, ctx.weight_dirs[0], ctx.device)


def classify(model: Any, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{"label", "score"}]` for every class, most likely first.

    speechbrain's classifiers end in a log-softmax (x-vector heads) or cosine scores (ECAPA
    heads); a softmax over either gives probabilities (for log-probabilities it is exact).
    """
    import torch

    waveform = _waveform(inputs["audio"], _sample_rate(model), model.device)
    with torch.inference_mode():
        scores = model.classify_batch(waveform)[0].reshape(-1)
    probabilities = torch.softmax(scores.float(), dim=-1)
    encoder = model.hparams.label_encoder
    ranked = torch.argsort(probabilities, descending=True).tolist()
    return [{"label": str(encoder.ind2lab[i]), "score": float(probabilities[i])} for i in ranked]


CLASSIFY = Task(contracts.AUDIO_CLASSIFICATION, classify)


# --- text-to-speech: Tacotron2 + HiFi-GAN ----------------------------------------------------------


@dataclass
class Tacotron2Voice:
    acoustic: Any
    vocoder: Any

    @property
    def sample_rate(self) -> int:
        return _sample_rate(self.vocoder, 22050)


def load_tacotron2(ctx: LoadContext) -> Tacotron2Voice:
    """weights: (Tacotron2 repo, HiFi-GAN vocoder repo); the vocoder is shared between voices."""
    from speechbrain.inference.TTS import Tacotron2
    from speechbrain.inference.vocoders import HIFIGAN

    vocoder_dir = ctx.weight_dirs[1]
    vocoder = ctx.shared(("speechbrain-hifigan", str(vocoder_dir), ctx.device),
                         lambda: from_folder(HIFIGAN, vocoder_dir, ctx.device))
    return Tacotron2Voice(from_folder(Tacotron2, ctx.weight_dirs[0], ctx.device), vocoder)


def speak(voice: Tacotron2Voice, inputs: dict[str, Any], params: dict[str, Any]) -> Audio:
    """The text read aloud, at the vocoder's rate (22.05 kHz for LJSpeech)."""
    import torch

    with torch.inference_mode():
        mel, _, _ = voice.acoustic.encode_text(inputs["text"])
        waveform = voice.vocoder.decode_batch(mel)
    return clipped(waveform.reshape(-1), voice.sample_rate)


SPEAK = Task(contracts.TEXT_TO_SPEECH, speak)
