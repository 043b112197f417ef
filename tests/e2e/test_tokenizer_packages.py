"""Without sentencepiece or protobuf, in a process where they really cannot be imported: the rows
whose tokenizer must be converted from a SentencePiece model (or, SpeechT5's, reads it through
sentencepiece) are failed at start with the fix (their load would fail, the conversion with
transformers' misleading "tiktoken is required"), and rows that ship a tokenizer.json beside their
model still load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# In the child: the package made unimportable before anything imports it, then per repo the row's
# state at start and what its real load does.
CHILD = """
import json, sys
sys.modules[{module!r}] = None
from pathlib import Path
import torch
from models_server.catalog import catalog_rows
from models_server.config import load_settings
from models_server.runtime import Runtime
from models_server.tasks.loading import LoadContext
root, public = Path(sys.argv[1]), Path(sys.argv[2])
rows = [row for row in catalog_rows() if row.id in sys.argv[3:]]
flags = {{"tier": "full", "model_root": root, "public_dir": public, "device": "cpu"}}
settings = load_settings(None, flags, environ={{}})
runtime = Runtime(settings, rows)
found = {{}}
for row in rows:
    view = runtime.view(row.id)
    try:
        row.loader(LoadContext(row.id, (root / row.id,), "cpu", torch.float32))
        loads = True
    except Exception:
        loads = False
    found[row.id] = {{"state": view.state.value, "reason": view.reason, "loads": loads}}
print(json.dumps(found))
"""
CONVERTS = ("deepset/deberta-v3-large-squad2", "cardiffnlp/twitter-xlm-roberta-base-sentiment")
SHIPS_JSON = ("t5-base", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "naver-clova-ix/donut-base")
# SpeechT5's tokenizer reads spm_char.model through sentencepiece every time, protobuf or not.
READS_SENTENCEPIECE = ("microsoft/speecht5_asr",)


@pytest.mark.slow
@pytest.mark.parametrize(("module", "package"), [("sentencepiece", "sentencepiece"), ("google.protobuf", "protobuf")])
def test_without_the_conversion_packages_only_rows_that_need_them_fail(tiny_root: Path, public_dir: Path,
                                                                        module: str, package: str):
    repos = (*CONVERTS, *SHIPS_JSON, *READS_SENTENCEPIECE)
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(module=module), str(tiny_root), str(public_dir), *repos],
        capture_output=True, text=True, timeout=600,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    found = json.loads(child.stdout.strip().splitlines()[-1])
    cannot = CONVERTS + (READS_SENTENCEPIECE if package == "sentencepiece" else ())
    for repo in repos:
        if repo in cannot:
            assert not found[repo]["loads"], repo  # the refusal is needed: the real load fails
            assert found[repo]["state"] == "failed" and f"fix: pip install {package}" in found[repo]["reason"], (
                repo, found[repo])
        else:
            assert found[repo]["loads"] and found[repo]["state"] != "failed", (repo, found[repo])
