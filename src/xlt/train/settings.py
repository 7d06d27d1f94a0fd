"""The settings of a LoRA run (which weights, how optimised, how kept alive) and the errors
that refuse a run before it starts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from xlt.errors import XltError


class QuantizationUnavailableError(XltError, RuntimeError):
    """QLoRA was asked for where bitsandbytes or a CUDA GPU is missing."""


class AdapterExistsError(XltError, FileExistsError):
    """The output directory of a training run already holds files: a finished adapter is never
    overwritten by a run."""


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
    """Optimisation settings, uniform across models by default, plus how a run is kept alive.

    `checkpoint_every` (steps; None = only on SIGTERM) and `gradient_checkpointing` (activation
    recomputation, less memory for ~30% more compute) do not change the result;
    `accelerate_config` is the launcher config used when the model gets more than one GPU.
    """

    epochs: int = 1
    learning_rate: float = 2e-4
    batch_size: int = 8
    max_steps: int | None = None
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_length: int | None = None
    dtype: str = "auto"
    log_every: int = 10
    checkpoint_every: int | None = 50
    gradient_checkpointing: bool = True
    accelerate_config: str = "accelerate/fsdp.yaml"
    # Set by `xlt pilot` only: stop as if preempted after this step's checkpoint, so the retry
    # rehearses the resume. Absent from study configs, so their params stay as they were.
    preempt_at_step: int | None = None

    def as_record(self) -> dict[str, Any]:
        """The settings as the adapter records them (xlt_training.json); the pilot's rehearsal
        of a preemption only when it was set, since it changes nothing in the adapter."""
        record = asdict(self)
        if record["preempt_at_step"] is None:
            del record["preempt_at_step"]
        return record

    def __post_init__(self) -> None:
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1 or null, not {self.checkpoint_every}.")
        if self.preempt_at_step is not None and self.checkpoint_every is None:
            raise ValueError("preempt_at_step needs checkpoint_every (the resume reads one).")
