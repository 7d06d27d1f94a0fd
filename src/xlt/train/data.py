"""Training data: tokenized examples with the loss on the answer only, and their order.

The order of epoch e is a pure function of (seed, e), so a resumed run needs no saved
data-loader state to see the same batches as an uninterrupted one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xlt.data.belebele import Split, assert_no_leak, read_items
from xlt.errors import ConfigError
from xlt.evaluate.scoring import bos_prefix, encode_pair
from xlt.prompts import PromptTemplate, answer_continuation, build_prompt

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Example:
    """One training sequence; `labels` is IGNORE_INDEX on every prompt token."""

    item: str
    input_ids: list[int]
    labels: list[int]


def training_example(
    row: dict[str, Any], template: PromptTemplate, tokenizer: Any, chat: bool
) -> Example:
    """Prompt + gold label + EOS, with the loss on the label and EOS only."""
    prompt = build_prompt(row, template, tokenizer, chat, thinking=False)
    label = template.labels[int(row["correct_answer_num"]) - 1]
    prefix = [] if chat else bos_prefix(tokenizer)
    continuation = answer_continuation(template, label, chat)
    context, answer = encode_pair(tokenizer, prompt, continuation, prefix, not chat)
    answer = [*answer, tokenizer.eos_token_id]
    return Example(row["id"], context + answer, [IGNORE_INDEX] * len(context) + answer)


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding carries no loss and no attention."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def training_examples(
    train_files: Sequence[str | Path],
    split: str | Path,
    template: PromptTemplate,
    tokenizer: Any,
    chat: bool,
    max_length: int | None = None,
    model: str = "<model>",
) -> list[Example]:
    """The tokenized training examples of the source languages' train files, after checking that
    no held-out item leaked in and that none is longer than `max_length` tokens (`model`, the
    config name, only names the key to change)."""
    rows = [row for path in train_files for row in read_items(path)]
    assert_no_leak(rows, Split.load(split))
    examples = [training_example(r, template, tokenizer, chat) for r in rows]
    too_long = [e for e in examples if max_length and len(e.input_ids) > max_length]
    if too_long:
        longest = max(len(e.input_ids) for e in too_long)
        raise ConfigError(
            f"{len(too_long)} training item(s) exceed max_length "
            f"{max_length} tokens, e.g. {[e.item for e in too_long[:3]]}; set "
            f"`finetune.train.max_length` (or `models.{model}.train.max_length`) to at least "
            f"{longest}, or to null for no limit."
        )
    return examples


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled item order of one epoch: a pure function of (seed, epoch), so a resumed run
    needs no saved data-loader state to see the same batches."""
    order = list(range(n))
    random.Random(f"xlt-order:{seed}:{epoch}").shuffle(order)
    return order


def step_batch(step: int, n: int, batch_size: int, seed: int) -> list[int]:
    """Indices of the global batch of 0-based `step`; the last batch of an epoch may be short."""
    steps_per_epoch = -(-n // batch_size)
    epoch, index = divmod(step, steps_per_epoch)
    return epoch_order(n, seed, epoch)[index * batch_size : (index + 1) * batch_size]


def rank_share(batch: Sequence[int], rank: int, world: int) -> list[int]:
    """This process's part of a global batch. A batch smaller than the world is topped up by
    repeating its items, so that no process runs a step without data (a collective would hang)."""
    if len(batch) < world:
        batch = [batch[i % len(batch)] for i in range(world)]
    return list(batch[rank::world])
