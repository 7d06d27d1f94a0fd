"""How a run stops early and resumes later: SIGTERM/SIGUSR1 become a flag checked between
steps, every process stops at the same step, and the job exits with PREEMPTED_EXIT_CODE so that
running it again resumes from the checkpoint written on the way out."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import torch

# EX_TEMPFAIL (sysexits.h): "temporary failure, try again later" -- rerun the job to resume.
PREEMPTED_EXIT_CODE = 75
STOP_SIGNALS = ("SIGTERM", "SIGUSR1")


class TrainingStopped(RuntimeError):
    """Training ended before the adapter was written; the job exits with `exit_code`."""

    exit_code: int = 1


class Preempted(TrainingStopped):
    """Training stopped on request (SIGTERM/SIGUSR1) after writing a checkpoint; rerun resumes."""

    exit_code = PREEMPTED_EXIT_CODE

    def __init__(self, step: int, total: int, checkpoint: Path, reason: str = "SIGTERM") -> None:
        super().__init__(
            f"stopped by {reason} after step {step}/{total}; checkpoint written to {checkpoint}. "
            "Run the same job again (Snakemake --retries, SLURM requeue) to resume from it."
        )
        self.step, self.total, self.checkpoint, self.reason = step, total, checkpoint, reason


class StopRequest:
    """Turns SIGTERM/SIGUSR1 into a flag checked between steps, so that a stop never interrupts
    an optimizer step or a checkpoint write. Handlers are installed only in the main thread."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def any_process(flag: bool, accelerator: Any) -> bool:
    """True on every process if `flag` is true on any: all stop at the same step, or none."""
    if accelerator.num_processes == 1:
        return flag
    from accelerate.utils import reduce

    return bool(reduce(torch.tensor([float(flag)], device=accelerator.device), "sum").item() > 0)
