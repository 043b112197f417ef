"""Chat models: causal LMs served on OpenAI's chat and completion routes (`/v1/chat/completions`,
`/v1/completions`), so the controller's own LLM can run on this box too.

Lazy by default (each loads on its first request); `fp16_bytes` is 2 bytes x the parameters of
the published config (on PyTorch's meta device; Qwen2's input and output embeddings are tied).
"""

from __future__ import annotations

from models_server.catalog.rows import ModelSpec, Repo, row
from models_server.tasks.transformers import chat

# (served id, family, fp16 bytes)
_ROWS: tuple[tuple[str, str, int], ...] = (
    ("Qwen/Qwen2.5-0.5B-Instruct", "qwen2-chat", 988_065_536),
    ("Qwen/Qwen2.5-1.5B-Instruct", "qwen2-chat", 3_087_428_608),
    ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", "llama-chat", 2_200_096_768),
)

MODELS: list[ModelSpec] = [
    row(Repo(model_id, family), chat.CHAT, chat.load_causal_lm, fp16_bytes=fp16_bytes, preload=False)
    for model_id, family, fp16_bytes in _ROWS
]
