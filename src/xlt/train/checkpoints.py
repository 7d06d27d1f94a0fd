"""Checkpoints of a training run: written atomically beside the output, resumed only by the
same run (its fingerprint), and gathered whole under FSDP and DeepSpeed ZeRO-3.

A checkpoint holds the adapter weights, optimizer, scheduler, every process's RNG states and the
progress, so that a resumed run ends with the same adapter as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from xlt.io import write_json
from xlt.models.loading import ModelRef
from xlt.train.data import Example
from xlt.train.settings import LoraSettings, TrainSettings

log = logging.getLogger(__name__)
KEEP_CHECKPOINTS = 2
STATE_FILE = "state.json"
# Train settings that change how a run is logged, checkpointed or launched, not what it computes:
# changing them does not invalidate a checkpoint.
NOT_IN_FINGERPRINT = frozenset(
    {
        "log_every",
        "checkpoint_every",
        "gradient_checkpointing",
        "accelerate_config",
        "preempt_at_step",
    }
)


@dataclass
class Progress:
    """Where a run stands; saved in every checkpoint so a resumed run reports the whole run."""

    step: int = 0
    tokens: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    resumed_from: list[int] = field(default_factory=list)


def checkpoint_root(out_dir: str | Path) -> Path:
    """Where the checkpoints of `out_dir` live: hidden beside it, never inside it.

    The adapter directory is created atomically at the end, and Snakemake deletes the outputs of
    a failed job, so checkpoints inside it would not survive a preempted job.
    """
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.checkpoints"


def run_fingerprint(
    ref: ModelRef,
    examples: Sequence[Example],
    lora: LoraSettings,
    train: TrainSettings,
    seed: int,
    quantization: str,
    world: dict[str, Any],
) -> str:
    """A hash of everything that decides the trained weights; a checkpoint resumes only a run
    with the same fingerprint. The examples stand for data, template, chat template and tokenizer.
    """
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.input_ids, e.labels]).encode())
    record = {
        "model": [ref.load_from, ref.revision, ref.weights_sha256],
        "examples": digest.hexdigest(),
        "lora": asdict(lora),
        "train": {k: v for k, v in asdict(train).items() if k not in NOT_IN_FINGERPRINT},
        "seed": seed,
        "quantization": quantization,
        "world": world,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _is_deepspeed(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def adapter_state(accelerator: Any, model: Any) -> dict[str, torch.Tensor]:
    """The trainable (LoRA) weights gathered whole onto the CPU, named as in the PEFT model.

    A collective under FSDP and ZeRO-3: every process must call it. Only the adapter is gathered,
    never the frozen base model (140 GB at 70B).
    """
    if _is_deepspeed(accelerator):
        import deepspeed

        named = [(n, p) for n, p in accelerator.unwrap_model(model).named_parameters()]
        trainable = [(n, p) for n, p in named if p.requires_grad]
        with deepspeed.zero.GatheredParameters([p for _, p in trainable]):
            return {n: p.detach().to("cpu", copy=True) for n, p in trainable}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)
    return {k: v.contiguous() for k, v in get_model_state_dict(model, options=options).items()}


def save_checkpoint(
    root: Path,
    progress: Progress,
    fingerprint: str,
    accelerator: Any,
    model: Any,
    optimizer: Any,
    scheduler: Any,
) -> Path:
    """Write `root/step-N/` atomically: built in `.step-N.tmp`, renamed when complete.

    Holds the adapter weights, optimizer and scheduler states, every process's RNG states and
    `state.json` (progress and fingerprint). Older checkpoints beyond the last two are removed.
    """
    from safetensors.torch import save_file

    name = f"step-{progress.step:08d}"
    final, tmp = root / name, root / f".{name}.tmp"
    main = accelerator.is_main_process
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    torch.save(_rng_state(), tmp / f"rng-{accelerator.process_index}.pt")
    if _is_deepspeed(accelerator):
        model.save_checkpoint(str(tmp), tag="deepspeed", exclude_frozen_parameters=True)
    else:
        weights = adapter_state(accelerator, model)
        optim = _optimizer_state(model, optimizer)
        if main:
            save_file(weights, tmp / "adapter.safetensors")
            torch.save(optim, tmp / "optimizer.pt")
    if main:
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        write_json(tmp / STATE_FILE, {"fingerprint": fingerprint, **asdict(progress)})
    accelerator.wait_for_everyone()
    if main:
        sync_files(tmp)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        sync_files(root)
        for old in _checkpoints(root)[KEEP_CHECKPOINTS:]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def sync_files(directory: Path) -> None:
    """fsync the files of `directory` and the directory itself, so that a checkpoint that has
    been renamed into place is on disk even if the node crashes right after."""
    for path in [*(p for p in directory.iterdir() if p.is_file()), directory]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under `root`, newest first."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.glob("step-*") if (p / STATE_FILE).exists()), reverse=True)


def latest_checkpoint(root: Path, fingerprint: str) -> Path | None:
    """The newest checkpoint of this very run, if any. Checkpoints of another run (other data,
    settings or code) cannot be resumed: they are named in the log and passed over."""
    for path in _checkpoints(root):
        try:
            state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable checkpoint %s (%s)", path, exc)
            continue
        if state.get("fingerprint") == fingerprint:
            return path
        log.warning("ignoring checkpoint %s: it belongs to a run with other data or settings", path)
    return None


def load_checkpoint(
    path: Path, accelerator: Any, model: Any, optimizer: Any, scheduler: Any
) -> Progress:
    """Restore everything `save_checkpoint` wrote; the run continues at the next step."""
    from safetensors.torch import load_file

    if _is_deepspeed(accelerator):
        model.load_checkpoint(str(path), tag="deepspeed", load_module_strict=False)
    else:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, strict=False)
        weights = load_file(path / "adapter.safetensors")
        missing = set(_adapter_names(model)) - set(weights)
        if missing:
            raise ValueError(f"{path}: checkpoint lacks {len(missing)} adapter weights.")
        set_model_state_dict(model, weights, options=options)
        optim = torch.load(path / "optimizer.pt", weights_only=True)
        set_optimizer_state_dict(model, _inner(optimizer), optim, options=options)
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    _set_rng_state(torch.load(path / f"rng-{accelerator.process_index}.pt", weights_only=True))
    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    state.pop("fingerprint")
    return Progress(**state)


def _adapter_names(model: Any) -> list[str]:
    """Names of the trainable parameters as the state-dict API names them (no wrapper prefix)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(ignore_frozen_params=True)
    return list(get_model_state_dict(model, options=options))


def _inner(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside accelerate's wrapper."""
    return getattr(optimizer, "optimizer", optimizer)


def _optimizer_state(model: Any, optimizer: Any) -> dict[str, Any]:
    """The optimizer state keyed by parameter name, gathered whole (a collective under FSDP)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_optimizer_state_dict(model, _inner(optimizer), options=options)


def _rng_state() -> dict[str, Any]:
    """Python's and torch's (CPU and every GPU) random states of this process."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def remove_checkpoints(out_dir: str | Path) -> None:
    """Remove the checkpoints of a finished adapter (call once it is saved and recorded)."""
    shutil.rmtree(checkpoint_root(out_dir), ignore_errors=True)
