"""Tiny chat models: decoder-only LMs of the real classes, with a byte-level BPE tokenizer that
knows each family's turn markers and carries the family's chat template.

As the Hub repos have them (their tokenizer_config.json and generation_config.json, written by
transformers 4): the chat template is a key of tokenizer_config.json (no chat_template.jinja), the
turn markers are `additional_special_tokens`, and the generation config samples by default
(Qwen2.5-Instruct) or names one end token (TinyLlama). The context is short (256 positions) so a
test can ask for more tokens than fit. TinyLlama's tokenizer is Llama's (▁ for spaces, byte
fallback, <unk> <s> </s> at 0-2, a BOS it adds itself; its Zephyr markers are plain text), shipped
as the repo ships it: tokenizer.model and the tokenizer.json converted from it.
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
    """Byte-level BPE with the turn markers as special tokens, saved as transformers 4 wrote it,
    with the vocab.json and merges.txt the Qwen2.5 repos ship beside tokenizer.json (written by
    the tokenizers library from the same model: the special tokens are in tokenizer.json only)."""
    tokenizer = tok.gpt2_tokenizer(vocab_size=320)
    tokenizer.add_special_tokens({"additional_special_tokens": markers})
    tokenizer.eos_token = end_of_turn
    _save_tokenizer(folder, tokenizer, template, additional_special_tokens=markers, **hub_keys)
    tokenizer.backend_tokenizer.model.save(str(folder))
    return tokenizer


def _save_tokenizer(folder: Path, tokenizer, template: str, **hub_keys: Any) -> None:
    """Save with tokenizer_config.json rewritten the way transformers 4 wrote it: the chat template
    as its `chat_template` key (no chat_template.jinja); `hub_keys` are the repo's other keys."""
    tokenizer.chat_template = template
    tokenizer.model_max_length = CONTEXT
    tokenizer.save_pretrained(folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    for key in ("extra_special_tokens", "backend", "is_local", "local_files_only"):  # transformers 5's own
        config.pop(key, None)
    config |= {"chat_template": template, **hub_keys}
    path.write_text(json.dumps(config, indent=2) + "\n")


# Llama-2's tokenizer.model, which TinyLlama reuses: byte-level BPE with byte fallback, <unk> 0,
# <s> 1, </s> 2, no padding piece, digits split, no normalisation (its trainer settings).
LLAMA_SENTENCEPIECE: dict[str, Any] = {
    "byte_fallback": True, "unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1, "split_digits": True,
    "normalization_rule_name": "identity", "add_dummy_prefix": True, "remove_extra_whitespaces": False,
    "allow_whitespace_only_pieces": True,
}


def _llama_tokenizer(folder: Path, template: str):
    """Llama's tokenizer as TinyLlama's repo ships it: tokenizer.model (a SentencePiece BPE with byte
    fallback, <0x00>..<0xFF> after the three specials) and the tokenizer.json transformers converts
    from it; tokenizer_config.json adds BOS itself, not EOS, `legacy` false, </s> as padding and
    carries the Zephyr template; special_tokens_map.json names <s>, </s>, <unk> and the padding."""
    from transformers import LlamaTokenizer

    tok.train_sentencepiece(folder / "tokenizer.model", "bpe", vocab_size=600, **LLAMA_SENTENCEPIECE)
    tokenizer = LlamaTokenizer.from_pretrained(folder, legacy=False, add_bos_token=True, add_eos_token=False)
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "</s>"}
    _save_tokenizer(folder, tokenizer, template, add_bos_token=True, add_eos_token=False, legacy=False,
                    tokenizer_class="LlamaTokenizer", sp_model_kwargs={}, **specials)
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
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
    Zephyr turns ending in </s>; generation_config.json names </s> (2) alone as the end, <unk> (0)
    as padding, max_length 2048 (the repo's config.json, generation_config.json and
    tokenizer_config.json)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _llama_tokenizer(folder, ZEPHYR)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, dtype="bfloat16",
    )
    _save(folder, config, LlamaForCausalLM, tokenizer,
          {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "max_length": 2048})
