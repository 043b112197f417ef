"""The controller's audio candidates: speech recognition, audio classification,
audio-to-audio (enhancement, separation) and text-to-speech.

One generic loader per task and library, the architecture read from each repo's own files
(transformers' config.json, speechbrain's hyperparams.yaml, asteroid's serialized model
config, espnet's config.yaml), so a row is an id, a task and a family.

`fp16_bytes` is, for every row, 2 bytes x the parameter count of the real architecture: the
dimensions the repo's own config publishes (config.json, hyperparams.yaml, the asteroid package's
model args, espnet's config.yaml) instantiated with the library's own classes, without weights.
(This machine cannot read the Hub's file sizes, so none comes from them.) Comments beside the
rows say what each counts. Rows follow the controller's order of candidates; those past the
fifth of their task, and anything over ~1 GB in fp16, are lazy (`preload=False`): they answer
`loaded: true` and load on first use.
"""

from __future__ import annotations

from models_server.catalog.rows import ModelSpec, Repo, row
from models_server.tasks import asteroid, espnet
from models_server.tasks import speechbrain as sb
from models_server.tasks.transformers import audio_classification as audio_cls
from models_server.tasks.transformers import speech

ONE_GB = 1_000_000_000  # a candidate this big in fp16 is lazy, whatever its place

# speechbrain repos: hyperparams.yaml and one file per pretrainer loadable (the download rules
# know neither); example wavs and custom interface code are left on the Hub.
_SPEECHBRAIN_FILES = ("hyperparams.yaml", "*.ckpt")
_SPEECHBRAIN_CLASSIFIER_FILES = (*_SPEECHBRAIN_FILES, "label_encoder.txt")
# asteroid repos: the serialized model package only (a repo's model.safetensors, if a bot added
# one, holds the bare state dict, which asteroid cannot build a model from).
_ASTEROID_FILES = ("pytorch_model.bin",)
# espnet repos: the training run's config and averaged model (and, for FastSpeech2, the feature,
# pitch and energy statistics its normalisers read); not the training logs and images.
_ESPNET_FILES = ("exp/*config.yaml", "exp/*.pth")
_ESPNET_FASTSPEECH2_FILES = (*_ESPNET_FILES, "exp/*.npz")
# The vocoder speechbrain's Tacotron2 card pairs it with: 2 x 13.9 M parameters (LJSpeech HiFi-GAN V1).
SPEECHBRAIN_HIFIGAN = Repo("speechbrain/tts-hifigan-ljspeech", "speechbrain-hifigan", files=_SPEECHBRAIN_FILES)

# Sizes: 2 bytes x parameters (see the module docstring). transformers rows: the published config
# on PyTorch's meta device. speechbrain and asteroid: the architecture each repo's hyperparams.yaml
# / model package describes (DCCRN-CL; DPRNN-TasNet with kernel 2, 64 filters, 6 repeats;
# ConvTasNet with asteroid's defaults).
MODELS: list[ModelSpec] = [
    # automatic-speech-recognition (4 and 6 are in catalog/standard.py; 3 and 10 are pyannote pipelines)
    row(Repo("openai/whisper-large-v2", "whisper"),
        speech.TRANSCRIBE, speech.load_speech_to_text, fp16_bytes=3_086_609_920, preload=False),
    row(Repo("openai/whisper-large", "whisper"),
        speech.TRANSCRIBE, speech.load_speech_to_text, fp16_bytes=3_086_609_920, preload=False),
    row(Repo("facebook/wav2vec2-large-960h-lv60-self", "wav2vec2-large-ctc"),
        speech.TRANSCRIBE, speech.load_ctc, fp16_bytes=630_943_040),
    row(Repo("openai/whisper-tiny", "whisper"),
        speech.TRANSCRIBE, speech.load_speech_to_text, fp16_bytes=75_521_280, preload=False),
    row(Repo("jonatasgrosman/wav2vec2-large-xlsr-53-english", "wav2vec2-large-ctc-lm"),  # with an n-gram LM
        speech.TRANSCRIBE, speech.load_ctc, fp16_bytes=630_945_090, preload=False),
    row(Repo("openai/whisper-medium", "whisper"),
        speech.TRANSCRIBE, speech.load_speech_to_text, fp16_bytes=1_527_715_840, preload=False),
    # audio-classification (1 is in catalog/full.py)
    row(Repo("TalTechNLP/voxlingua107-epaca-tdnn", "speechbrain-ecapa-voxlingua107",
             files=_SPEECHBRAIN_CLASSIFIER_FILES),
        sb.CLASSIFY, sb.load_encoder_classifier,
        fp16_bytes=42_492_886, framework="speechbrain"),
    row(Repo("speechbrain/lang-id-voxlingua107-ecapa", "speechbrain-ecapa-voxlingua107",
             files=_SPEECHBRAIN_CLASSIFIER_FILES),
        sb.CLASSIFY, sb.load_encoder_classifier,
        fp16_bytes=42_492_886, framework="speechbrain"),
    row(Repo("speechbrain/lang-id-commonlanguage_ecapa", "speechbrain-ecapa-commonlanguage",
             files=_SPEECHBRAIN_CLASSIFIER_FILES),
        sb.CLASSIFY, sb.load_encoder_classifier,
        fp16_bytes=41_552_384, preload=False, framework="speechbrain"),
    row(Repo("MIT/ast-finetuned-audioset-10-10-0.4593", "ast-classification"),
        audio_cls.AUDIO_CLASSIFICATION, audio_cls.load_audio_classification, fp16_bytes=173_188_126, preload=False),
    row(Repo("speechbrain/spkrec-xvect-voxceleb", "speechbrain-xvector-voxceleb", files=_SPEECHBRAIN_CLASSIFIER_FILES),
        sb.CLASSIFY, sb.load_encoder_classifier, fp16_bytes=16_344_946, preload=False, framework="speechbrain"),
    row(Repo("superb/hubert-base-superb-er", "hubert-classification"),
        audio_cls.AUDIO_CLASSIFICATION, audio_cls.load_audio_classification, fp16_bytes=189_139_234, preload=False),
    # audio-to-audio (4 is in catalog/full.py)
    row(Repo("speechbrain/metricgan-plus-voicebank", "speechbrain-metricgan", files=_SPEECHBRAIN_FILES),
        sb.ENHANCE, sb.load_spectral_mask_enhancer, fp16_bytes=3_791_028, framework="speechbrain"),
    row(Repo("speechbrain/mtl-mimic-voicebank", "speechbrain-mtl-mimic", files=_SPEECHBRAIN_FILES),
        sb.ENHANCE, sb.load_waveform_enhancer, fp16_bytes=44_581_122, framework="speechbrain"),
    row(Repo("speechbrain/sepformer-wsj02mix", "speechbrain-sepformer-2spk-8k", files=_SPEECHBRAIN_FILES),
        sb.ENHANCE, sb.load_separator, fp16_bytes=51_358_722, framework="speechbrain"),
    row(Repo("speechbrain/sepformer-wham", "speechbrain-sepformer-2spk-8k", files=_SPEECHBRAIN_FILES),
        sb.ENHANCE, sb.load_separator, fp16_bytes=51_358_722, framework="speechbrain"),
    row(Repo("mpariente/DPRNNTasNet-ks2_WHAM_sepclean", "asteroid-dprnn-tasnet", files=_ASTEROID_FILES),
        asteroid.SEPARATE, asteroid.load_asteroid, fp16_bytes=7_302_146, preload=False, framework="asteroid"),
    row(Repo("JorisCos/DCCRNet_Libri1Mix_enhsingle_16k", "asteroid-dccrnet", files=_ASTEROID_FILES),
        asteroid.SEPARATE, asteroid.load_asteroid, fp16_bytes=7_338_672, preload=False, framework="asteroid"),
    row(Repo("Awais/Audio_Source_Separation", "asteroid-convtasnet", files=_ASTEROID_FILES),
        asteroid.SEPARATE, asteroid.load_asteroid, fp16_bytes=10_101_090, preload=False, framework="asteroid"),
    row(Repo("speechbrain/sepformer-wham16k-enhancement", "speechbrain-sepformer-enhancement-16k",
             files=_SPEECHBRAIN_FILES),
        sb.ENHANCE, sb.load_separator,
        fp16_bytes=51_227_138, preload=False, framework="speechbrain"),
    row(Repo("speechbrain/sepformer-wham-enhancement", "speechbrain-sepformer-enhancement-8k",
             files=_SPEECHBRAIN_FILES),
        sb.ENHANCE, sb.load_separator,
        fp16_bytes=51_227_138, preload=False, framework="speechbrain"),
    # text-to-speech (4 is in catalog/full.py; 1, 6, 7 and 9 are fairseq, 8 is NeMo). espnet loads the
    # whole GAN (generator and discriminators): sizes are both, from espnet's VITS and JointText2Wav
    # built with the LJSpeech recipes' dimensions.
    row(Repo("espnet/kan-bayashi_ljspeech_vits", "espnet-vits", files=_ESPNET_FILES),
        espnet.SPEAK, espnet.CHECKED_TEXT2SPEECH, fp16_bytes=173_197_628, framework="espnet"),
    row(Repo("mio/amadeus", "espnet-vits-pyopenjtalk", files=_ESPNET_FILES),  # its config: g2p pyopenjtalk
        espnet.SPEAK, espnet.PYOPENJTALK_TEXT2SPEECH, fp16_bytes=173_197_628, framework="espnet"),
    row(Repo("espnet/kan-bayashi_ljspeech_joint_finetune_conformer_fastspeech2_hifigan", "espnet-fastspeech2-hifigan",
             files=_ESPNET_FASTSPEECH2_FILES),
        espnet.SPEAK, espnet.CHECKED_TEXT2SPEECH,
        fp16_bytes=200_915_138, preload=False, framework="espnet"),
    # the Tacotron2 row's size includes its HiFi-GAN vocoder's 27.9 MB
    row((Repo("speechbrain/tts-tacotron2-ljspeech", "speechbrain-tacotron2", files=_SPEECHBRAIN_FILES),
         SPEECHBRAIN_HIFIGAN),
        sb.SPEAK, sb.load_tacotron2,
        fp16_bytes=56_386_306 + 27_872_260, framework="speechbrain"),
]
