"""The controller's audio candidates (issue 12): speech recognition, audio classification,
audio-to-audio (enhancement, separation) and text-to-speech.

One generic loader per task and library, the architecture read from each repo's own files
(transformers' config.json, speechbrain's hyperparams.yaml, asteroid's serialized model
config, espnet's config.yaml), so a row is an id, a task and a family.

`fp16_bytes` is, for every row, 2 bytes x the parameter count of the real architecture: the
dimensions the repo's own config publishes (config.json, hyperparams.yaml, the asteroid package's
model args, espnet's config.yaml) instantiated with the library's own classes, without weights.
(This machine cannot read the Hub's file sizes, so none comes from them.) Comments beside the
rows say what each counts.
Candidates past the fifth of their task, and anything over ~1 GB in fp16, are lazy: they
answer `loaded: true` and load on first use.
"""

from __future__ import annotations

from models_server.catalog.rows import ModelSpec, Repo
from models_server.tasks import asteroid_models as asteroid
from models_server.tasks import audio_classification as audio_cls
from models_server.tasks import espnet_models as espnet
from models_server.tasks import speech
from models_server.tasks import speechbrain_models as sb
from models_server.tasks.base import Task
from models_server.tasks.loading import Loader

ONE_GB = 1_000_000_000
EAGER_CANDIDATES = 5  # the first five of each task's ten load at startup (when small enough)

_TASKS: dict[str, tuple[Task, Loader, str]] = {
    # key: (task, loader, framework)
    "whisper": (speech.TRANSCRIBE, speech.load_speech_to_text, "transformers"),
    "ctc": (speech.TRANSCRIBE, speech.load_ctc, "transformers"),
    "classify": (audio_cls.AUDIO_CLASSIFICATION, audio_cls.load_audio_classification, "transformers"),
    "sb-separate": (sb.ENHANCE, sb.load_separator, "speechbrain"),
    "sb-mask": (sb.ENHANCE, sb.load_spectral_mask_enhancer, "speechbrain"),
    "sb-waveform": (sb.ENHANCE, sb.load_waveform_enhancer, "speechbrain"),
    "sb-classify": (sb.CLASSIFY, sb.load_encoder_classifier, "speechbrain"),
    "sb-tts": (sb.SPEAK, sb.load_tacotron2, "speechbrain"),
    "asteroid": (asteroid.SEPARATE, asteroid.load_asteroid, "asteroid"),
    "espnet-tts": (espnet.SPEAK, espnet.CHECKED_TEXT2SPEECH, "espnet"),
    "espnet-tts-pyopenjtalk": (espnet.SPEAK, espnet.PYOPENJTALK_TEXT2SPEECH, "espnet"),  # config: g2p pyopenjtalk
}

# speechbrain repos: hyperparams.yaml and one file per pretrainer loadable (the download rules
# know neither); example wavs and custom interface code are left on the Hub.
_SPEECHBRAIN_FILES = ("hyperparams.yaml", "*.ckpt")
_SPEECHBRAIN_CLASSIFIER_FILES = (*_SPEECHBRAIN_FILES, "label_encoder.txt")
_FILES: dict[str, tuple[str, ...]] = {
    "speechbrain-sepformer-2spk-8k": _SPEECHBRAIN_FILES,
    "speechbrain-sepformer-enhancement-8k": _SPEECHBRAIN_FILES,
    "speechbrain-sepformer-enhancement-16k": _SPEECHBRAIN_FILES,
    "speechbrain-metricgan": _SPEECHBRAIN_FILES,
    "speechbrain-mtl-mimic": _SPEECHBRAIN_FILES,
    "speechbrain-ecapa-voxlingua107": _SPEECHBRAIN_CLASSIFIER_FILES,
    "speechbrain-ecapa-commonlanguage": _SPEECHBRAIN_CLASSIFIER_FILES,
    "speechbrain-xvector-voxceleb": _SPEECHBRAIN_CLASSIFIER_FILES,
    "speechbrain-tacotron2": _SPEECHBRAIN_FILES,
    "speechbrain-hifigan": _SPEECHBRAIN_FILES,
    # asteroid: the serialized model package only (a repo's model.safetensors, if a bot added
    # one, holds the bare state dict, which asteroid cannot build a model from)
    "asteroid-dccrnet": ("pytorch_model.bin",),
    "asteroid-dprnn-tasnet": ("pytorch_model.bin",),
    "asteroid-convtasnet": ("pytorch_model.bin",),
    # espnet: the training run's config and averaged model (and, for FastSpeech2, the feature,
    # pitch and energy statistics its normalisers read); not the training logs and images
    "espnet-vits": ("exp/*config.yaml", "exp/*.pth"),
    "espnet-vits-pyopenjtalk": ("exp/*config.yaml", "exp/*.pth"),
    "espnet-fastspeech2-hifigan": ("exp/*config.yaml", "exp/*.pth", "exp/*.npz"),
}
# The vocoder speechbrain's Tacotron2 card pairs it with: 2 x 13.9 M parameters (LJSpeech HiFi-GAN V1).
SPEECHBRAIN_HIFIGAN = Repo("speechbrain/tts-hifigan-ljspeech", "speechbrain-hifigan", files=_SPEECHBRAIN_FILES)
_EXTRA: dict[str, tuple[Repo, ...]] = {"speechbrain/tts-tacotron2-ljspeech": (SPEECHBRAIN_HIFIGAN,)}

# (controller's id, task key, family, place in the controller's first ten, fp16 bytes)
# Sizes: 2 bytes x parameters (see the module docstring). transformers rows: the published config
# on PyTorch's meta device. speechbrain and asteroid: the architecture each repo's hyperparams.yaml
# / model package describes (DCCRN-CL; DPRNN-TasNet with kernel 2, 64 filters, 6 repeats;
# ConvTasNet with asteroid's defaults).
_ROWS: tuple[tuple[str, str, str, int, int], ...] = (
    # automatic-speech-recognition (4 and 6 are in catalog/standard.py; 3 and 10 are pyannote pipelines)
    ("openai/whisper-large-v2", "whisper", "whisper", 1, 3_086_609_920),
    ("openai/whisper-large", "whisper", "whisper", 2, 3_086_609_920),
    ("facebook/wav2vec2-large-960h-lv60-self", "ctc", "wav2vec2-large-ctc", 5, 630_943_040),
    ("openai/whisper-tiny", "whisper", "whisper", 7, 75_521_280),
    ("jonatasgrosman/wav2vec2-large-xlsr-53-english", "ctc", "wav2vec2-large-ctc", 8, 630_945_090),
    ("openai/whisper-medium", "whisper", "whisper", 9, 1_527_715_840),
    # audio-classification (1 is in catalog/full.py)
    ("TalTechNLP/voxlingua107-epaca-tdnn", "sb-classify", "speechbrain-ecapa-voxlingua107", 3, 42_492_886),
    ("speechbrain/lang-id-voxlingua107-ecapa", "sb-classify", "speechbrain-ecapa-voxlingua107", 4, 42_492_886),
    ("speechbrain/lang-id-commonlanguage_ecapa", "sb-classify", "speechbrain-ecapa-commonlanguage", 6, 41_552_384),
    ("MIT/ast-finetuned-audioset-10-10-0.4593", "classify", "ast-classification", 8, 173_188_126),
    ("speechbrain/spkrec-xvect-voxceleb", "sb-classify", "speechbrain-xvector-voxceleb", 9, 16_344_946),
    ("superb/hubert-base-superb-er", "classify", "hubert-classification", 10, 189_139_234),
    # audio-to-audio (4 is in catalog/full.py)
    ("speechbrain/metricgan-plus-voicebank", "sb-mask", "speechbrain-metricgan", 1, 3_791_028),
    ("speechbrain/mtl-mimic-voicebank", "sb-waveform", "speechbrain-mtl-mimic", 2, 44_581_122),
    ("speechbrain/sepformer-wsj02mix", "sb-separate", "speechbrain-sepformer-2spk-8k", 3, 51_358_722),
    ("speechbrain/sepformer-wham", "sb-separate", "speechbrain-sepformer-2spk-8k", 5, 51_358_722),
    ("mpariente/DPRNNTasNet-ks2_WHAM_sepclean", "asteroid", "asteroid-dprnn-tasnet", 6, 7_302_146),
    ("JorisCos/DCCRNet_Libri1Mix_enhsingle_16k", "asteroid", "asteroid-dccrnet", 7, 7_338_672),
    ("Awais/Audio_Source_Separation", "asteroid", "asteroid-convtasnet", 8, 10_101_090),
    ("speechbrain/sepformer-wham16k-enhancement", "sb-separate", "speechbrain-sepformer-enhancement-16k", 9,
     51_227_138),
    ("speechbrain/sepformer-wham-enhancement", "sb-separate", "speechbrain-sepformer-enhancement-8k", 10,
     51_227_138),
    # text-to-speech (4 is in catalog/full.py; 1, 6, 7 and 9 are fairseq, 8 is NeMo). espnet loads the
    # whole GAN (generator and discriminators): sizes are both, from espnet's VITS and JointText2Wav
    # built with the LJSpeech recipes' dimensions.
    ("espnet/kan-bayashi_ljspeech_vits", "espnet-tts", "espnet-vits", 2, 173_197_628),
    ("mio/amadeus", "espnet-tts-pyopenjtalk", "espnet-vits-pyopenjtalk", 3, 173_197_628),
    ("espnet/kan-bayashi_ljspeech_joint_finetune_conformer_fastspeech2_hifigan", "espnet-tts",
     "espnet-fastspeech2-hifigan", 10, 200_915_138),
    # the Tacotron2 row's size includes its HiFi-GAN vocoder's 27.9 MB
    ("speechbrain/tts-tacotron2-ljspeech", "sb-tts", "speechbrain-tacotron2", 5, 56_386_306 + 27_872_260),
)


def _spec(model_id: str, task_key: str, family: str, place: int, fp16_bytes: int) -> ModelSpec:
    task, loader, framework = _TASKS[task_key]
    weights = (Repo(model_id, family, files=_FILES.get(family, ())), *_EXTRA.get(model_id, ()))
    return ModelSpec(
        model_id, task, "full", weights, loader, framework=framework,
        preload=place <= EAGER_CANDIDATES and fp16_bytes < ONE_GB, fp16_bytes=fp16_bytes,
    )


MODELS: list[ModelSpec] = [_spec(*row) for row in _ROWS]
