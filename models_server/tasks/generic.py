"""Each task's generic loaders, for serving a Hub model the catalog does not list.

A task's weights come in one or more layouts: transformers' `config.json`, sentence-transformers'
`modules.json`, a diffusers `model_index.json`. Each layout names the library that reads it, the
file that shows a folder is in it, the loader the catalog's own rows of the task use, and how to
tell from that file, before anything loads, whether the architecture can do the task at all (for
transformers: whether the task's Auto class knows the config's model type and head). The folder
decides the layout; a model that fits none is refused with the architecture and the task named.

Knows nothing of the catalog or the config: `catalog/configured.py` turns config lines into rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server.errors import WeightsMissing
from models_server.tasks.base import Task
from models_server.tasks.diffusers import diffusion_family, text_to_image, video
from models_server.tasks.libraries import Framework
from models_server.tasks.loading import Checked
from models_server.tasks.transformers import (
    audio_classification,
    document_qa,
    speech,
    text,
    text_generation,
    vision,
    vision_text,
)

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext, Loader

# Files that hold a transformers model's (or a diffusers component's) weights, whole or sharded.
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_NOT_WEIGHTS = frozenset({"training_args.bin"})


class ModelUnfit(Exception):
    """The model's architecture, as its own config names it, cannot do the configured task."""


# --- what a layout accepts -----------------------------------------------------------------------


@dataclass(frozen=True)
class AutoClass:
    """Fits when transformers' `Auto<name>` knows the config's model type and, when the config
    names its trained head (`architectures`), builds that head: a masked-LM checkpoint asked for
    classification would otherwise load with a random classifier and answer noise."""

    name: str  # e.g. "AutoModelForImageClassification"
    mapping: str  # its table in transformers, e.g. "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES"
    check_head: bool = True
    types: frozenset[str] | None = None  # only these model types (a loader that knows only some)

    @property
    def needs(self) -> str:
        only = f" of the model types {', '.join(sorted(self.types))}" if self.types else ""
        return f"an architecture transformers' {self.name} loads{only}"

    def fits(self, config: Any) -> bool:
        from transformers.models.auto import modeling_auto

        if not isinstance(config, dict):
            return False
        kind = model_type(config)
        classes = getattr(modeling_auto, self.mapping).get(kind)
        if classes is None or (self.types is not None and kind not in self.types):
            return False
        heads = config.get("architectures") or []
        if not self.check_head or not heads:
            return True
        known = {classes} if isinstance(classes, str) else set(classes)
        return any(head in known for head in heads)


@dataclass(frozen=True)
class ModelTypes:
    """Fits the model types a loader that dispatches on `model_type` knows (VQA, document QA, captioning)."""

    types: frozenset[str]

    @property
    def needs(self) -> str:
        return f"one of the model types {', '.join(sorted(self.types))}"

    def fits(self, config: Any) -> bool:
        return isinstance(config, dict) and model_type(config) in self.types


@dataclass(frozen=True)
class SentenceTransformerModules:
    """Fits a modules.json whose every module sentence-transformers itself ships (no remote code)."""

    needs: str = "modules sentence-transformers ships (sentence_transformers.*)"

    def fits(self, modules: Any) -> bool:
        return not text.foreign_modules(modules)


@dataclass(frozen=True)
class DiffusersPipeline:
    """Fits a model_index.json naming these components' classes (what the loader builds) and no second
    text encoder (SDXL's), which the loader would leave out."""

    components: tuple[tuple[str, str], ...]  # (component, class name)
    label: str

    @property
    def needs(self) -> str:
        return f"a {self.label} ({', '.join(f'{name} {cls}' for name, cls in self.components)})"

    def fits(self, index: Any) -> bool:
        if not isinstance(index, dict):
            return False
        for name, cls in self.components:
            entry = index.get(name)
            if not isinstance(entry, list) or len(entry) != 2 or entry[1] != cls:
                return False
        return not index.get("text_encoder_2") or index["text_encoder_2"] == [None, None]


# --- layouts and generic tasks ----------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """One way a task's weights are laid out: the library, the file that shows it, the loader."""

    library: Framework
    marker: str  # config.json, modules.json, model_index.json
    load: Loader
    accepts: AutoClass | ModelTypes | SentenceTransformerModules | DiffusersPipeline
    unless: str | None = None  # a file whose presence means the library reads the folder another way

    def applies(self, folder: Path) -> bool:
        return (folder / self.marker).is_file() and not (self.unless and (folder / self.unless).exists())

    def missing_files(self, folder: Path, parsed: Any) -> str | None:
        """Which file the loader needs is missing from `folder`, or None."""
        if self.marker == "model_index.json":
            for name in ("unet", "vae", "text_encoder"):
                if not (folder / name / "config.json").is_file():
                    return f"{folder / name / 'config.json'} is missing (model_index.json lists {name})"
                if not _has_weights(folder / name):
                    return f"{folder / name} holds no weight file (.safetensors or .bin)"
            return None
        where = folder
        if self.marker == "modules.json":  # the weights are in the Transformer module's folder
            paths = [m.get("path", "") for m in parsed if str(m.get("type", "")).endswith(".Transformer")]
            where = folder / paths[0] if paths else folder
        if not _has_weights(where):
            return f"{where} holds no weight file (model.safetensors or pytorch_model.bin, whole or sharded)"
        return None


@dataclass(frozen=True)
class GenericTask:
    """A task and the layouts a model of it may come in, tried in order."""

    task: Task
    layouts: tuple[Layout, ...]

    @property
    def library(self) -> Framework:
        return self.layouts[0].library

    def choose(self, folder: Path) -> Layout:
        """The first layout `folder` is in whose architecture fits the task.

        WeightsMissing when the folder holds none of the layouts' marker files or a needed weight
        file; ModelUnfit when it holds a model of an architecture that cannot do the task.
        """
        present = [layout for layout in self.layouts if layout.applies(folder)]
        if not present:
            markers = dict.fromkeys(f"{layout.marker} ({layout.library})" for layout in self.layouts)
            wanted = " or ".join(markers)
            raise WeightsMissing(f"{folder} has no {wanted}: not a {self.task.name} model folder")
        refusals = []
        for layout in present:
            parsed = _read_json(folder / layout.marker)
            if layout.accepts.fits(parsed):
                missing = layout.missing_files(folder, parsed)
                if missing:
                    raise WeightsMissing(missing)
                return layout
            refusals.append(layout)
        described = describe(refusals[0].marker, _read_json(folder / refusals[0].marker))
        needs = " or ".join(dict.fromkeys(layout.accepts.needs for layout in refusals))
        raise ModelUnfit(f"{folder / refusals[0].marker} describes {described}, which cannot do "
                         f"{self.task.name}: that needs {needs}")

    def loader(self) -> GenericLoader:
        return GenericLoader(self)


@dataclass(frozen=True)
class GenericLoader:
    """A configured model's loader: the layout its folder holds, checked, then that layout's loader."""

    generic: GenericTask

    def __call__(self, ctx: LoadContext) -> Any:
        return self.generic.choose(ctx.weight_dirs[0]).load(ctx)

    def refusal(self, folder: Path) -> Exception | None:
        """Why loading from `folder` would be refused, found without loading (`models-server check`):
        no layout of the task fits it, or the fitting layout's loader says what it lacks here (a
        LayoutLM checkpoint without Tesseract)."""
        try:
            layout = self.generic.choose(folder)
        except (WeightsMissing, ModelUnfit, ValueError) as exc:
            return exc
        return layout.load.refusal(folder) if isinstance(layout.load, Checked) else None


def model_type(config: dict[str, Any]) -> str | None:
    """The config's model type; timm checkpoints name none and load through transformers' timm wrapper."""
    from transformers.utils.generic import is_timm_config_dict

    if "model_type" in config:
        return str(config["model_type"])
    return "timm_wrapper" if is_timm_config_dict(config) else None


def describe(marker: str, parsed: Any) -> str:
    """The architecture a marker file names, in words: "a bert model (BertForMaskedLM)"."""
    if marker == "config.json" and isinstance(parsed, dict):
        kind = model_type(parsed)
        heads = ", ".join(parsed.get("architectures") or [])
        name = f"a {kind} model" if kind else "a model of no model_type"
        return f"{name} ({heads})" if heads else name
    if marker == "model_index.json" and isinstance(parsed, dict):
        return f"a diffusers {parsed.get('_class_name', 'pipeline')}"
    if marker == "modules.json" and isinstance(parsed, list):
        types = ", ".join(str(m.get("type")) for m in parsed if isinstance(m, dict))
        return f"sentence-transformers modules {types}"
    return f"an unreadable {marker}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not readable JSON ({exc})") from None


def _has_weights(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    return any(p.suffix in _WEIGHT_SUFFIXES and p.name not in _NOT_WEIGHTS and p.is_file() for p in folder.iterdir())


# --- the table -------------------------------------------------------------------------------------


def _transformers(load: Loader, auto_class: str, mapping: str, **options: Any) -> Layout:
    return Layout("transformers", "config.json", load, AutoClass(auto_class, mapping, **options))


_SD_COMPONENTS = (("unet", "UNet2DConditionModel"), ("vae", "AutoencoderKL"), ("text_encoder", "CLIPTextModel"))
_VIDEO_COMPONENTS = (("unet", "UNet3DConditionModel"), ("vae", "AutoencoderKL"), ("text_encoder", "CLIPTextModel"))
_SEQ2SEQ = _transformers(
    text_generation.load_seq2seq, "AutoModelForSeq2SeqLM", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES"
)
# The loaders that pick a way of running by model type accept exactly the types they know.
_CAPTIONER_TYPES = frozenset({"vision-encoder-decoder", *vision_text.PROMPTED_CAPTIONERS})

GENERIC_TASKS: dict[str, GenericTask] = {
    generic.task.name: generic
    for generic in (
        GenericTask(text.TEXT_CLASSIFICATION, (_transformers(
            text.load_text_classification, "AutoModelForSequenceClassification",
            "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES"),)),
        GenericTask(text.TOKEN_CLASSIFICATION, (_transformers(
            text.load_token_classification, "AutoModelForTokenClassification",
            "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES"),)),
        GenericTask(text.QUESTION_ANSWERING, (_transformers(
            text.load_question_answering, "AutoModelForQuestionAnswering",
            "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES"),)),
        # A sentence-transformers folder; else a plain transformers encoder, mean-pooled by the library.
        GenericTask(text.SENTENCE_SIMILARITY, (
            Layout("sentence-transformers", "modules.json", text.LOAD_SENTENCE_TRANSFORMER,
                   SentenceTransformerModules()),
            Layout("sentence-transformers", "config.json", text.LOAD_SENTENCE_TRANSFORMER,
                   AutoClass("AutoModel", "MODEL_MAPPING_NAMES", check_head=False), unless="modules.json"),
        )),
        GenericTask(text_generation.TEXT_GENERATION, (_transformers(
            text_generation.load_text_generation, "AutoModelForCausalLM", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"),)),
        GenericTask(text_generation.SUMMARIZATION, (_SEQ2SEQ,)),
        GenericTask(text_generation.TRANSLATION, (_SEQ2SEQ,)),
        GenericTask(text_generation.TEXT2TEXT_GENERATION, (_SEQ2SEQ,)),
        GenericTask(vision.CLASSIFY, (_transformers(
            vision.load_classifier, "AutoModelForImageClassification",
            "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES"),)),
        GenericTask(vision.DETECT, (_transformers(
            vision.load_detector, "AutoModelForObjectDetection", "MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES"),)),
        GenericTask(vision.DETECT_OPEN_VOCABULARY, (_transformers(
            vision.load_open_vocabulary_detector, "AutoModelForZeroShotObjectDetection",
            "MODEL_FOR_ZERO_SHOT_OBJECT_DETECTION_MAPPING_NAMES"),)),
        # Panoptic-capable models (DETR panoptic, MaskFormer, Mask2Former) first, then per-pixel ones.
        GenericTask(vision.SEGMENT, (
            _transformers(vision.load_mask_segmenter, "AutoModelForUniversalSegmentation",
                          "MODEL_FOR_UNIVERSAL_SEGMENTATION_MAPPING_NAMES"),
            _transformers(vision.load_semantic_segmenter, "AutoModelForSemanticSegmentation",
                          "MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES"),
        )),
        GenericTask(vision.ESTIMATE_DEPTH, (_transformers(
            vision.load_depth_estimator, "AutoModelForDepthEstimation", "MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES"),)),
        GenericTask(vision_text.CAPTION, (_transformers(
            vision_text.load_captioner, "AutoModelForImageTextToText", "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
            types=_CAPTIONER_TYPES),)),
        GenericTask(vision_text.ANSWER, (Layout(
            "transformers", "config.json", vision_text.load_visual_question_answerer,
            ModelTypes(frozenset(vision_text.ANSWERERS))),)),
        GenericTask(document_qa.ANSWER_DOCUMENT, (Layout(
            "transformers", "config.json", document_qa.load_document_reader,
            ModelTypes(frozenset(document_qa.READERS))),)),
        # CTC models (Wav2Vec2, HuBERT) read frames; sequence-to-sequence ones (Whisper, SpeechT5) generate.
        GenericTask(speech.TRANSCRIBE, (
            _transformers(speech.load_ctc, "AutoModelForCTC", "MODEL_FOR_CTC_MAPPING_NAMES"),
            _transformers(speech.load_speech_to_text, "AutoModelForSpeechSeq2Seq",
                          "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES"),
        )),
        GenericTask(audio_classification.AUDIO_CLASSIFICATION, (_transformers(
            audio_classification.load_audio_classification, "AutoModelForAudioClassification",
            "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES"),)),
        GenericTask(text_to_image.TEXT_TO_IMAGE, (Layout(
            "diffusers", "model_index.json", diffusion_family.load_stable_diffusion,
            DiffusersPipeline(_SD_COMPONENTS, "Stable Diffusion 1.x/2.x pipeline")),)),
        GenericTask(video.TEXT_TO_VIDEO, (Layout(
            "diffusers", "model_index.json", video.load_text_to_video,
            DiffusersPipeline(_VIDEO_COMPONENTS, "text-to-video UNet3D pipeline")),)),
    )
}
"""Task name -> its generic loaders. A task missing here (ControlNet, annotators, SpeechT5 speech
synthesis, image variations, the TensorFlow image models) needs more than the model's own folder
(a base model, a vocoder, speaker embeddings) or a per-model recipe: those are catalog rows only."""
