"""Log-likelihood scoring of answer labels, with lm-evaluation-harness's tokenisation rule.

Context and continuation are encoded jointly and split at the context's length, and trailing
whitespace of the context moves into the continuation, exactly as lm-eval's `_encode_pair`
does, so a leading space never silently changes what is scored. When every label is one token
(the usual case) one forward pass over the prompt scores all four options at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from xlt.errors import XltError

log = logging.getLogger(__name__)


class ContextTooLongError(XltError, ValueError):
    """A prompt does not fit the model's context window."""


@dataclass(frozen=True)
class ScoreRequest:
    """One forward pass: `input_ids`, and which option's target tokens to read where.

    `reads` holds (option index, target token ids); targets are read at the last
    len(targets) positions of the sequence, which makes left padding safe.
    """

    item: int
    input_ids: tuple[int, ...]
    reads: tuple[tuple[int, tuple[int, ...]], ...]


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of `text` without special tokens."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def bos_prefix(tokenizer) -> list[int]:
    """The BOS id if the tokenizer adds one by default to plain text (as Llama's does)."""
    with_special = tokenizer("a")["input_ids"]
    without = tokenizer("a", add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None and len(with_special) > len(without) and with_special[0] == bos:
        return [bos]
    return []


def encode_pair(
    tokenizer,
    context: str,
    continuation: str,
    prefix: Sequence[int] = (),
    move_whitespace: bool = True,
) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) by lm-eval's rule: encode jointly, split at context.

    A chat prompt ends with the assistant header, whose newline belongs to the template, so
    chat callers pass `move_whitespace=False`.
    """
    return encode_pairs(tokenizer, [context], [continuation], prefix, move_whitespace)[0][0]


def split_whitespace(context: str, continuation: str, move: bool = True) -> tuple[str, str]:
    """Move the context's trailing whitespace to the continuation (lm-eval's rule)."""
    n_spaces = len(context) - len(context.rstrip()) if move else 0
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def encode_pairs(
    tokenizer,
    contexts: Sequence[str],
    continuations: Sequence[str],
    prefix: Sequence[int] = (),
    move_whitespace: bool = True,
) -> list[list[tuple[list[int], list[int]]]]:
    """`encode_pair` for every context × continuation, with two batched tokenizer calls."""
    split = [[split_whitespace(c, k, move_whitespace) for k in continuations] for c in contexts]
    context_ids = _encode_batch(tokenizer, [pairs[0][0] for pairs in split])
    wholes = _encode_batch(tokenizer, [c + k for pairs in split for c, k in pairs])
    width = len(continuations)
    return [
        [
            ([*prefix, *context_ids[i]], wholes[i * width + j][len(context_ids[i]) :])
            for j in range(width)
        ]
        for i in range(len(contexts))
    ]


def _encode_batch(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def build_requests(
    tokenizer,
    prompts: Sequence[str],
    continuations: Sequence[str],
    max_length: int | None = None,
    item_ids: Sequence[str] | None = None,
    chat: bool = False,
) -> list[ScoreRequest]:
    """Requests that score every continuation after every prompt.

    Plain prompts get the tokenizer's default BOS; chat prompts carry their own special tokens.
    """
    prefix = [] if chat else bos_prefix(tokenizer)
    requests: list[ScoreRequest] = []
    warned = False
    encoded = encode_pairs(tokenizer, prompts, continuations, prefix, not chat)
    for index, pairs in enumerate(encoded):
        context = pairs[0][0]
        targets = [tuple(cont) for _, cont in pairs]
        if any(not t for t in targets):
            raise ValueError(f"a continuation in {list(continuations)!r} encodes to no tokens.")
        if all(len(t) == 1 for t in targets):
            batch = [ScoreRequest(index, tuple(context), tuple(enumerate(targets)))]
        else:
            if not warned:
                log.warning(
                    "option labels %r are not all single tokens for this tokenizer; scoring "
                    "sums over each label's tokens, which favours shorter labels.",
                    list(continuations),
                )
                warned = True
            batch = [
                ScoreRequest(index, tuple(context) + t[:-1], ((option, t),))
                for option, t in enumerate(targets)
            ]
        for request in batch:
            if max_length is not None and len(request.input_ids) > max_length:
                name = item_ids[index] if item_ids else f"#{index}"
                raise ContextTooLongError(
                    f"item {name}: prompt is {len(request.input_ids)} tokens, more than the "
                    f"model's {max_length}; use a longer-context model or a shorter template."
                )
        requests.extend(batch)
    return requests


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded input ids and attention mask."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
    return ids, mask


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that ignore left padding, so a padded row scores as it would alone."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


@torch.inference_mode()
def score_requests(
    model,
    requests: Sequence[ScoreRequest],
    n_items: int,
    n_options: int,
    pad_id: int,
    batch_size: int = 8,
) -> torch.Tensor:
    """Summed log-likelihood of each option for each item, shape (n_items, n_options).

    Requests are sorted by length so batches carry little padding; only the logits of the
    positions that are read are computed (`logits_to_keep`).
    """
    if getattr(model, "xlt_backend", None) == "vllm":
        return model.score(requests, n_items, n_options)
    device = next(model.parameters()).device
    scores = torch.full((n_items, n_options), float("nan"), dtype=torch.float64)
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i].input_ids))
    for start in range(0, len(order), batch_size):
        batch = [requests[i] for i in order[start : start + batch_size]]
        ids, mask = left_pad([r.input_ids for r in batch], pad_id)
        keep = max(len(t) for r in batch for _, t in r.reads)
        out = model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=position_ids(mask).to(device),
            logits_to_keep=keep,
        )
        logprobs = torch.log_softmax(out.logits.float(), dim=-1).cpu()
        for row, request in enumerate(batch):
            for option, targets in request.reads:
                positions = torch.arange(keep - len(targets), keep)
                picked = logprobs[row, positions, torch.tensor(targets)]
                scores[request.item, option] = float(picked.double().sum())
    return scores


def score_options(
    model,
    tokenizer,
    prompts: Sequence[str],
    continuations: Sequence[str],
    batch_size: int = 8,
    max_length: int | None = None,
    item_ids: Sequence[str] | None = None,
    chat: bool = False,
) -> torch.Tensor:
    """Log-likelihood of each continuation after each prompt, shape (len(prompts), len(conts))."""
    requests = build_requests(tokenizer, prompts, continuations, max_length, item_ids, chat)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return score_requests(model, requests, len(prompts), len(continuations), pad_id, batch_size)
