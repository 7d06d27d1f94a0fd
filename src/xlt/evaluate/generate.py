"""Batched greedy generation that also yields the label log-likelihoods of its own prefill.

Direct evaluation needs one prefill per item: the prefill's last logits are the next-token
distribution after the prompt, which gives the first generated token and every label's first
token; labels of several tokens are finished by one short pass on top of the prefill's KV
cache (`scoring.prefill`). Direct answers are a few tokens long, so generation is a plain greedy
loop over that cache (no `transformers.generate` machinery per step; a preallocated cache, so a
step writes one position instead of copying the cache); a row is done as soon as its answer is
complete (`AnswerStop`, judged on the decoded new tokens of that row alone) or it emits EOS, and
the batch shrinks once half its rows are done. Prompts are sorted by length, so that batches
carry little padding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from xlt.evaluate.scoring import Prefill, prefill

# What a byte-level tokenizer decodes a token sequence that ends inside a character to.
INCOMPLETE_CHARACTER = "\ufffd"


@dataclass(frozen=True)
class Generation:
    """What generation returns for one prompt.

    `label_logprobs` holds the summed log-likelihood of each label's tokens after the prompt,
    when they were asked for.
    """

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


def first_line_complete(text: str) -> bool:
    """Whether a first line with some content has ended (the first half of `AnswerStop`)."""
    stripped = text.lstrip()
    return bool(stripped) and "\n" in stripped


# Special tokens that carry a reasoning model's structure (gpt-oss channels, thinking blocks):
# kept in the decoded text so that extraction reads only the final answer.
STRUCTURAL_TOKENS = frozenset(
    {"<|channel|>", "<|message|>", "<|start|>", "<|end|>", "<think>", "</think>"}
)


def end_token_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Every token that ends a turn: the tokenizer's EOS and the model's generation-config EOS
    ids (chat models end a turn with a token other than EOS; vLLM stops at both too)."""
    ids = {tokenizer.eos_token_id}
    config = getattr(model, "generation_config", None)
    extra = getattr(config, "eos_token_id", None)
    ids.update(extra if isinstance(extra, list | tuple | set) else [extra])
    return frozenset(i for i in ids if i is not None)


def keeps_structure(tokenizer: Any) -> bool:
    """Whether this tokenizer's special tokens include reasoning structure to keep."""
    return bool(STRUCTURAL_TOKENS & set(getattr(tokenizer, "all_special_tokens", ())))


def decode_generation(tokenizer: Any, ids: Sequence[int]) -> str:
    """The text of a generation: special tokens dropped, except a reasoning model's structural
    ones (extraction drops everything outside the final channel, and then the markers)."""
    return tokenizer.decode(ids, skip_special_tokens=not keeps_structure(tokenizer))


def answer_done(stop: AnswerStop, text: str) -> bool:
    """Whether generation may stop: the answer is complete and does not end inside a character
    (a half-decoded character reads as a non-word character, which would end " 2" too soon)."""
    return not text.endswith(INCOMPLETE_CHARACTER) and stop.complete(text)


@torch.inference_mode()
def generate(
    model,
    tokenizer,
    contexts: Sequence[Sequence[int]],
    max_new_tokens: int,
    batch_size: int,
    label_targets: Sequence[Sequence[Sequence[int]]] | None = None,
    stop: AnswerStop | None = None,
) -> list[Generation]:
    """Greedy continuations of already-tokenised contexts, in input order.

    With `label_targets` (per context, each option's target token ids), each result also
    carries the summed log-likelihood of each option after its context, computed from the
    generation's own prefill — the numbers a separate scoring pass would compute.
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(contexts)), key=lambda i: -len(contexts[i]))
    results: list[Generation | None] = [None] * len(contexts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        targets = None if label_targets is None else [label_targets[i] for i in rows]
        done = prefill(model, [contexts[i] for i in rows], pad_id, targets, room=max_new_tokens)
        scores = None if done.scores is None else done.scores.tolist()
        new_tokens = greedy(model, tokenizer, done, max_new_tokens, stop)
        for row, index in enumerate(rows):
            results[index] = Generation(
                text=decode_generation(tokenizer, new_tokens[row]),
                n_tokens=len(new_tokens[row]),
                label_logprobs=scores[row] if scores is not None else None,
            )
    return [r for r in results if r is not None]


def greedy(
    model, tokenizer, done: Prefill, max_new_tokens: int, stop: AnswerStop | None
) -> list[list[int]]:
    """New tokens of each row after a prefill: greedy, until an end-of-turn token (not kept; see
    `end_token_ids`), a complete answer
    (with `stop`) or `max_new_tokens`. Once half the rows in the batch are done, the batch and
    its cache shrink to the rows still going (not at every finished row: each shrink copies the
    cache)."""
    end_ids = end_token_ids(model, tokenizer)
    tokens: list[list[int]] = [[] for _ in range(len(done.logits))]
    batch = list(range(len(tokens)))  # the rows in the batch; some may be done
    going = set(batch)
    mask, positions, cache = done.mask, done.positions, done.cache
    next_ids = done.logits.argmax(-1).tolist()
    for step in range(max_new_tokens):
        for row, token in zip(batch, next_ids, strict=True):
            if row not in going:
                continue
            if token in end_ids:
                going.discard(row)
                continue
            tokens[row].append(token)
            if stop is not None:
                text = tokenizer.decode(tokens[row], skip_special_tokens=True)
                if answer_done(stop, text):
                    going.discard(row)
        if not going or step == max_new_tokens - 1:
            break
        inputs = torch.tensor([[token] for token in next_ids], device=mask.device)
        if len(going) <= len(batch) // 2:
            keep = [slot for slot, row in enumerate(batch) if row in going]
            index = torch.tensor(keep, device=mask.device)
            cache.reorder_cache(index)
            mask, positions, inputs = mask[index], positions[index], inputs[index]
            batch = [batch[slot] for slot in keep]
        mask = torch.cat([mask, mask.new_ones((len(batch), 1))], dim=-1)
        out = model(
            input_ids=inputs,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
        )
        positions = positions + 1
        next_ids = out.logits[:, -1].argmax(-1).tolist()
    return tokens
