"""The full tier: video, speech synthesis, audio classification and the NLP tasks.

Repos whose Hub name moved (gpt2 is now openai-community/gpt2, ...) list the new name as an
alias, so weights are found under either; the served id stays the one the controller asks for
and the new name is served as an alias id.
"""

from __future__ import annotations

from models_server.catalog.minimal import SD15
from models_server.catalog.rows import ModelSpec, Repo
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
# A dataset repo; only the one speaker file SpeechT5's examples use is needed (see tiny/speech_synthesis.py).
XVECTORS = Repo(
    "Matthijs/cmu-arctic-xvectors", "speaker-xvectors", files=("spkrec-xvect.zip",), repo_type="dataset"
)


def _moved(name: str, new_name: str, family: str) -> Repo:
    return Repo(name, family, aliases=(new_name,))


def _row(repo: Repo, task, loader, framework: str = "transformers", extra: tuple[Repo, ...] = ()):
    """One served id per repo, named as the controller names it; a moved repo's new name too."""
    weights = (repo, *extra)
    return ModelSpec(repo.name, task, "full", weights, loader, framework=framework, aliases=repo.aliases)


MODELS: list[ModelSpec] = [
    _row(TEXT_TO_VIDEO, video.TEXT_TO_VIDEO, video.load_text_to_video, framework="diffusers"),
    _row(SPEECHT5_TTS, speech_synthesis.TEXT_TO_SPEECH, speech_synthesis.load_text_to_speech,
         extra=(HIFIGAN, XVECTORS)),
    _row(SPEECHT5_VC, speech_synthesis.AUDIO_TO_AUDIO, speech_synthesis.load_voice_conversion,
         extra=(HIFIGAN, XVECTORS)),
    _row(Repo("ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition",
              "wav2vec2-emotion"),
         audio_cls.AUDIO_CLASSIFICATION, audio_cls.load_audio_classification),
    _row(Repo("superb/wav2vec2-base-superb-ks", "wav2vec2-keyword-spotting"),
         audio_cls.AUDIO_CLASSIFICATION, audio_cls.load_audio_classification),
    _row(Repo("deepset/roberta-base-squad2", "roberta-qa"),
         text.QUESTION_ANSWERING, text.load_question_answering),
    _row(_moved("distilbert-base-cased-distilled-squad", "distilbert/distilbert-base-cased-distilled-squad",
                "distilbert-qa"),
         text.QUESTION_ANSWERING, text.load_question_answering),
    _row(_moved("distilbert-base-uncased-finetuned-sst-2-english",
                "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
                "distilbert-sentiment"),
         text.TEXT_CLASSIFICATION, text.load_text_classification),
    _row(Repo("cardiffnlp/twitter-roberta-base-sentiment", "roberta-sentiment"),
         text.TEXT_CLASSIFICATION, text.load_text_classification),
    _row(Repo("dslim/bert-base-NER", "bert-ner"),
         text.TOKEN_CLASSIFICATION, text.load_token_classification),
    _row(Repo("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformer"),
         text.SENTENCE_SIMILARITY, text.load_sentence_transformer, framework="sentence-transformers"),
    _row(Repo("facebook/bart-large-cnn", "bart-summarization"),
         text_generation.SUMMARIZATION, text_generation.load_seq2seq),
    _row(_moved("t5-base", "google-t5/t5-base", "t5"),
         text_generation.TRANSLATION, text_generation.load_seq2seq),
    _row(_moved("gpt2", "openai-community/gpt2", "gpt2"),
         text_generation.TEXT_GENERATION, text_generation.load_text_generation),
    _row(Repo("google/flan-t5-base", "flan-t5"),
         text_generation.TEXT2TEXT_GENERATION, text_generation.load_seq2seq),
    # Text-to-image reads the same base repo as the ControlNet pipelines, so the runtime hands it
    # the very same UNet, VAE and text encoder: the full tier adds no second copy of SD1.5.
    ModelSpec(SD15.name, text_to_image.TEXT_TO_IMAGE, "full", (SD15,), text_to_image.load_text_to_image,
              framework="diffusers", aliases=SD15.aliases),
    ModelSpec("lambdalabs/sd-image-variations-diffusers", text_to_image.IMAGE_VARIATIONS, "full",
              (Repo("lambdalabs/sd-image-variations-diffusers", "sd-image-variations"),),
              text_to_image.load_image_variations, framework="diffusers"),
]
