"""LoRA fine-tuning on the source languages' train items, loss on the answer tokens only.

One code path for one CPU process, one GPU, or many GPUs under `accelerate launch` (FSDP or
DeepSpeed ZeRO-3): the loop runs through `accelerate.Accelerator`. A run survives a cluster:
every `checkpoint_every` steps, and when SIGTERM arrives (SLURM's warning before a time limit or
preemption), it writes a checkpoint (adapter weights, optimizer, scheduler, RNG states, step)
into a hidden directory beside the output; started again, it resumes there and ends with the
same adapter as an uninterrupted run (bitwise on CPU). The data order needs no saved state: the
order of epoch e is a pure function of (seed, e).
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from xlt.errors import ConfigError
from xlt.models.loading import ModelRef, load_tokenizer
from xlt.prompts import PromptTemplate
from xlt.provenance.jobs import CONSOLE
from xlt.train.adapter import save_adapter
from xlt.train.checkpoints import (
    Progress,
    checkpoint_root,
    latest_checkpoint,
    load_checkpoint,
    remove_checkpoints,
    run_fingerprint,
    save_checkpoint,
)
from xlt.train.data import Example, collate, rank_share, step_batch, training_examples
from xlt.train.model import adapted_weights, check_quantization, load_base_model, make_peft_model
from xlt.train.settings import AdapterExistsError, LoraSettings, TrainSettings
from xlt.train.stop import Preempted, StopRequest, any_process

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python and torch (CPU and every GPU) so a run is repeatable."""
    random.seed(seed)
    torch.manual_seed(seed)


def make_accelerator() -> Any:
    """The Accelerator of this process: plain single-process on CPU or one GPU; under
    `accelerate launch` it takes the launcher's settings (FSDP/DeepSpeed, bf16, process group)."""
    from accelerate import Accelerator

    return Accelerator()


def _configure_launcher(accelerator: Any, model: Any, per_process_batch: int) -> None:
    """What FSDP (v1) and DeepSpeed need to know about a PEFT model before `prepare`."""
    from accelerate.utils import DistributedType

    state = accelerator.state
    if accelerator.distributed_type == DistributedType.FSDP and state.fsdp_plugin.fsdp_version == 1:
        from peft.utils.other import fsdp_auto_wrap_policy

        # Wrap LoRA layers on their own: FSDP v1 cannot flatten fp32 LoRA with bf16 base weights.
        state.fsdp_plugin.auto_wrap_policy = fsdp_auto_wrap_policy(model)
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        config = state.deepspeed_plugin.deepspeed_config
        config["train_micro_batch_size_per_gpu"] = per_process_batch


def _duration(seconds: float) -> str:
    """`1h02m03s`-style duration for log lines."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@contextmanager
def _timer(progress: Progress) -> Iterator[None]:
    """Add the wall time of the block to `progress.seconds` (training time across resumes)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        progress.seconds += time.perf_counter() - started


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
    quantization: str = "none",
    on_step: Callable[[int], None] | None = None,
    keep_checkpoints: bool = False,
) -> dict[str, Any]:
    """Train a LoRA adapter and save it in PEFT's format to `out_dir` (atomically), resuming from
    the latest checkpoint of the same run if there is one.

    `keep_checkpoints`: leave the checkpoints for the caller to remove (`remove_checkpoints`)
    once the adapter is recorded: a job that fails after training (while recording it) loses
    its output, and a rerun then resumes from them instead of starting over.

    Raises Preempted (after a checkpoint) on SIGTERM/SIGUSR1. `on_step(step)` is called after
    every optimizer step, before that step's checkpoint (tests use it to kill a run mid-way).
    Returns a summary (steps, losses, tokens, time) that is also saved beside the adapter.
    """
    from transformers import get_linear_schedule_with_warmup

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise AdapterExistsError(
            f"{out_dir} exists and is not empty; move it away or delete it to retrain it."
        )
    ref = ModelRef.load(model)
    check_quantization(quantization, ref.name)
    tokenizer = load_tokenizer(ref)
    examples = training_examples(
        train_files, split, template, tokenizer, chat, train.max_length, model=ref.name
    )
    accelerator = make_accelerator()
    world = {"type": str(accelerator.distributed_type), "processes": accelerator.num_processes}
    if train.batch_size < accelerator.num_processes:
        raise ConfigError(
            f"batch_size {train.batch_size} is smaller than the {accelerator.num_processes} "
            "processes; every process needs at least one item a step: set "
            f"`finetune.train.batch_size` (or `models.{ref.name}.train.batch_size`) to at least "
            f"{accelerator.num_processes}, or give the model fewer GPUs."
        )
    seed_everything(seed)
    base = load_base_model(ref, train, quantization, accelerator)
    peft_model = make_peft_model(base, ref, lora, train, quantization, accelerator.num_processes)
    peft_model.train()
    adapted = adapted_weights(peft_model)
    log.info("LoRA adapts %s", ", ".join(adapted))

    steps_per_epoch = -(-len(examples) // train.batch_size)
    total = train.max_steps or steps_per_epoch * train.epochs
    params = [p for p in peft_model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in params)
    optimizer = torch.optim.AdamW(params, lr=train.learning_rate, weight_decay=train.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(train.warmup_ratio * total), total)
    _configure_launcher(accelerator, peft_model, -(-train.batch_size // accelerator.num_processes))
    peft_model, optimizer = accelerator.prepare(peft_model, optimizer)

    run = TrainingRun(
        accelerator=accelerator,
        model=peft_model,
        optimizer=optimizer,
        scheduler=scheduler,
        examples=examples,
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        train=train,
        seed=seed,
        total=total,
        root=checkpoint_root(out_dir),
        fingerprint=run_fingerprint(ref, examples, lora, train, seed, quantization, world),
    )
    run.resume()
    with StopRequest() as stop:
        run.loop(stop, on_step)

    progress = run.progress
    summary = {
        "model": ref.name,
        "seed": seed,
        "steps": progress.step,
        "examples": len(examples),
        "tokens": progress.tokens,
        "seconds": round(progress.seconds, 3),
        "first_loss": progress.losses[0] if progress.losses else None,
        "last_loss": progress.losses[-1] if progress.losses else None,
        "losses": progress.losses,
        "resumed_from": progress.resumed_from,
        "lora": asdict(lora),
        "train": train.as_record(),
        "quantization": quantization,
        "processes": accelerator.num_processes,
        "distributed": world["type"],
        "trainable_parameters": n_trainable,
        "adapted": adapted,
    }
    save_adapter(accelerator, peft_model, out_dir, summary)
    if accelerator.is_main_process and not keep_checkpoints:
        remove_checkpoints(out_dir)
    accelerator.wait_for_everyone()
    return summary


@dataclass
class TrainingRun:
    """A prepared model, optimizer and data, and where the run stands: steps and checkpoints."""

    accelerator: Any
    model: Any
    optimizer: Any
    scheduler: Any
    examples: Sequence[Example]
    pad_id: int
    train: TrainSettings
    seed: int
    total: int
    root: Path
    fingerprint: str
    progress: Progress = field(default_factory=Progress)

    def resume(self) -> None:
        """Continue from the latest checkpoint of this run, if there is one; checkpoints of
        another run (other data or settings) cannot be resumed and are removed."""
        path = latest_checkpoint(self.root, self.fingerprint)
        if path is None:
            if self.accelerator.is_main_process and self.root.exists():
                log.warning("removing checkpoints of another run: %s", self.root)
                shutil.rmtree(self.root)  # else pruning might keep them over this run's own
            self.accelerator.wait_for_everyone()
            return
        self.progress = load_checkpoint(
            path, self.accelerator, self.model, self.optimizer, self.scheduler
        )
        self.progress.resumed_from.append(self.progress.step)
        log.info("resuming from %s (step %d/%d)", path, self.progress.step, self.total)

    def checkpoint(self) -> Path:
        """Write a checkpoint of the current step."""
        return save_checkpoint(
            self.root,
            self.progress,
            self.fingerprint,
            self.accelerator,
            self.model,
            self.optimizer,
            self.scheduler,
        )

    def step(self) -> None:
        """One optimizer step on the next global batch (this process's share of it)."""
        rank, world = self.accelerator.process_index, self.accelerator.num_processes
        ids = step_batch(self.progress.step, len(self.examples), self.train.batch_size, self.seed)
        batch = collate([self.examples[i] for i in rank_share(ids, rank, world)], self.pad_id)
        batch = {k: v.to(self.accelerator.device) for k, v in batch.items()}
        loss = self.model(**batch).loss
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss = loss.detach()
        if world > 1:
            loss = self.accelerator.reduce(loss, "mean")
        self.progress.step += 1
        self.progress.tokens += sum(len(self.examples[i].input_ids) for i in ids)
        self.progress.losses.append(float(loss))

    def loop(self, stop: StopRequest, on_step: Callable[[int], None] | None = None) -> None:
        """Run the remaining steps, checkpointing every `checkpoint_every` steps and after the
        step during which a stop was requested, or at `preempt_at_step` (then raise Preempted)."""
        progress, every = self.progress, self.train.checkpoint_every
        window = (progress.tokens, progress.seconds)
        while progress.step < self.total:
            with _timer(progress):
                self.step()
            if progress.step % self.train.log_every == 0 or progress.step == self.total:
                window = _log_progress(progress, self.total, window)
            if on_step is not None:
                on_step(progress.step)
            if progress.step == self.total:
                break
            if any_process(stop.signal_name is not None, self.accelerator):
                reason = stop.signal_name or "a stop request on another process"
                raise Preempted(progress.step, self.total, self.checkpoint(), reason)
            if progress.step == self.train.preempt_at_step:  # a resumed run is past it
                reason = "train.preempt_at_step (the pilot's rehearsal of a preemption)"
                raise Preempted(progress.step, self.total, self.checkpoint(), reason)
            if every and progress.step % every == 0:
                log.info("checkpoint of step %d: %s", progress.step, self.checkpoint())


def _log_progress(progress: Progress, total: int, window: tuple[int, float]) -> tuple[int, float]:
    """One log line: step, loss, tokens/s since the last line, elapsed and remaining time."""
    rate = (progress.tokens - window[0]) / max(progress.seconds - window[1], 1e-9)
    eta = progress.seconds / max(progress.step, 1) * (total - progress.step)
    log.info(
        "step %d/%d loss %.4f tokens/s %.0f elapsed %s eta %s",
        progress.step,
        total,
        progress.losses[-1],
        rate,
        _duration(progress.seconds),
        _duration(eta),
        extra=CONSOLE,
    )
    return progress.tokens, progress.seconds
