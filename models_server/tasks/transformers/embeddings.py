"""Embeddings of texts by a sentence-similarity model: the vectors themselves, not their similarity.

Runs on the model object the similarity rows load (a SentenceTransformer), so serving
embeddings costs no second copy of any model. A model trained with a Matryoshka loss (its loader,
chosen on its catalog row, marks it `TRUNCATABLE`) may be asked for fewer dimensions: the first
ones of its vector, made unit length again.
"""

from __future__ import annotations

from typing import Any

from models_server.errors import BadInput
from models_server.tasks import contracts
from models_server.tasks.base import Task

TRUNCATABLE = "matryoshka_trained"  # the loaded model's attribute: True when its vector's prefixes are embeddings


def embed_texts(model: Any, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """`{"embeddings": float32 array (texts, dimensions), "tokens": tokens the model read}`.

    `dimensions` other than the model's own needs a Matryoshka-trained model: cutting the vector
    of any other model would quietly hurt its answers.
    """
    import numpy as np

    texts = inputs["texts"]
    native = model.get_sentence_embedding_dimension()
    wanted = params["dimensions"]
    if wanted is not None and wanted != native:
        if not getattr(model, TRUNCATABLE, False):
            raise BadInput(f"this model gives {native}-dimensional embeddings and was not trained to be truncated; "
                           f"omit 'dimensions' or ask for {native}", param="dimensions")
        if wanted > native:
            raise BadInput(f"this model gives at most {native} dimensions", param="dimensions")
    vectors = np.asarray(model.encode(texts, convert_to_numpy=True), dtype=np.float32)
    if wanted is not None and wanted < native:
        vectors = vectors[:, :wanted]
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    features = model.tokenize(texts)
    tokens = int(features["attention_mask"].sum()) if "attention_mask" in features else 0
    return {"embeddings": vectors, "tokens": tokens}


SENTENCE_EMBEDDING = Task(contracts.SENTENCE_EMBEDDING, embed_texts)
