"""What every workflow script does: log to the rule's log, pin threads, record provenance, and
report an expected failure in one line.

A script is thin glue around the library:

    with run_job(snakemake) as job:
        ...                                   # call the library
        job.record(output, inputs={...}, params={...}, model=ref.facts())

`job.record` writes `<output>.prov.json`; each file is hashed once per job however many
sidecars name it. An `XltError` raised inside the block becomes `xlt: error: <message>` on
stderr and in the rule's log, and the job exits with status 1 and no traceback (set
`XLT_DEBUG=1` to get the traceback in the log as well). Any other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlt.errors import XltError
from xlt.io import disk_full, sha256_path
from xlt.provenance.records import now, write_provenance

ERROR_PREFIX = "xlt: error: "
# The first line each attempt of a job writes to its log, followed by the rule and start time.
ATTEMPT_HEADER = "===== attempt of rule"


@dataclass
class Job:
    """One running rule job: its name, log file, start time and the hashes taken so far."""

    rule: str
    log_file: str | None = None
    started: str = field(default_factory=now)
    _hashes: dict[tuple[str, int, int], str] = field(default_factory=dict, repr=False)

    def sha256(self, path: str | Path) -> str:
        """The content hash of a file or directory, computed once per job (keyed by path,
        size and modification time, so a file rewritten during the job is hashed again)."""
        stat = Path(path).stat()
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = sha256_path(path)
        return self._hashes[key]

    def record(
        self,
        output: str | Path,
        *,
        inputs: Mapping[str, str | Path | Iterable[str | Path]],
        params: Mapping[str, Any] | None = None,
        **facts: Any,
    ) -> Path:
        """Write the provenance sidecar of `output`: what it was made from, with what (and the
        job's peak memory so far, which the pilot reads)."""
        return write_provenance(
            output,
            rule=self.rule,
            inputs=inputs,
            params=params,
            started=self.started,
            hasher=self.sha256,
            **{"peak_memory": peak_memory(), **({"measured": dict(MEASURED)} if MEASURED else {})},
            **facts,
        )


# What the library measures during a job (a model's load time, ...). A job is one process, so
# the record is process-wide; `Job.record` writes it into the sidecar as `measured`.
MEASURED: dict[str, float] = {}


def measure(name: str, value: float) -> None:
    """Keep one measurement of the running job for its sidecar."""
    MEASURED[name] = value


def peak_memory() -> dict[str, float | None]:
    """Peak resident memory of this process (MiB) and, if torch uses CUDA, the peak memory
    allocated on its GPUs (MiB, summed; None without one)."""
    import resource

    host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    torch = sys.modules.get("torch")
    accelerator = None
    if torch is not None and torch.cuda.is_available():
        count = torch.cuda.device_count()
        accelerator = sum(torch.cuda.max_memory_allocated(i) for i in range(count)) / 2**20
        accelerator = round(accelerator, 1)
    return {"host_mb": round(host, 1), "accelerator_mb": accelerator}


# Records logged with `extra=CONSOLE` (progress of long jobs: fine-tuning steps) reach the
# console; everything else at INFO goes to the rule's log file only, so a run of a hundred jobs
# prints a hundred lines, not thousands.
CONSOLE = {"console": True}


class _ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or getattr(record, "console", False)


def start_job(log_file: str | Path | None, threads: int | None = None, rule: str = "xlt") -> Job:
    """Send `xlt` logging to the job's log file (progress and warnings to stderr too), keep
    library progress bars off the console, and pin the thread count.

    The log is appended to, each attempt under a header line with its start time. Snakemake
    deletes a job's log before it runs the job again, so in a workflow run a log holds the
    latest attempt only (README, "When something goes wrong").

    Torch uses every core by default; a job must use only the threads Snakemake gave it, or
    parallel jobs oversubscribe the machine. Setting the environment variables as well covers
    libraries that read them at import (OpenMP, MKL, tokenizers).
    """
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(_ConsoleFilter())
    handlers: list[logging.Handler] = [console]
    started = now()
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(log_file, "a", encoding="utf-8") as log:
                log.write(f"{ATTEMPT_HEADER} {rule} started {started} =====\n")
        except OSError as exc:
            if full := disk_full(exc, log_file):
                raise full from None
            raise
        handlers.append(_JobLogHandler(log_file))
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    quiet_libraries()
    if threads:
        limit_threads(threads)
    return Job(rule=rule, log_file=str(log_file) if log_file else None, started=started)


class _JobLogHandler(logging.FileHandler):
    """The job's log file. A full disk is reported once, in one line, instead of a
    `--- Logging error ---` traceback for every record that could not be written."""

    def __init__(self, log_file: str | Path) -> None:
        super().__init__(log_file, mode="a", encoding="utf-8")
        self.log_file = str(log_file)
        self.full = False

    def handleError(self, record: logging.LogRecord) -> None:
        full = disk_full(sys.exc_info()[1], self.log_file)
        if full is None:
            super().handleError(record)
        elif not self.full:
            self.full = True
            print(
                f"xlt: warning: could not write {self.log_file}: {full.reason}; the log is "
                "incomplete from here on.",
                file=sys.stderr,
                flush=True,
            )


def quiet_libraries() -> None:
    """No per-job progress bars ("Loading weights", downloads) on the console."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    transformers = sys.modules.get("transformers")
    if transformers is not None:
        transformers.utils.logging.disable_progress_bar()


def limit_threads(threads: int) -> None:
    """Use at most `threads` CPU threads in torch and the numeric libraries."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch = sys.modules.get("torch")
    if torch is None:
        import torch
    torch.set_num_threads(threads)


def report_error(exc: XltError, log_file: str | None) -> None:
    """Print an expected failure as one line to stderr and to the rule's log."""
    line = ERROR_PREFIX + " ".join(str(exc).split("\n"))
    # One write: Snakemake's console thread writes to the same stream (print() writes the line
    # and its newline separately, and a console line could land between them).
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    if log_file:
        try:
            with open(log_file, "a", encoding="utf-8") as log:
                log.write(line + "\n")
                if os.environ.get("XLT_DEBUG"):
                    log.write("".join(traceback.format_exception(exc)))
        except OSError as error:
            if disk_full(error) is None:
                raise


@contextmanager
def run_job(snakemake: Any, torch_threads: bool = True) -> Iterator[Job]:
    """The job of a Snakemake `script:` rule: logging, threads, provenance, one-line errors.

    `torch_threads=False` for rules that never touch torch (they need not import it).
    """
    log_file = snakemake.log[0] if len(snakemake.log) else None
    threads = snakemake.threads if torch_threads else None
    try:
        yield start_job(log_file, threads, rule=snakemake.rule)
    except (XltError, OSError) as exc:
        # A full disk is an expected failure wherever it happens: one line naming the path.
        expected = exc if isinstance(exc, XltError) else disk_full(exc)
        if expected is None:
            raise
        for handler in logging.getLogger().handlers:
            handler.flush()
        report_error(expected, log_file)
        sys.exit(1)


@contextmanager
def config_errors_exit() -> Iterator[None]:
    """Where the workflow is parsed: an `XltError` becomes one line on stderr and exit status 1,
    before Snakemake plans or runs anything."""
    try:
        yield
    except XltError as exc:
        report_error(exc, None)
        raise SystemExit(1) from None
