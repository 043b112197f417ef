"""SpeechT5 text-to-speech and voice conversion, voiced by the HiFi-GAN vocoder.

SpeechT5 decodes mel frames conditioned on a speaker x-vector; the vocoder turns them into
16 kHz audio. Both tasks share one vocoder per (folder, device, dtype), and read the
speaker's x-vector from its local dataset folder, never from the network. Before each frame
the decoder checks its request (`progress.checkpoint`): a cancelled one stops within a frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput, WeightsMissing
from models_server.media import Audio
from models_server.progress import checkpoint
from models_server.tasks import contracts
from models_server.tasks.base import Task

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext

SAMPLE_RATE = 16000
# The x-vector SpeechT5's own examples speak with (CMU ARCTIC "slt"); any other .npy is a fallback.
DEFAULT_XVECTOR = "spkrec-xvect/cmu_us_slt_arctic-wav-arctic_a0508.npy"
# The CMU ARCTIC speakers of the x-vector dataset, by the name its files carry (cmu_us_<name>_arctic-...).
SPEAKERS = ("slt", "clb", "bdl", "rms", "awb", "jmk", "ksp")


@dataclass
class SpeechT5:
    """Everything one SpeechT5 generation needs; `vocoder` may be shared with other models."""

    processor: Any
    model: Any
    vocoder: Any
    speaker: Any  # (1, 512) tensor on the model's device
    speakers: dict[str, Any]  # the other CMU ARCTIC speakers found, by name, each its first utterance's x-vector


def load_speaker_embedding(folder: Path):
    """The x-vector from a cmu-arctic-xvectors folder: the default speaker, else the first `.npy`."""
    import numpy as np
    import torch

    path = folder / DEFAULT_XVECTOR
    if not path.is_file():
        found = sorted(folder.rglob("*.npy"))
        if not found:
            raise WeightsMissing(f"no speaker x-vector (.npy) in {folder}")
        path = found[0]
    return torch.from_numpy(np.load(path).astype(np.float32).reshape(1, -1))


def load_speakers(folder: Path) -> dict[str, Any]:
    """Each CMU ARCTIC speaker whose x-vectors the folder holds: its first utterance's, by name
    (slt's: the default speaker's own utterance)."""
    import numpy as np
    import torch

    speakers = {}
    default = folder / DEFAULT_XVECTOR
    for name in SPEAKERS:
        found = sorted(folder.rglob(f"cmu_us_{name}_arctic-*.npy"))
        if name == "slt" and default.is_file():
            found = [default]
        if found:
            speakers[name] = torch.from_numpy(np.load(found[0]).astype(np.float32).reshape(1, -1))
    return speakers


def _load(ctx: LoadContext, model_class: str) -> SpeechT5:
    """weights: (SpeechT5 model repo, HiFi-GAN vocoder repo, x-vector dataset folder)."""
    import transformers

    model_dir, vocoder_dir, xvector_dir = ctx.weight_dirs
    model = getattr(transformers, model_class).from_pretrained(model_dir, dtype=ctx.dtype)

    def load_vocoder():
        vocoder = transformers.SpeechT5HifiGan.from_pretrained(vocoder_dir, dtype=ctx.dtype)
        return vocoder.to(ctx.device).eval()

    vocoder = ctx.shared(("speecht5-hifigan", str(vocoder_dir), ctx.device, str(ctx.dtype)), load_vocoder)
    # generate_speech runs this decoder once per mel frame, in a loop of its own
    model.speecht5.decoder.wrapped_decoder.register_forward_pre_hook(lambda module, args: checkpoint())
    return SpeechT5(
        processor=transformers.SpeechT5Processor.from_pretrained(model_dir),
        model=model.to(ctx.device).eval(),
        vocoder=vocoder,
        speaker=load_speaker_embedding(xvector_dir).to(ctx.device, ctx.dtype),
        speakers={name: vector.to(ctx.device, ctx.dtype) for name, vector in load_speakers(xvector_dir).items()},
    )


def load_text_to_speech(ctx: LoadContext) -> SpeechT5:
    return _load(ctx, "SpeechT5ForTextToSpeech")


def load_voice_conversion(ctx: LoadContext) -> SpeechT5:
    return _load(ctx, "SpeechT5ForSpeechToSpeech")


def _as_audio(waveform) -> Audio:
    import numpy as np

    samples = waveform.float().cpu().numpy().reshape(-1)
    return Audio(samples=np.clip(samples, -1.0, 1.0).astype(np.float32), sample_rate=SAMPLE_RATE)


def speak(tts: SpeechT5, inputs: dict[str, Any], params: dict[str, Any]) -> Audio:
    """The text read aloud by `speaker` (a CMU ARCTIC name; the default speaker when none is given or
    its x-vectors are not in the folder), 16 kHz mono."""
    import torch

    input_ids = tts.processor(text=inputs["text"], return_tensors="pt")["input_ids"]
    limit = tts.model.config.max_text_positions
    if input_ids.shape[1] > limit:  # SpeechT5 has no positions past this; say so rather than cut the text
        raise BadInput(f"text is {input_ids.shape[1]} tokens long; SpeechT5 reads at most {limit}")
    name = params.get("speaker")
    if name is not None and name not in SPEAKERS:
        raise BadInput(f"no speaker {name!r}; the CMU ARCTIC speakers are {', '.join(SPEAKERS)}", param="speaker")
    speaker = tts.speakers.get(name, tts.speaker) if name else tts.speaker  # x-vectors not in the folder: the default
    input_ids = input_ids.to(tts.model.device)
    with torch.inference_mode():
        waveform = tts.model.generate_speech(input_ids, speaker, vocoder=tts.vocoder)
    return _as_audio(waveform)


def convert_voice(vc: SpeechT5, inputs: dict[str, Any], params: dict[str, Any]) -> Audio:
    """The same words spoken in the default speaker's voice, 16 kHz mono."""
    import torch

    from models_server.media.audio import resample

    audio = resample(inputs["audio"], SAMPLE_RATE)
    encoded = vc.processor(audio=audio.samples, sampling_rate=SAMPLE_RATE, return_tensors="pt")
    input_values = encoded["input_values"].to(vc.model.device, vc.model.dtype)
    with torch.inference_mode():
        waveform = vc.model.generate_speech(input_values, vc.speaker, vocoder=vc.vocoder)
    return _as_audio(waveform)


TEXT_TO_SPEECH = Task(contracts.TEXT_TO_SPEECH, speak)
AUDIO_TO_AUDIO = Task(contracts.AUDIO_TO_AUDIO, convert_voice)
