"""What every workflow job does first: log to its log file and pin its thread count."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from xlt.provenance import now


def start_job(log_file: str | Path | None, threads: int | None = None) -> str:
    """Send `xlt` logging to the job's log file (and stderr); return the start time.

    Torch uses every core by default; a job must use only the threads Snakemake gave it, or
    parallel jobs oversubscribe the machine.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if threads:
        import torch

        torch.set_num_threads(threads)
    return now()
