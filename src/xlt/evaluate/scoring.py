"""Log-likelihood scoring of answer labels, with lm-evaluation-harness's tokenisation rule.

Context and continuation are encoded jointly and split at the context's length, and trailing
whitespace of the context moves into the continuation, exactly as lm-eval's `_encode_pair`
does, so a leading space never silently changes what is scored.

The options of an item share their context, so its computation is shared too: one forward
pass over the context (keeping its KV cache) gives every option's first token, and, where a
label is several tokens (as Gemma's " 1" is a space and a digit), one short pass of all the
options' remaining tokens on top of that cache gives the rest. An item costs one prefill,
however its labels tokenise; lm-eval runs one sequence per option (reusing one only where two
options' sequences are identical but for their last token).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from xlt.errors import XltError

log = logging.getLogger(__name__)


class ContextTooLongError(XltError, ValueError):
    """A prompt does not fit the model's context window."""


@dataclass(frozen=True)
class ScoreRequest:
    """Score every option of one item: the shared `context`, then each option's `targets`.

    Option j's score is log P(targets[j] | context), summed over its tokens: the first is read
    after the context, each later one after the option's own earlier tokens.
    """

    item: int
    context: tuple[int, ...]
    targets: tuple[tuple[int, ...], ...]

    @property
    def longest(self) -> int:
        """Length of the longest sequence scored: the context and an option but its last token."""
        return len(self.context) + max(len(t) for t in self.targets) - 1


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
    """One request per prompt, scoring every continuation after it.

    Plain prompts get the tokenizer's default BOS; chat prompts carry their own special tokens.
    """
    prefix = [] if chat else bos_prefix(tokenizer)
    requests: list[ScoreRequest] = []
    warned = False
    encoded = encode_pairs(tokenizer, prompts, continuations, prefix, not chat)
    for index, pairs in enumerate(encoded):
        targets = tuple(tuple(cont) for _, cont in pairs)
        if any(not t for t in targets):
            raise ValueError(f"a continuation in {list(continuations)!r} encodes to no tokens.")
        lengths = sorted({len(t) for t in targets})
        if not warned and len(lengths) > 1:
            # Equal lengths (Gemma's " 1".." 4": a space and a digit each) compare fairly.
            log.warning(
                "option labels %r are %s tokens long for this tokenizer; scoring sums over "
                "each label's tokens, which favours the shorter ones.",
                list(continuations),
                " or ".join(map(str, lengths)),
            )
            warned = True
        request = ScoreRequest(index, tuple(pairs[0][0]), targets)
        if max_length is not None and request.longest > max_length:
            name = item_ids[index] if item_ids else f"#{index}"
            raise ContextTooLongError(
                f"item {name}: prompt is {request.longest} tokens, more than the model's "
                f"{max_length}; use a longer-context model or a shorter template."
            )
        requests.append(request)
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


def right_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and attention mask."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that ignore left padding, so a padded row scores as it would alone."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def model_device(model) -> torch.device:
    """The device of the model's (first) parameters."""
    return next(model.parameters()).device


def full_attention_only(model) -> bool:
    """Whether every layer attends to every earlier position and takes a 4-D mask (sdpa or eager
    attention, no sliding window, no recurrent layers). Then contexts are right-padded and run
    without a mask, a preallocated cache serves generation, and the options of an item share
    one row on top of its cache."""
    config = model.config
    if getattr(config, "_attn_implementation", None) not in ("sdpa", "eager"):
        return False
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None:
        return set(layer_types) == {"full_attention"}
    return getattr(config, "sliding_window", None) is None


@dataclass
class Prefill:
    """One forward pass over a batch of contexts, and what generation continues from.

    `logits` (rows × vocabulary, float32) predict the token after each context; `scores` (rows
    × options, float64) are the options' summed log-likelihoods where targets were given. For
    generation: `cache` (None when not kept), `mask` (rows × cached positions: what later tokens
    may attend to) and `positions` (rows × 1: the position of each row's next token).
    """

    logits: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor
    cache: Any = None
    scores: torch.Tensor | None = None


def prefill(
    model,
    contexts: Sequence[Sequence[int]],
    pad_id: int,
    targets: Sequence[Sequence[Sequence[int]]] | None = None,
    room: int | None = None,
) -> Prefill:
    """Run each context once; with `targets` (per context, each option's target ids) also score
    the options; with `room`, keep a KV cache with room for that many generated tokens.

    Every option's first token is read from the logits after the context. Where some option
    has more tokens, the options' tokens but their last run in a second, short pass on top of
    the context's cache: all options of an item in one row, each attending to the context and
    to itself only (a 4-D mask), or, for models that take no such mask, one row per option on
    copies of the cache. The context is computed once either way.
    """
    multi = targets is not None and any(len(t) > 1 for row in targets for t in row)
    shared_row = multi and full_attention_only(model)
    width = _option_width(targets) if shared_row else 0
    cache_room = None if room is None else room + width
    done = _plain_prefill(model, contexts, pad_id, cache_room, keep=room is not None or multi)
    if targets is not None:
        done.scores = _first_token_scores(done.logits, targets)
        if shared_row:
            done.scores += _later_tokens_in_one_row(model, done, targets, pad_id)
        elif multi:
            done.scores += _later_tokens_on_copies(model, done, targets, pad_id, room is not None)
    return done


def _option_width(targets: Sequence[Sequence[Sequence[int]]]) -> int:
    """Tokens that the options of an item add to its row (each option but its last token)."""
    return max(sum(len(t) - 1 for t in row) for row in targets)


def _new_cache(model, length: int | None) -> Any:
    """A KV cache; preallocated for `length` positions where attention allows it, so that a
    generation step writes one position instead of copying the whole cache."""
    from transformers import DynamicCache, StaticCache

    if length is not None and full_attention_only(model):
        return StaticCache(config=model.config, max_cache_len=length)
    return DynamicCache(config=model.config)


def _plain_prefill(
    model, contexts: Sequence[Sequence[int]], pad_id: int, room: int | None, keep: bool
) -> Prefill:
    """The contexts alone. With plain full attention they are right-padded and run without a
    mask (causal attention never looks ahead at the padding), the cheapest way to batch them;
    otherwise left-padded under a mask, which recurrent and windowed layers need."""
    device = model_device(model)
    if full_attention_only(model):
        ids, mask = right_pad(contexts, pad_id)
        mask = mask.to(device)
        positions = mask.sum(-1, keepdim=True)
        inputs = {"input_ids": ids.to(device), "logits_to_keep": positions - 1}
    else:
        ids, mask = left_pad(contexts, pad_id)
        mask = mask.to(device)
        positions = mask.sum(-1, keepdim=True)
        inputs = {
            "input_ids": ids.to(device),
            "attention_mask": mask,
            "position_ids": position_ids(mask),
            "logits_to_keep": 1,
        }
    length = None if room is None else ids.shape[1] + room
    cache = _new_cache(model, length) if keep else None
    out = model(**inputs, cache=cache, use_cache=keep)
    return Prefill(out.logits[:, -1].float(), mask, positions, cache)


def _first_token_scores(
    logits: torch.Tensor, targets: Sequence[Sequence[Sequence[int]]]
) -> torch.Tensor:
    """Log-probability of each option's first token after its context (rows × options)."""
    first = torch.log_softmax(logits, dim=-1).cpu()
    ids = torch.tensor([[t[0] for t in row] for row in targets], dtype=torch.long)
    return first.gather(1, ids).double()


def _later_tokens_in_one_row(
    model, done: Prefill, targets: Sequence[Sequence[Sequence[int]]], pad_id: int
) -> torch.Tensor:
    """Log-likelihood of the options' tokens after their first: each item's options, but their
    last tokens, in one row on top of the context's cache. The cache keeps those tokens; the
    prefill's mask leaves them out of what generation attends to."""
    device = done.mask.device
    width = _option_width(targets)
    ids = torch.full((len(targets), width), pad_id, dtype=torch.long)
    option = torch.full((len(targets), width), -1, dtype=torch.long)
    step = torch.zeros((len(targets), width), dtype=torch.long)
    for row, options in enumerate(targets):
        start = 0
        for number, tokens in enumerate(options):
            end = start + len(tokens) - 1
            ids[row, start:end] = torch.tensor(tokens[:-1], dtype=torch.long)
            option[row, start:end] = number
            step[row, start:end] = torch.arange(end - start)
            start = end
    kv_width, _ = done.cache.get_mask_sizes(width, 0)
    out = model(
        input_ids=ids.to(device),
        attention_mask=_option_mask(done.mask, option, kv_width, model).to(device),
        position_ids=(done.positions.cpu() + step).to(device),
        cache=done.cache,
        use_cache=True,
    )
    logprobs = torch.log_softmax(out.logits.float(), dim=-1).cpu()
    scores = torch.zeros((len(targets), len(targets[0])), dtype=torch.float64)
    for row, options in enumerate(targets):
        for number, tokens in enumerate(options):
            read = (option[row] == number).nonzero().flatten()
            later = torch.tensor(tokens[1:], dtype=torch.long)
            scores[row, number] = logprobs[row, read, later].double().sum()
    done.mask = torch.cat([done.mask, done.mask.new_zeros((len(targets), width))], dim=-1)
    return scores


def _option_mask(context: torch.Tensor, option: torch.Tensor, kv_width: int, model) -> torch.Tensor:
    """4-D mask (rows, 1, option tokens, cached positions) for the options' pass: a token sees
    its row's context (not its padding) and the earlier tokens of its own option. Padding sees
    itself (no empty rows: no NaN)."""
    width = option.shape[1]
    index = torch.arange(width)
    own = (option[:, :, None] == option[:, None, :]) & (index[:, None] >= index[None, :])
    own &= option[:, None, :] >= 0
    own |= (option[:, :, None] < 0) & (index[:, None] == index[None, :])
    sees_context = context.cpu().bool()[:, None, :].expand(-1, width, -1)
    allowed = torch.cat([sees_context, own], dim=-1)
    allowed = torch.nn.functional.pad(allowed, (0, kv_width - allowed.shape[-1]))[:, None]
    if model.config._attn_implementation == "sdpa":
        return allowed
    dtype = next(model.parameters()).dtype
    return torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)


def _later_tokens_on_copies(
    model,
    done: Prefill,
    targets: Sequence[Sequence[Sequence[int]]],
    pad_id: int,
    reuse_cache: bool,
) -> torch.Tensor:
    """Log-likelihood of the options' tokens after their first, one row per option on a copy
    of the context's KV cache (for models whose attention takes no 4-D mask); with
    `reuse_cache` the prefill's cache is left as it was, for generation."""
    n_options = len(targets[0])
    rest = max(len(t) for row in targets for t in row) - 1
    cache = copy.deepcopy(done.cache) if reuse_cache else done.cache
    cache.batch_repeat_interleave(n_options)
    rows = len(targets) * n_options
    # Each option's tokens but its last, after the context: padding at the end.
    ids = torch.full((rows, rest), pad_id, dtype=torch.long)
    own = torch.zeros((rows, rest), dtype=torch.long)
    for row, option in enumerate(t for item in targets for t in item):
        ids[row, : len(option) - 1] = torch.tensor(option[:-1], dtype=torch.long)
        own[row, : len(option) - 1] = 1
    device = done.mask.device
    context_mask = done.mask.repeat_interleave(n_options, dim=0)
    start = done.positions.repeat_interleave(n_options, dim=0)
    out = model(
        input_ids=ids.to(device),
        attention_mask=torch.cat([context_mask, own.to(device)], dim=-1),
        position_ids=start + torch.arange(rest, device=device),
        cache=cache,
        use_cache=True,
    )
    logprobs = torch.log_softmax(out.logits.float(), dim=-1).cpu()
    scores = torch.zeros(rows, dtype=torch.float64)
    for row, option in enumerate(t for item in targets for t in item):
        later = torch.tensor(option[1:], dtype=torch.long)
        scores[row] = logprobs[row, torch.arange(len(later)), later].double().sum()
    return scores.view(len(targets), n_options)


@torch.inference_mode()
def score_requests(
    model,
    requests: Sequence[ScoreRequest],
    n_items: int,
    n_options: int,
    pad_id: int,
    batch_size: int,
) -> torch.Tensor:
    """Summed log-likelihood of each option for each item, shape (n_items, n_options).

    Requests are sorted by length so batches carry little padding; each context runs once.
    """
    scores = torch.full((n_items, n_options), float("nan"), dtype=torch.float64)
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i].context))
    for start in range(0, len(order), batch_size):
        batch = [requests[i] for i in order[start : start + batch_size]]
        done = prefill(model, [r.context for r in batch], pad_id, [r.targets for r in batch])
        for row, request in enumerate(batch):
            scores[request.item] = done.scores[row]
    return scores


def score_options(
    model,
    tokenizer,
    prompts: Sequence[str],
    continuations: Sequence[str],
    batch_size: int,
    max_length: int | None = None,
    item_ids: Sequence[str] | None = None,
    chat: bool = False,
) -> torch.Tensor:
    """Log-likelihood of each continuation after each prompt, shape (len(prompts), len(conts))."""
    requests = build_requests(tokenizer, prompts, continuations, max_length, item_ids, chat)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return score_requests(model, requests, len(prompts), len(continuations), pad_id, batch_size)
