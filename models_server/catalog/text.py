"""The controller's text candidates (issue 12): classification, tagging, extractive QA, similarity.

One generic loader per task and library, the architecture read from each repo's own config, so a
row is an id, a task and a family. Ids the Hub moved list the new name as an alias: the weights
are found under either name and the new name is served too.

`fp16_bytes` is 2 bytes x the parameter count of the real architecture (each repo's published
config instantiated on PyTorch's meta device: vocabulary, width, depth, head; plus the Dense layer
of sentence-transformers repos that have one). Candidates past the fifth of their task, and anything
over ~1 GB in fp16, are lazy: they answer `loaded: true` and load on first use.
"""

from __future__ import annotations

from models_server.catalog.rows import ModelSpec, Repo
from models_server.tasks.base import Task
from models_server.tasks.loading import Loader
from models_server.tasks.transformers import text

ONE_GB = 1_000_000_000
EAGER_CANDIDATES = 5  # the first five of each task's ten load at startup (when small enough)

_TASKS: dict[str, tuple[Task, Loader, str]] = {
    # key: (task, loader, framework)
    "classify": (text.TEXT_CLASSIFICATION, text.load_text_classification, "transformers"),
    "tag": (text.TOKEN_CLASSIFICATION, text.load_token_classification, "transformers"),
    "qa": (text.QUESTION_ANSWERING, text.load_question_answering, "transformers"),
    "embed": (text.SENTENCE_SIMILARITY, text.load_sentence_transformer, "sentence-transformers"),
    "instruct": (text.SENTENCE_SIMILARITY, text.load_instructor, "sentence-transformers"),
}

# (controller's id, new Hub name or None, task key, family, place in the controller's first ten, fp16 bytes)
_ROWS: tuple[tuple[str, str | None, str, str, int, int], ...] = (
    # text-classification (2 and 3 are in catalog/full.py)
    ("ProsusAI/finbert", None, "classify", "bert-text-classification", 1, 218_969_094),
    ("j-hartmann/emotion-english-distilroberta-base", None, "classify", "roberta-sentiment", 4, 164_247_566),
    ("cardiffnlp/twitter-roberta-base-sentiment-latest", None, "classify", "roberta-sentiment", 5, 249_295_878),
    ("nlptown/bert-base-multilingual-uncased-sentiment", None, "classify", "bert-text-classification", 6,
     334_720_522),
    ("cardiffnlp/twitter-xlm-roberta-base-sentiment", None, "classify", "xlm-roberta-text-classification", 7,
     556_091_910),
    ("papluca/xlm-roberta-base-language-detection", None, "classify", "xlm-roberta-text-classification", 8,
     556_118_056),
    ("yiyanghkust/finbert-tone", None, "classify", "bert-text-classification", 9, 219_508_230),
    ("roberta-base-openai-detector", "openai-community/roberta-base-openai-detector", "classify",
     "roberta-sentiment", 10, 249_294_340),
    # token-classification (1 is in catalog/full.py; 4, flair/ner-english-ontonotes-large, needs flair)
    ("Jean-Baptiste/camembert-ner", None, "tag", "camembert-token-classification", 2, 220_070_410),
    ("oliverguhr/fullstop-punctuation-multilang-large", None, "tag", "xlm-roberta-token-classification", 3,
     1_117_693_964),
    ("xlm-roberta-large-finetuned-conll03-english", "FacebookAI/xlm-roberta-large-finetuned-conll03-english",
     "tag", "xlm-roberta-token-classification", 5, 1_117_698_064),
    ("Davlan/bert-base-multilingual-cased-ner-hrl", None, "tag", "bert-ner", 6, 354_539_538),
    ("felflare/bert-restore-punctuation", None, "tag", "bert-ner", 7, 217_806_366),
    ("dslim/bert-large-NER", None, "tag", "bert-ner", 8, 665_077_778),
    ("d4data/biomedical-ner-all", None, "tag", "distilbert-token-classification", 9, 132_854_952),
    ("Jean-Baptiste/roberta-large-ner-english", None, "tag", "roberta-token-classification", 10, 708_630_538),
    # question-answering (1 and 2 are in catalog/full.py)
    ("bert-large-uncased-whole-word-masking-finetuned-squad",
     "google-bert/bert-large-uncased-whole-word-masking-finetuned-squad", "qa", "bert-qa", 3, 668_188_676),
    ("luhua/chinese_pretrain_mrc_roberta_wwm_ext_large", None, "qa", "chinese-bert-qa", 4, 648_949_764),
    ("uer/roberta-base-chinese-extractive-qa", None, "qa", "chinese-bert-qa", 5, 203_357_188),
    ("deepset/xlm-roberta-large-squad2", None, "qa", "xlm-roberta-qa", 6, 1_117_685_764),
    ("deepset/minilm-uncased-squad2", None, "qa", "bert-qa", 7, 66_425_860),
    ("distilbert-base-uncased-distilled-squad", "distilbert/distilbert-base-uncased-distilled-squad", "qa",
     "distilbert-qa", 8, 132_728_836),
    ("timpal0l/mdeberta-v3-base-squad2", None, "qa", "deberta-v2-qa", 9, 556_440_580),
    ("deepset/deberta-v3-large-squad2", None, "qa", "deberta-v2-qa", 10, 868_028_420),
    # sentence-similarity (1 is in catalog/full.py)
    ("sentence-transformers/all-mpnet-base-v2", None, "embed", "st-mpnet", 2, 218_969_856),
    ("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", None, "embed", "st-multilingual-minilm", 3,
     235_307_520),
    ("hkunlp/instructor-large", None, "instruct", "st-instructor", 4, 671_452_160),
    ("sentence-transformers/paraphrase-multilingual-mpnet-base-v2", None, "embed", "st-xlm-roberta", 5,
     556_087_296),
    ("sentence-transformers/multi-qa-mpnet-base-dot-v1", None, "embed", "st-mpnet-cls", 6, 218_969_856),
    ("shibing624/text2vec-base-chinese", None, "embed", "st-chinese-bert", 7, 204_535_296),
    ("sentence-transformers/LaBSE", None, "embed", "st-labse", 8, 943_034_880),
    ("hkunlp/instructor-xl", None, "instruct", "st-instructor", 9, 2_450_200_576),
    ("sentence-transformers/multi-qa-MiniLM-L6-cos-v1", None, "embed", "sentence-transformer", 10, 45_426_432),
)


def _spec(model_id: str, new_name: str | None, task_key: str, family: str, place: int, fp16_bytes: int) -> ModelSpec:
    task, loader, framework = _TASKS[task_key]
    repo = Repo(model_id, family, aliases=(new_name,) if new_name else ())
    return ModelSpec(
        model_id, task, "full", (repo,), loader, framework=framework, aliases=repo.aliases,
        preload=place <= EAGER_CANDIDATES and fp16_bytes < ONE_GB, fp16_bytes=fp16_bytes,
    )


MODELS: list[ModelSpec] = [_spec(*row) for row in _ROWS]
