"""Embeddings of texts by a sentence-similarity model: the vectors themselves, not their similarity.

Runs on the model object the similarity rows load (a SentenceTransformer), so serving
embeddings costs no second copy of any model.
"""

from __future__ import annotations

from typing import Any

from models_server.errors import BadInput
from models_server.tasks import contracts
from models_server.tasks.base import Task


def embed_texts(model: Any, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """`{"embeddings": float32 array (texts, dimensions), "tokens": tokens the model read}`.

    `dimensions` must be the model's own: none of these models was trained so that a prefix of
    its vector is an embedding too (Matryoshka), and cutting one would quietly hurt its answers.
    """
    import numpy as np

    texts = inputs["texts"]
    native = model.get_sentence_embedding_dimension()
    wanted = params["dimensions"]
    if wanted is not None and wanted != native:
        raise BadInput(f"this model gives {native}-dimensional embeddings and was not trained to be truncated; "
                       f"omit 'dimensions' or ask for {native}", param="dimensions")
    vectors = model.encode(texts, convert_to_numpy=True)
    features = model.tokenize(texts)
    tokens = int(features["attention_mask"].sum()) if "attention_mask" in features else 0
    return {"embeddings": np.asarray(vectors, dtype=np.float32), "tokens": tokens}


SENTENCE_EMBEDDING = Task(contracts.SENTENCE_EMBEDDING, embed_texts)
