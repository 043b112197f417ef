"""The full tier: video, speech synthesis, audio classification and the NLP tasks.

Repos whose Hub name moved (gpt2 is now openai-community/gpt2, ...) list the new name as an
alias, so weights are found under either; the served id stays the one the controller asks for
and the new name is served as an alias id.
"""

from __future__ import annotations

from models_server.catalog.minimal import DECODES_SD15_LATENTS, SD15, SD15_FP16_BYTES
from models_server.catalog.rows import ModelSpec, Repo, row
from models_server.catalog.sizes import MB
from models_server.tasks.diffusers import text_to_image, video
from models_server.tasks.transformers import audio_classification as audio_cls
from models_server.tasks.transformers import speech_synthesis, text, text_generation

# damo-vilab moved to ali-vilab on the Hub.
TEXT_TO_VIDEO = Repo(
    "damo-vilab/text-to-video-ms-1.7b", "text-to-video-sd", aliases=("ali-vilab/text-to-video-ms-1.7b",)
)
SPEECHT5_TTS = Repo("microsoft/speecht5_tts", "speecht5-tts")
SPEECHT5_VC = Repo("microsoft/speecht5_vc", "speecht5-vc")
HIFIGAN = Repo("microsoft/speecht5_hifigan", "speecht5-hifigan")
# A dataset repo; only the one speaker file SpeechT5's examples use is needed (see tiny_models/speech_synthesis.py).
XVECTORS = Repo(
    "Matthijs/cmu-arctic-xvectors", "speaker-xvectors", files=("spkrec-xvect.zip",), repo_type="dataset"
)


def _moved(name: str, new_name: str, family: str) -> Repo:
    return Repo(name, family, aliases=(new_name,))


# Sizes: the published parameter counts of each architecture (model cards and papers) x 2 bytes.
MODELS: list[ModelSpec] = [
    row(TEXT_TO_VIDEO, video.TEXT_TO_VIDEO, video.load_text_to_video, fp16_bytes=3_400 * MB, framework="diffusers"),
    # The model and its HiFi-GAN vocoder (25 MB).
    row((SPEECHT5_TTS, HIFIGAN, XVECTORS), speech_synthesis.TEXT_TO_SPEECH, speech_synthesis.load_text_to_speech,
        fp16_bytes=289 * MB + 25 * MB),
    row((SPEECHT5_VC, HIFIGAN, XVECTORS), speech_synthesis.AUDIO_TO_AUDIO, speech_synthesis.load_voice_conversion,
        fp16_bytes=310 * MB + 25 * MB),
    row(Repo("ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition", "wav2vec2-emotion"),
        audio_cls.AUDIO_CLASSIFICATION, audio_cls.load_audio_classification, fp16_bytes=631 * MB),
    row(Repo("superb/wav2vec2-base-superb-ks", "wav2vec2-keyword-spotting"),
        audio_cls.AUDIO_CLASSIFICATION, audio_cls.load_audio_classification, fp16_bytes=189 * MB),
    row(Repo("deepset/roberta-base-squad2", "roberta-qa"),
        text.QUESTION_ANSWERING, text.load_question_answering, fp16_bytes=248 * MB),
    row(_moved("distilbert-base-cased-distilled-squad", "distilbert/distilbert-base-cased-distilled-squad",
               "distilbert-qa"),
        text.QUESTION_ANSWERING, text.load_question_answering, fp16_bytes=130 * MB),
    row(_moved("distilbert-base-uncased-finetuned-sst-2-english",
               "distilbert/distilbert-base-uncased-finetuned-sst-2-english", "distilbert-sentiment"),
        text.TEXT_CLASSIFICATION, text.load_text_classification, fp16_bytes=134 * MB),
    row(Repo("cardiffnlp/twitter-roberta-base-sentiment", "roberta-sentiment"),
        text.TEXT_CLASSIFICATION, text.load_text_classification, fp16_bytes=250 * MB),
    row(Repo("dslim/bert-base-NER", "bert-ner"),
        text.TOKEN_CLASSIFICATION, text.load_token_classification, fp16_bytes=216 * MB),
    row(Repo("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformer"),
        text.SENTENCE_SIMILARITY, text.LOAD_SENTENCE_TRANSFORMER, fp16_bytes=45 * MB,
        framework="sentence-transformers"),
    row(Repo("facebook/bart-large-cnn", "bart-summarization"),
        text_generation.SUMMARIZATION, text_generation.load_seq2seq, fp16_bytes=812 * MB),
    row(_moved("t5-base", "google-t5/t5-base", "t5"),
        text_generation.TRANSLATION, text_generation.load_seq2seq, fp16_bytes=446 * MB),
    row(_moved("gpt2", "openai-community/gpt2", "gpt2"),
        text_generation.TEXT_GENERATION, text_generation.load_text_generation, fp16_bytes=248 * MB),
    row(Repo("google/flan-t5-base", "flan-t5"),
        text_generation.TEXT2TEXT_GENERATION, text_generation.load_seq2seq, fp16_bytes=496 * MB),
    # Text-to-image reads the same base repo as the ControlNet pipelines, so the runtime hands it
    # the very same UNet, VAE and text encoder: the full tier adds no second copy of SD1.5.
    row(SD15, text_to_image.TEXT_TO_IMAGE, text_to_image.load_text_to_image, fp16_bytes=SD15_FP16_BYTES,
        framework="diffusers", setting_weights=DECODES_SD15_LATENTS),
    row(Repo("lambdalabs/sd-image-variations-diffusers", "sd-image-variations"), text_to_image.IMAGE_VARIATIONS,
        text_to_image.load_image_variations, fp16_bytes=2_500 * MB, framework="diffusers"),
]
