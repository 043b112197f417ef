"""Every task the server runs, declared once: its name, the request fields it reads, its knobs.

A contract is what a client may send for a task, whatever library serves it: implementations
(`tasks/<library>/`) pair a contract with their handler in a `Task`, and the protocols adapt their
requests and answers per contract. Two contracts may share a task name when their fields differ:
segmenting by prompts reads labels that plain segmentation does not, image variations take
generation knobs that a Keras image-to-image model does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from models_server.kinds import Field, Kind

__all__ = ["CONTRACTS", "Contract", "Field", "Kind"]


@dataclass(frozen=True)
class Contract:
    """A kind of work: `inputs` are the content fields, `params` the optional knobs."""

    name: str
    inputs: tuple[Field, ...]
    params: tuple[Field, ...] = ()


# --- fields several contracts read ------------------------------------------------------------------

IMAGE = Field("img_url", Kind.IMAGE, required=True, aliases=("image",))
AUDIO = Field("audio", Kind.AUDIO, required=True, aliases=("audio_url", "inputs"))
TEXT_INPUT = Field("text", Kind.TEXT, required=True, aliases=("inputs",))
SPOKEN_TEXT = Field("text", Kind.TEXT, required=True, aliases=("inputs",), non_empty=True)
QUESTION = Field("text", Kind.TEXT, required=True, aliases=("question",))
THRESHOLD = Field("threshold", Kind.FLOAT, default=None, minimum=0.0, maximum=1.0)
TOP_K = Field("top_k", Kind.INT, default=5, minimum=1, maximum=100)
MAX_NEW_TOKENS = 1024  # one request may not hold a model for longer than this many steps
NEW_TOKENS = Field("max_new_tokens", Kind.INT, default=None, minimum=1, maximum=MAX_NEW_TOKENS)
GENERATION_PARAMS = (
    Field("num_inference_steps", Kind.INT, default=20, minimum=1, maximum="max_steps"),
    Field("guidance_scale", Kind.FLOAT, default=7.5, minimum=0, maximum=50),
    Field("seed", Kind.INT, minimum=0, maximum=2**63 - 1),
    Field("negative_prompt", Kind.TEXT),
    Field("width", Kind.INT, minimum=64, maximum="max_width", multiple_of=8),
    Field("height", Kind.INT, minimum=64, maximum="max_height", multiple_of=8),
)

# --- images ------------------------------------------------------------------------------------------

CONTROL_MAP = Contract("control-map", (Field("img_url", Kind.IMAGE, required=True),))
CONTROLNET_IMAGE_GENERATION = Contract(
    "controlnet-image-generation",
    (Field("img_url", Kind.IMAGE, required=True), Field("text", Kind.TEXT, required=True)),
    GENERATION_PARAMS,
)
TEXT_TO_IMAGE = Contract(
    "text-to-image", (Field("text", Kind.TEXT, required=True, aliases=("prompt",), non_empty=True),), GENERATION_PARAMS
)
# Variations of an image have no text to negate, and follow the image more loosely by default.
IMAGE_VARIATIONS = Contract(
    "image-to-image",
    (Field("img_url", Kind.IMAGE, required=True),),
    tuple(
        Field("guidance_scale", Kind.FLOAT, default=3.0, minimum=0, maximum=50) if field.name == "guidance_scale"
        else field
        for field in GENERATION_PARAMS
        if field.name != "negative_prompt"
    ),
)
IMAGE_TO_IMAGE = Contract("image-to-image", (Field("img_url", Kind.IMAGE, required=True),))
TEXT_TO_VIDEO = Contract(
    "text-to-video",
    (Field("text", Kind.TEXT, required=True, aliases=("prompt", "inputs"), non_empty=True),),
    (
        Field("num_frames", Kind.INT, default=16, minimum=1, maximum="max_frames"),
        Field("num_inference_steps", Kind.INT, default=25, minimum=1, maximum="max_steps"),
        Field("guidance_scale", Kind.FLOAT, default=9.0, minimum=0, maximum=50),
        Field("seed", Kind.INT, minimum=0, maximum=2**63 - 1),
        Field("negative_prompt", Kind.TEXT),
    ),
)
IMAGE_CLASSIFICATION = Contract("image-classification", (IMAGE, Field("text", Kind.TEXT)), (TOP_K,))
OBJECT_DETECTION = Contract("object-detection", (IMAGE,), (THRESHOLD,))
ZERO_SHOT_OBJECT_DETECTION = Contract(
    "zero-shot-object-detection",
    (IMAGE, Field("text", Kind.TEXT_LIST, aliases=("candidate_labels", "labels"))),
    (THRESHOLD,),
)
IMAGE_SEGMENTATION = Contract(
    "image-segmentation",
    (IMAGE,),
    (
        THRESHOLD,
        Field("mask_threshold", Kind.FLOAT, default=None, minimum=0.0, maximum=1.0),
        Field("overlap_mask_area_threshold", Kind.FLOAT, default=None, minimum=0.0, maximum=1.0),
    ),
)
PROMPTED_IMAGE_SEGMENTATION = Contract(
    "image-segmentation",
    (IMAGE, Field("text", Kind.TEXT_LIST, aliases=("candidate_labels", "labels", "prompts"))),
    (THRESHOLD,),
)
DEPTH_ESTIMATION = Contract("depth-estimation", (IMAGE,))
IMAGE_TO_TEXT = Contract(
    "image-to-text",
    (IMAGE, Field("text", Kind.TEXT)),
    (Field("max_new_tokens", Kind.INT, default=30, minimum=1, maximum=256),),
)
VISUAL_QUESTION_ANSWERING = Contract("visual-question-answering", (IMAGE, QUESTION), (TOP_K,))
DOCUMENT_QUESTION_ANSWERING = Contract(
    "document-question-answering", (IMAGE, QUESTION), (Field("top_k", Kind.INT, default=1, minimum=1, maximum=20),)
)

# --- audio -------------------------------------------------------------------------------------------

AUTOMATIC_SPEECH_RECOGNITION = Contract(
    "automatic-speech-recognition",
    (Field("audio_url", Kind.AUDIO, required=True, aliases=("audio",)),),
    (Field("language", Kind.TEXT),),
)
AUDIO_CLASSIFICATION = Contract("audio-classification", (AUDIO,))
AUDIO_TO_AUDIO = Contract("audio-to-audio", (AUDIO,))
TEXT_TO_SPEECH = Contract("text-to-speech", (SPOKEN_TEXT,), (Field("speaker", Kind.TEXT),))
# A transcript in segments with their times (OpenAI's transcriptions), from the ASR rows' models.
TIMED_TRANSCRIPTION = Contract(
    "automatic-speech-recognition",
    (Field("audio", Kind.AUDIO, required=True),),
    (Field("language", Kind.TEXT), Field("prompt", Kind.TEXT), Field("translate", Kind.BOOL, default=False)),
)

# --- text --------------------------------------------------------------------------------------------

QUESTION_ANSWERING = Contract(
    "question-answering",
    (
        Field("question", Kind.TEXT, required=True, aliases=("text",)),
        Field("context", Kind.TEXT, required=True, maximum="max_text_chars"),
    ),
)
TEXT_CLASSIFICATION = Contract("text-classification", (TEXT_INPUT,))
TOKEN_CLASSIFICATION = Contract("token-classification", (TEXT_INPUT,))
SENTENCE_SIMILARITY = Contract(
    "sentence-similarity",
    (
        Field("source_sentence", Kind.TEXT, required=True, aliases=("text1",)),
        Field("sentences", Kind.TEXT_LIST),
        Field("text2", Kind.TEXT),
    ),
)
SUMMARIZATION = Contract(
    "summarization",
    (Field("text", Kind.TEXT, required=True, aliases=("inputs",), maximum="max_text_chars"),),
    (NEW_TOKENS,),
)
TRANSLATION = Contract(
    "translation",
    (TEXT_INPUT,),
    (
        Field("src_lang", Kind.TEXT, default="en", aliases=("source_language",)),
        Field("tgt_lang", Kind.TEXT, default="de", aliases=("target_language",)),
        NEW_TOKENS,
    ),
)
TEXT2TEXT_GENERATION = Contract("text2text-generation", (TEXT_INPUT,), (NEW_TOKENS,))
TEXT_GENERATION = Contract("text-generation", (TEXT_INPUT,), (NEW_TOKENS,))
CHAT_COMPLETION = Contract(
    "chat-completion",
    # the prompt first: a bare Inference API `inputs` is a text to continue
    (
        Field("prompt", Kind.TEXT, aliases=("text", "inputs"), maximum="max_text_chars"),
        Field("messages", Kind.MESSAGES),
    ),
    (
        Field("max_tokens", Kind.INT, minimum=1, aliases=("max_new_tokens", "max_completion_tokens")),
        Field("temperature", Kind.FLOAT, minimum=0, maximum=2),
        Field("top_p", Kind.FLOAT, minimum=0, maximum=1),
        Field("stop", Kind.TEXT_LIST),
        Field("seed", Kind.INT, minimum=0),
    ),
)
# Sentence embeddings (OpenAI's embeddings), from the sentence-similarity rows' models.
SENTENCE_EMBEDDING = Contract(
    "feature-extraction",
    (Field("texts", Kind.TEXT_LIST, required=True, maximum="max_text_chars"),),
    (Field("dimensions", Kind.INT, minimum=1),),
)

# --- tables ------------------------------------------------------------------------------------------

TABULAR_CLASSIFICATION = Contract(
    "tabular-classification", (Field("table", Kind.TABLE, required=True, aliases=("data",)),)
)

CONTRACTS: tuple[Contract, ...] = (
    CONTROL_MAP, CONTROLNET_IMAGE_GENERATION, TEXT_TO_IMAGE, IMAGE_VARIATIONS, IMAGE_TO_IMAGE, TEXT_TO_VIDEO,
    IMAGE_CLASSIFICATION, OBJECT_DETECTION, ZERO_SHOT_OBJECT_DETECTION, IMAGE_SEGMENTATION,
    PROMPTED_IMAGE_SEGMENTATION, DEPTH_ESTIMATION, IMAGE_TO_TEXT, VISUAL_QUESTION_ANSWERING,
    DOCUMENT_QUESTION_ANSWERING, AUTOMATIC_SPEECH_RECOGNITION, AUDIO_CLASSIFICATION, AUDIO_TO_AUDIO,
    TEXT_TO_SPEECH, QUESTION_ANSWERING, TEXT_CLASSIFICATION, TOKEN_CLASSIFICATION, SENTENCE_SIMILARITY,
    SUMMARIZATION, TRANSLATION, TEXT2TEXT_GENERATION, TEXT_GENERATION, CHAT_COMPLETION, TABULAR_CLASSIFICATION,
)
"""Every contract a catalog row can serve, for whoever must cover them all (the protocols' adapter tables)."""

OPERATIONS: tuple[Contract, ...] = (TIMED_TRANSCRIPTION, SENTENCE_EMBEDDING)
"""Contracts no row declares: a protocol runs them on the model of a row of another contract
(OpenAI's transcriptions on an ASR row, its embeddings on a sentence-similarity row)."""
