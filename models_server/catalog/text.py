"""The controller's text candidates: classification, tagging, extractive QA, similarity.

One generic loader per task and library, the architecture read from each repo's own config, so a
row is an id, a task and a family. Ids the Hub moved list the new name as an alias: the weights
are found under either name and the new name is served too.

`fp16_bytes` is 2 bytes x the parameter count of the real architecture (each repo's published
config instantiated on PyTorch's meta device: vocabulary, width, depth, head; plus the Dense layer
of sentence-transformers repos that have one). Rows follow the controller's order of candidates;
those past the fifth of their task, and anything over ~1 GB in fp16, are lazy (`preload=False`):
they answer `loaded: true` and load on first use.
"""

from __future__ import annotations

from models_server.catalog.rows import ModelSpec, Repo, row
from models_server.tasks.transformers import text

ONE_GB = 1_000_000_000  # a candidate this big in fp16 is lazy, whatever its place

MODELS: list[ModelSpec] = [
    # text-classification (2 and 3 are in catalog/full.py)
    row(Repo("ProsusAI/finbert", "bert-text-classification"),
        text.TEXT_CLASSIFICATION, text.load_text_classification, fp16_bytes=218_969_094),
    row(Repo("j-hartmann/emotion-english-distilroberta-base", "roberta-sentiment"),
        text.TEXT_CLASSIFICATION, text.load_text_classification, fp16_bytes=164_247_566),
    row(Repo("cardiffnlp/twitter-roberta-base-sentiment-latest", "roberta-sentiment"),
        text.TEXT_CLASSIFICATION, text.load_text_classification, fp16_bytes=249_295_878),
    row(Repo("nlptown/bert-base-multilingual-uncased-sentiment", "bert-text-classification"),
        text.TEXT_CLASSIFICATION, text.load_text_classification, fp16_bytes=334_720_522, preload=False),
    row(Repo("cardiffnlp/twitter-xlm-roberta-base-sentiment", "xlm-roberta-text-classification"),
        text.TEXT_CLASSIFICATION, text.load_text_classification, fp16_bytes=556_091_910, preload=False),
    row(Repo("papluca/xlm-roberta-base-language-detection", "xlm-roberta-text-classification"),
        text.TEXT_CLASSIFICATION, text.load_text_classification, fp16_bytes=556_118_056, preload=False),
    row(Repo("yiyanghkust/finbert-tone", "bert-text-classification"),
        text.TEXT_CLASSIFICATION, text.load_text_classification, fp16_bytes=219_508_230, preload=False),
    row(Repo("roberta-base-openai-detector", "roberta-sentiment",
             aliases=("openai-community/roberta-base-openai-detector",)),
        text.TEXT_CLASSIFICATION, text.load_text_classification,
        fp16_bytes=249_294_340, preload=False),
    # token-classification (1 is in catalog/full.py; 4, flair/ner-english-ontonotes-large, needs flair)
    row(Repo("Jean-Baptiste/camembert-ner", "camembert-token-classification"),
        text.TOKEN_CLASSIFICATION, text.load_token_classification, fp16_bytes=220_070_410),
    row(Repo("oliverguhr/fullstop-punctuation-multilang-large", "xlm-roberta-token-classification"),
        text.TOKEN_CLASSIFICATION, text.load_token_classification, fp16_bytes=1_117_693_964, preload=False),
    row(Repo("xlm-roberta-large-finetuned-conll03-english", "xlm-roberta-token-classification",
             aliases=("FacebookAI/xlm-roberta-large-finetuned-conll03-english",)),
        text.TOKEN_CLASSIFICATION, text.load_token_classification,
        fp16_bytes=1_117_698_064, preload=False),
    row(Repo("Davlan/bert-base-multilingual-cased-ner-hrl", "bert-ner"),
        text.TOKEN_CLASSIFICATION, text.load_token_classification, fp16_bytes=354_539_538, preload=False),
    row(Repo("felflare/bert-restore-punctuation", "bert-ner"),
        text.TOKEN_CLASSIFICATION, text.load_token_classification, fp16_bytes=217_806_366, preload=False),
    row(Repo("dslim/bert-large-NER", "bert-ner"),
        text.TOKEN_CLASSIFICATION, text.load_token_classification, fp16_bytes=665_077_778, preload=False),
    row(Repo("d4data/biomedical-ner-all", "distilbert-token-classification"),
        text.TOKEN_CLASSIFICATION, text.load_token_classification, fp16_bytes=132_854_952, preload=False),
    row(Repo("Jean-Baptiste/roberta-large-ner-english", "roberta-token-classification"),
        text.TOKEN_CLASSIFICATION, text.load_token_classification, fp16_bytes=708_630_538, preload=False),
    # question-answering (1 and 2 are in catalog/full.py)
    row(Repo("bert-large-uncased-whole-word-masking-finetuned-squad", "bert-qa",
             aliases=("google-bert/bert-large-uncased-whole-word-masking-finetuned-squad",)),
        text.QUESTION_ANSWERING, text.load_question_answering,
        fp16_bytes=668_188_676),
    row(Repo("luhua/chinese_pretrain_mrc_roberta_wwm_ext_large", "chinese-bert-qa"),
        text.QUESTION_ANSWERING, text.load_question_answering, fp16_bytes=648_949_764),
    row(Repo("uer/roberta-base-chinese-extractive-qa", "chinese-bert-qa"),
        text.QUESTION_ANSWERING, text.load_question_answering, fp16_bytes=203_357_188),
    row(Repo("deepset/xlm-roberta-large-squad2", "xlm-roberta-qa"),
        text.QUESTION_ANSWERING, text.load_question_answering, fp16_bytes=1_117_685_764, preload=False),
    row(Repo("deepset/minilm-uncased-squad2", "bert-qa"),
        text.QUESTION_ANSWERING, text.load_question_answering, fp16_bytes=66_425_860, preload=False),
    row(Repo("distilbert-base-uncased-distilled-squad", "distilbert-qa",
             aliases=("distilbert/distilbert-base-uncased-distilled-squad",)),
        text.QUESTION_ANSWERING, text.load_question_answering,
        fp16_bytes=132_728_836, preload=False),
    row(Repo("timpal0l/mdeberta-v3-base-squad2", "deberta-v2-qa"),
        text.QUESTION_ANSWERING, text.load_question_answering, fp16_bytes=556_440_580, preload=False),
    row(Repo("deepset/deberta-v3-large-squad2", "deberta-v2-qa"),
        text.QUESTION_ANSWERING, text.load_question_answering, fp16_bytes=868_028_420, preload=False),
    # sentence-similarity (1 is in catalog/full.py)
    row(Repo("sentence-transformers/all-mpnet-base-v2", "st-mpnet"),
        text.SENTENCE_SIMILARITY, text.LOAD_SENTENCE_TRANSFORMER,
        fp16_bytes=218_969_856, framework="sentence-transformers"),
    row(Repo("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "st-multilingual-minilm"),
        text.SENTENCE_SIMILARITY, text.LOAD_SENTENCE_TRANSFORMER,
        fp16_bytes=235_307_520, framework="sentence-transformers"),
    row(Repo("hkunlp/instructor-large", "st-instructor"),
        text.SENTENCE_SIMILARITY, text.LOAD_INSTRUCTOR, fp16_bytes=671_452_160, framework="sentence-transformers"),
    row(Repo("sentence-transformers/paraphrase-multilingual-mpnet-base-v2", "st-xlm-roberta"),
        text.SENTENCE_SIMILARITY, text.LOAD_SENTENCE_TRANSFORMER,
        fp16_bytes=556_087_296, framework="sentence-transformers"),
    row(Repo("sentence-transformers/multi-qa-mpnet-base-dot-v1", "st-mpnet-cls"),
        text.SENTENCE_SIMILARITY, text.LOAD_SENTENCE_TRANSFORMER,
        fp16_bytes=218_969_856, preload=False, framework="sentence-transformers"),
    row(Repo("shibing624/text2vec-base-chinese", "st-chinese-bert"),
        text.SENTENCE_SIMILARITY, text.LOAD_SENTENCE_TRANSFORMER,
        fp16_bytes=204_535_296, preload=False, framework="sentence-transformers"),
    row(Repo("sentence-transformers/LaBSE", "st-labse"),
        text.SENTENCE_SIMILARITY, text.LOAD_SENTENCE_TRANSFORMER,
        fp16_bytes=943_034_880, preload=False, framework="sentence-transformers"),
    row(Repo("hkunlp/instructor-xl", "st-instructor"),
        text.SENTENCE_SIMILARITY, text.LOAD_INSTRUCTOR,
        fp16_bytes=2_450_200_576, preload=False, framework="sentence-transformers"),
    # trained with a Matryoshka loss (its model card): OpenAI's `dimensions` may cut its vectors
    row(Repo("mixedbread-ai/mxbai-embed-large-v1", "st-bert-cls-prompts"),
        text.SENTENCE_SIMILARITY, text.LOAD_MATRYOSHKA_SENTENCE_TRANSFORMER,
        fp16_bytes=670_283_776, preload=False, framework="sentence-transformers"),
    row(Repo("sentence-transformers/multi-qa-MiniLM-L6-cos-v1", "sentence-transformer"),
        text.SENTENCE_SIMILARITY, text.LOAD_SENTENCE_TRANSFORMER,
        fp16_bytes=45_426_432, preload=False, framework="sentence-transformers"),
]
