"""Tiny chat models: decoder-only LMs of the real classes, with a byte-level BPE tokenizer that
knows each family's turn markers and carries the family's chat template.

The context is short (256 positions) so a test can ask for more tokens than fit.
"""

from __future__ import annotations

from pathlib import Path

from tiny_models import tokenizers as tok
from tiny_models.text import favour_words

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, CONTEXT = 32, 2, 4, 2, 64, 256

# ChatML, as Qwen2 models lay a conversation out (a default system turn when none is given).
CHATML = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Zephyr's layout, as TinyLlama's chat model uses it.
ZEPHYR = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _chat_tokenizer(folder: Path, markers: list[str], end_of_turn: str, template: str):
    tokenizer = tok.gpt2_tokenizer(vocab_size=320)
    tokenizer.add_special_tokens({"additional_special_tokens": markers})
    tokenizer.eos_token = end_of_turn
    tokenizer.chat_template = template
    tokenizer.model_max_length = CONTEXT
    tokenizer.save_pretrained(folder)
    return tokenizer


def _save(folder: Path, config, model_class, tokenizer, end_of_turn: str) -> None:
    from transformers import GenerationConfig

    end_ids = sorted({tokenizer.convert_tokens_to_ids(end_of_turn), tokenizer.convert_tokens_to_ids("<|endoftext|>")})
    model = model_class(config)
    favour_words(model, tokenizer)
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=end_ids, pad_token_id=0)
    model.save_pretrained(folder)


def build_qwen2_chat(folder: Path) -> None:
    """Qwen/Qwen2.5-*-Instruct: Qwen2ForCausalLM, ChatML turns ending in <|im_end|>."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = _chat_tokenizer(folder, ["<|im_start|>", "<|im_end|>"], "<|im_end|>", CHATML)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
    )
    _save(folder, config, Qwen2ForCausalLM, tokenizer, "<|im_end|>")


def build_llama_chat(folder: Path) -> None:
    """TinyLlama/TinyLlama-1.1B-Chat-v1.0: LlamaForCausalLM, Zephyr turns ending in </s>."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _chat_tokenizer(folder, ["<|system|>", "<|user|>", "<|assistant|>", "</s>"], "</s>", ZEPHYR)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
        tie_word_embeddings=False, bos_token_id=0, eos_token_id=tokenizer.convert_tokens_to_ids("</s>"),
    )
    _save(folder, config, LlamaForCausalLM, tokenizer, "</s>")
