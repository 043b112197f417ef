"""Tiny chat models: decoder-only LMs of the real classes, with a byte-level BPE tokenizer that
knows each family's turn markers and carries the family's chat template.

As the Hub repos have them (their tokenizer_config.json and generation_config.json, written by
transformers 4): the chat template is a key of tokenizer_config.json (no chat_template.jinja), the
turn markers are `additional_special_tokens`, and the generation config samples by default
(Qwen2.5-Instruct) or names one end token (TinyLlama). The context is short (256 positions) so a
test can ask for more tokens than fit. Not mirrored: TinyLlama's SentencePiece tokenizer.model
(LlamaTokenizer, byte fallback, a BOS it adds itself); its stand-in reads byte-level BPE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def _chat_tokenizer(folder: Path, markers: list[str], end_of_turn: str, template: str, **hub_keys: Any):
    """The tokenizer, saved with tokenizer_config.json rewritten the way transformers 4 wrote it
    (`chat_template` and `additional_special_tokens` keys); `hub_keys` are the repo's other keys."""
    tokenizer = tok.gpt2_tokenizer(vocab_size=320)
    tokenizer.add_special_tokens({"additional_special_tokens": markers})
    tokenizer.eos_token = end_of_turn
    tokenizer.chat_template = template
    tokenizer.model_max_length = CONTEXT
    tokenizer.save_pretrained(folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config.pop("extra_special_tokens", None)
    config |= {"additional_special_tokens": markers, "chat_template": template, **hub_keys}
    path.write_text(json.dumps(config, indent=2) + "\n")
    return tokenizer


def _save(folder: Path, config, model_class, tokenizer, generation: dict[str, Any]) -> None:
    from transformers import GenerationConfig

    model = model_class(config)
    favour_words(model, tokenizer)
    model.generation_config = GenerationConfig(**generation)
    model.save_pretrained(folder)


def build_qwen2_chat(folder: Path) -> None:
    """Qwen/Qwen2.5-0.5B-Instruct and -1.5B-Instruct: Qwen2ForCausalLM with tied embeddings, bf16
    in config.json, ChatML turns ending in <|im_end|>; tokenizer_class Qwen2Tokenizer, no BOS or
    UNK token; generation_config.json samples (temperature 0.7, top_p 0.8, top_k 20, repetition
    penalty 1.1) and stops at <|im_end|> or <|endoftext|>. Source: the two repos' config.json,
    generation_config.json and tokenizer_config.json as the Qwen2.5 model cards show them."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = _chat_tokenizer(folder, ["<|im_start|>", "<|im_end|>"], "<|im_end|>", CHATML,
                                tokenizer_class="Qwen2Tokenizer", bos_token=None, unk_token=None)
    end_of_text = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
        tie_word_embeddings=True, bos_token_id=end_of_text, eos_token_id=end_of_turn, dtype="bfloat16",
        rope_theta=1000000.0, use_sliding_window=False,
    )
    _save(folder, config, Qwen2ForCausalLM, tokenizer, {
        "bos_token_id": end_of_text, "pad_token_id": end_of_text, "eos_token_id": [end_of_turn, end_of_text],
        "do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.1,
    })


def build_llama_chat(folder: Path) -> None:
    """TinyLlama/TinyLlama-1.1B-Chat-v1.0: LlamaForCausalLM, untied embeddings, bf16 in config.json,
    Zephyr turns ending in </s>; generation_config.json names </s> alone as the end and </s> as
    padding (the repo's config.json, generation_config.json and tokenizer_config.json)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _chat_tokenizer(folder, ["<|system|>", "<|user|>", "<|assistant|>", "</s>"], "</s>", ZEPHYR,
                                pad_token="</s>")
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
        tie_word_embeddings=False, bos_token_id=0, eos_token_id=tokenizer.convert_tokens_to_ids("</s>"),
        dtype="bfloat16",
    )
    end = tokenizer.convert_tokens_to_ids("</s>")
    _save(folder, config, LlamaForCausalLM, tokenizer, {"bos_token_id": 0, "eos_token_id": end, "pad_token_id": end})
