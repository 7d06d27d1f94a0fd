"""LoRA fine-tuning on the source languages' train items, loss on the answer tokens only."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from xlt.data import Split, assert_no_leak, read_items
from xlt.io import atomic_dir, write_json
from xlt.modeling import ModelRef, load_tokenizer, torch_dtype
from xlt.prompts import PromptTemplate, answer_continuation, build_prompt
from xlt.scoring import bos_prefix, encode_pair

log = logging.getLogger(__name__)
IGNORE_INDEX = -100


@dataclass(frozen=True)
class LoraSettings:
    """Which weights LoRA adapts and how. `target_parameters` reaches fused MoE experts."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    target_parameters: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings, uniform across models by default."""

    epochs: int = 1
    learning_rate: float = 2e-4
    batch_size: int = 8
    max_steps: int | None = None
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_length: int | None = None
    dtype: str = "auto"
    log_every: int = 10


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
    prompt = build_prompt(row, template, tokenizer, chat)
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


def seed_everything(seed: int) -> None:
    """Seed Python and torch (CPU and GPU) so a run is repeatable."""
    random.seed(seed)
    torch.manual_seed(seed)


def finetune(
    model: str | Path,
    train_files: Sequence[str | Path],
    split: str | Path,
    out_dir: str | Path,
    template: PromptTemplate,
    chat: bool,
    lora: LoraSettings,
    train: TrainSettings,
    seed: int,
) -> dict[str, Any]:
    """Train a LoRA adapter and save it in PEFT's format to `out_dir` (atomically).

    Returns a summary (steps, losses, tokens, time) that is also saved beside the adapter.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, get_linear_schedule_with_warmup

    rows = [row for path in train_files for row in read_items(path)]
    assert_no_leak(rows, Split.load(split))
    ref = ModelRef.load(model)
    tokenizer = load_tokenizer(ref)
    examples = [training_example(r, template, tokenizer, chat) for r in rows]
    if train.max_length:
        too_long = [e.item for e in examples if len(e.input_ids) > train.max_length]
        if too_long:
            raise ValueError(
                f"{len(too_long)} training item(s) exceed max_length "
                f"{train.max_length} tokens, e.g. {too_long[:3]}."
            )

    seed_everything(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base = AutoModelForCausalLM.from_pretrained(
        ref.load_from, revision=ref.revision, dtype=torch_dtype(train.dtype)
    ).to(device)
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        target_parameters=lora.target_parameters or None,
        task_type="CAUSAL_LM",
        revision=ref.revision,
    )
    peft_model = get_peft_model(base, config)
    peft_model.train()

    steps_per_epoch = -(-len(examples) // train.batch_size)
    total = train.max_steps or steps_per_epoch * train.epochs
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=train.learning_rate, weight_decay=train.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(train.warmup_ratio * total), total)
    order_rng = random.Random(seed)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    losses: list[float] = []
    tokens = 0
    started = time.perf_counter()
    step = 0
    while step < total:
        order = list(range(len(examples)))
        order_rng.shuffle(order)
        for start in range(0, len(order), train.batch_size):
            if step >= total:
                break
            batch = collate([examples[i] for i in order[start : start + train.batch_size]], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = peft_model(**batch).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens += int(batch["attention_mask"].sum())
            losses.append(float(loss.detach()))
            if step % train.log_every == 0 or step == total:
                elapsed = time.perf_counter() - started
                log.info(
                    "step %d/%d loss %.4f tokens/s %.0f eta %.0fs",
                    step,
                    total,
                    losses[-1],
                    tokens / elapsed,
                    elapsed / step * (total - step),
                )

    summary = {
        "model": ref.name,
        "seed": seed,
        "steps": step,
        "examples": len(examples),
        "tokens": tokens,
        "seconds": round(time.perf_counter() - started, 3),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "losses": losses,
        "lora": asdict(lora),
        "train": asdict(train),
        "trainable_parameters": sum(p.numel() for p in params),
    }
    with atomic_dir(out_dir) as tmp:
        peft_model.save_pretrained(tmp)
        write_json(Path(tmp) / "xlt_training.json", summary)
    return summary
