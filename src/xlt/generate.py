"""Batched greedy generation that also yields the label log-likelihoods of its own prefill.

Direct evaluation needs one prefill per item: the first generation step's logits are the
next-token distribution after the prompt, which is exactly what label scoring reads when every
label is one token. Prompts are sorted by length and left-padded; generation reuses the KV
cache (transformers' `generate`) and each row stops as soon as its answer is complete.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from xlt.scoring import left_pad


@dataclass(frozen=True)
class Generation:
    """What generation returns for one prompt."""

    text: str
    n_tokens: int
    label_logprobs: list[float] | None = None


class AnswerComplete(StoppingCriteria):
    """Stop a row once `is_complete(decoded new text)` holds (EOS is handled by generate)."""

    def __init__(self, tokenizer, prompt_width: int, is_complete: Callable[[str], bool]):
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        self.is_complete = is_complete

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_width :]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        done = [self.is_complete(text) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def first_line_complete(text: str) -> bool:
    """A direct answer is complete at the first line break after some content."""
    stripped = text.lstrip()
    return bool(stripped) and "\n" in stripped


def direct_answer_complete(labels: Sequence[str]) -> Callable[[str], bool]:
    """A direct answer is complete at its first line break, or once it opens with a label
    followed by a non-alphanumeric character (" 2:", "(B)", "3." — but not " 20" or " Bus")."""
    pattern = re.compile(
        r"\s*[(\[*]*(?:" + "|".join(re.escape(label) for label in labels) + r")[^\w]", re.UNICODE
    )

    def complete(text: str) -> bool:
        return first_line_complete(text) or bool(pattern.match(text))

    return complete


@torch.inference_mode()
def generate(
    model,
    tokenizer,
    contexts: Sequence[Sequence[int]],
    max_new_tokens: int,
    batch_size: int = 8,
    label_token_ids: Sequence[int] | None = None,
    is_complete: Callable[[str], bool] | None = None,
) -> list[Generation]:
    """Greedy continuations of already-tokenised contexts, in input order.

    With `label_token_ids`, each result also carries the log-probability of each label token
    at the first step — the same numbers a separate scoring pass would compute.
    """
    if getattr(model, "xlt_backend", None) == "vllm":
        if label_token_ids is not None:
            raise ValueError("the vLLM backend scores labels with score(), not during generation.")
        return model.generate(contexts, max_new_tokens, stop_at_newline=is_complete is not None)
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(contexts)), key=lambda i: -len(contexts[i]))
    results: list[Generation | None] = [None] * len(contexts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, mask = left_pad([contexts[i] for i in rows], pad_id)
        criteria = StoppingCriteriaList()
        if is_complete is not None:
            criteria.append(AnswerComplete(tokenizer, ids.shape[1], is_complete))
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad_id,
            eos_token_id=tokenizer.eos_token_id,
            stopping_criteria=criteria,
            output_logits=label_token_ids is not None,
            return_dict_in_generate=True,
        )
        new_tokens = out.sequences[:, ids.shape[1] :].cpu()
        first = None
        if label_token_ids is not None:
            first = torch.log_softmax(out.logits[0].float(), dim=-1)[:, list(label_token_ids)]
        for row, index in enumerate(rows):
            tokens = trim_after_eos(new_tokens[row].tolist(), tokenizer.eos_token_id, pad_id)
            results[index] = Generation(
                text=tokenizer.decode(tokens, skip_special_tokens=True),
                n_tokens=len(tokens),
                label_logprobs=first[row].double().tolist() if first is not None else None,
            )
    return [r for r in results if r is not None]


def trim_after_eos(tokens: list[int], eos_id: int | None, pad_id: int) -> list[int]:
    """Drop EOS and everything after it (rows that finished early are padded)."""
    for position, token in enumerate(tokens):
        if token == eos_id:
            return tokens[:position]
    while tokens and tokens[-1] == pad_id and pad_id != eos_id:
        tokens = tokens[:-1]
    return tokens
