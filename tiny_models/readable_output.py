"""Random-weight text generators that write words: a tiny decoder's first choice is never an
end, padding or blank token.

Random weights tend to pick a special token first (the end of text, or a byte that decodes to
nothing), so a miniature captioner answers "" and the controller's chains (caption ->
text-to-video) stop on the offline demo. Only the weights change, never the generation config:
the output rows of the tokens that decode to no readable text are zeroed (their logit is 0, or
a negative bias where the head has one), while the random rows of ordinary tokens almost surely
include one whose logit is positive for any hidden state.
"""

from __future__ import annotations

from typing import Any

SPECIAL_BIAS = -1.0


def unreadable_ids(tokenizer: Any, vocab_size: int) -> list[int]:
    """Ids that decode to nothing readable: special tokens, blanks, lone bytes, ids past the tokenizer."""
    special = set(tokenizer.all_special_ids)
    unreadable = []
    for token_id in range(vocab_size):
        if token_id in special or token_id >= len(tokenizer):
            unreadable.append(token_id)
            continue
        text = tokenizer.decode([token_id], skip_special_tokens=True)
        if not text.strip() or "\ufffd" in text or not text.isprintable():
            unreadable.append(token_id)
    return unreadable


def output_head(model: Any) -> Any:
    """The linear layer that scores the vocabulary (a composite model's text decoder's)."""
    for module in model.modules():
        getter = getattr(module, "get_output_embeddings", None)
        head = getter() if getter is not None else None
        if head is not None:
            return head
    raise ValueError(f"{type(model).__name__} has no output embeddings to shape")


def favour_readable_tokens(model: Any, tokenizer: Any) -> None:
    """Zero the output rows (and lower the bias) of every unreadable token of `model`'s vocabulary."""
    import torch

    head = output_head(model)
    ids = torch.tensor(unreadable_ids(tokenizer, head.weight.shape[0]))
    with torch.no_grad():
        head.weight[ids] = 0.0
        if head.bias is not None:
            head.bias[ids] = SPECIAL_BIAS
