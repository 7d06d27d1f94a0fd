"""Batched greedy generation that also yields the label log-likelihoods of its own prefill.

Direct evaluation needs one prefill per item: the first generation step's logits are the
next-token distribution after the prompt, which is exactly what label scoring reads when every
label is one token. Prompts are sorted by length and left-padded; generation reuses the KV
cache (transformers' `generate`) and each row stops as soon as its answer is complete.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from xlt.evaluate.scoring import left_pad


@dataclass(frozen=True)
class Generation:
    """What generation returns for one prompt."""

    text: str
    n_tokens: int
    label_logprobs: list[float] | None = None


class AnswerStop:
    """The one rule that ends a direct answer, the same for every backend.

    A direct answer is complete at its first line break after some content, or as soon as it
    opens with a label followed by a non-word character (" 2:", "(B)", "3." — but not " 20" or
    " Bus"). `end` finds where; `cut` keeps the answer up to there. The transformers backend
    also stops generating there (a saving, not a different result); every backend's text is
    then cut by the same `cut`, so two backends that generate the same tokens extract the same
    answer.
    """

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        alternatives = "|".join(re.escape(label) for label in self.labels)
        self._opening = re.compile(r"\s*[(\[*]*(?:" + alternatives + r")[^\w]", re.UNICODE)

    def end(self, text: str) -> int | None:
        """Where the answer in `text` is complete (an exclusive end), or None if it is not."""
        ends = []
        content = len(text) - len(text.lstrip())
        newline = text.find("\n", content) if content < len(text) else -1
        if newline >= 0:
            ends.append(newline + 1)
        opening = self._opening.match(text)
        if opening:
            ends.append(opening.end())
        return min(ends) if ends else None

    def complete(self, text: str) -> bool:
        """Whether the answer is complete."""
        return self.end(text) is not None

    def cut(self, text: str) -> str:
        """The answer up to where it is complete (all of `text` if it never is)."""
        end = self.end(text)
        return text if end is None else text[:end]


class AnswerComplete(StoppingCriteria):
    """Stop a row once its decoded new text is complete (EOS is handled by generate)."""

    def __init__(self, tokenizer, prompt_width: int, stop: AnswerStop):
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        self.stop = stop

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_width :]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        done = [self.stop.complete(text) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def first_line_complete(text: str) -> bool:
    """Whether a first line with some content has ended (the first half of `AnswerStop`)."""
    stripped = text.lstrip()
    return bool(stripped) and "\n" in stripped


@torch.inference_mode()
def generate(
    model,
    tokenizer,
    contexts: Sequence[Sequence[int]],
    max_new_tokens: int,
    batch_size: int = 8,
    label_token_ids: Sequence[int] | None = None,
    stop: AnswerStop | None = None,
) -> list[Generation]:
    """Greedy continuations of already-tokenised contexts, in input order.

    With `label_token_ids`, each result also carries the log-probability of each label token
    at the first step — the same numbers a separate scoring pass would compute.
    """
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(contexts)), key=lambda i: -len(contexts[i]))
    results: list[Generation | None] = [None] * len(contexts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, mask = left_pad([contexts[i] for i in rows], pad_id)
        criteria = StoppingCriteriaList()
        if stop is not None:
            criteria.append(AnswerComplete(tokenizer, ids.shape[1], stop))
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
