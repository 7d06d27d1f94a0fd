"""`xlt doctor`: what state a working directory is in after an interrupted run, and what to run.

Looks at what Snakemake and xlt leave behind when a run is killed: Snakemake's lock (a killed
`snakemake` keeps the directory locked), its record of jobs that did not finish, fine-tuning
checkpoints waiting to be resumed, and partly evaluated cells (their finished shards). Prints
one line per finding with the command that resolves it; exit status 1 if something blocks the
next run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from xlt.errors import MissingFileError

# A fine-tuning checkpoint's progress file (xlt.train.checkpoints.STATE_FILE; not imported from
# there, which would load torch for `xlt doctor`).
CHECKPOINT_STATE = "state.json"


@dataclass(frozen=True)
class Finding:
    """One thing found, whether it blocks the next run, and what to do about it."""

    what: str
    action: str
    blocking: bool = False


def _snakemake_running(workdir: Path) -> bool:
    """Whether a snakemake process runs in `workdir` on this machine (Linux /proc; False where
    unknown). A run on another machine sharing the filesystem is not visible here."""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        same_dir = Path(cwd).resolve() == workdir.resolve()
        if "snakemake" in cmdline and same_dir and int(entry.name) != os.getpid():
            return True
    return False


def diagnose(workdir: str | Path = ".") -> list[Finding]:
    """Everything an interrupted run left in `workdir`."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise MissingFileError(
            f"{workdir}: no such directory; give the workflow's directory (where snakemake runs)."
        )
    found: list[Finding] = []
    locks = workdir / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        if _snakemake_running(workdir):
            found.append(
                Finding(
                    "a snakemake process is running in this directory and holds its lock",
                    "wait for it, or stop it (Ctrl-C, or `kill` it) before starting another",
                    blocking=True,
                )
            )
        else:
            found.append(
                Finding(
                    "the directory is locked, and no snakemake process runs in it on this "
                    "machine (a run was killed, or its machine went down)",
                    "if no snakemake runs on another machine for this directory (a shared "
                    "filesystem): snakemake --unlock",
                    blocking=True,
                )
            )
    incomplete = workdir / ".snakemake" / "incomplete"
    if incomplete.is_dir() and any(incomplete.iterdir()):
        count = sum(1 for _ in incomplete.iterdir())
        found.append(
            Finding(
                f"{count} output(s) of jobs that were interrupted are marked incomplete",
                "snakemake --rerun-incomplete --cores N (the profiles set rerun-incomplete)",
            )
        )
    adapters = workdir / "results" / "adapters"
    for checkpoints in sorted(adapters.glob("*/.*.checkpoints")):
        found.append(checkpoint_finding(checkpoints))
    predictions = workdir / "results" / "predictions"
    for parts in sorted(predictions.glob("*/*/*/.*.parts")):
        shards = len(list(parts.glob("shard-*.jsonl")))
        cell = parts.parent / parts.name[1 : -len(".parts")]
        if shards:
            found.append(
                Finding(
                    f"evaluation of {cell} stopped with {shards} finished shard(s) in {parts}",
                    "rerun snakemake: the cell resumes after its finished shards",
                )
            )
        else:
            found.append(
                Finding(
                    f"evaluation of {cell} stopped before its first shard was finished "
                    f"({parts} holds nothing to resume)",
                    "rerun snakemake: the cell is evaluated from its first item (if it stopped "
                    "with an xlt: error, fix what that line names first)",
                )
            )
    return found


def _resumable_step(checkpoint: Path) -> int | None:
    """The step a complete checkpoint resumes from, or None if it cannot be resumed (as
    `xlt.train.checkpoints.latest_checkpoint` decides: `state.json` present and readable)."""
    try:
        state = json.loads((checkpoint / CHECKPOINT_STATE).read_text(encoding="utf-8"))
        return int(state["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def checkpoint_finding(checkpoints: Path) -> Finding:
    """What the rerun of an interrupted fine-tuning job does with what it left.

    The training code resumes only a complete checkpoint (`step-N/` with a readable
    `state.json`, written in `.step-N.tmp/` and renamed when whole) of the same settings and
    data; a checkpoint cut off while being written is discarded, and with no complete one the
    job trains from step 0.
    """
    adapter = checkpoints.parent / checkpoints.name[1 : -len(".checkpoints")]
    partial = sorted(p.name for p in checkpoints.glob(".step-*.tmp"))
    complete = sorted(
        (p for p in checkpoints.glob("step-*") if (p / CHECKPOINT_STATE).exists()), reverse=True
    )
    steps = [(p, step) for p in complete if (step := _resumable_step(p)) is not None]
    cut = ""
    if partial:
        cut = f"; {', '.join(partial)} was being written when it stopped and is discarded"
    if steps:
        latest, step = steps[0]
        return Finding(
            f"fine-tuning of {adapter} stopped after a checkpoint at step {step} ({latest}){cut}",
            f"rerun snakemake: the job resumes from step {step} (with the same settings and "
            "data; with others it trains from step 0)",
        )
    return Finding(
        f"fine-tuning of {adapter} stopped before any checkpoint was complete ({checkpoints}){cut}",
        "rerun snakemake: the job trains from step 0 (nothing can be resumed)",
    )


def report(findings: list[Finding]) -> str:
    """The findings as lines a user can act on."""
    if not findings:
        return "nothing to repair: no lock, no interrupted jobs, no resumable work."
    lines = []
    for finding in findings:
        mark = "blocking" if finding.blocking else "note"
        lines.append(f"[{mark}] {finding.what}\n    -> {finding.action}")
    return "\n".join(lines)


def environment_line(root: Path | None = None) -> str:
    """Whether the running environment is the one the checkout's lock pins, and how to make it
    so; software that differs from the lock makes results that the lock cannot rebuild."""
    from xlt.lock import PROJECT_ROOT, lock_status

    status = lock_status(root or PROJECT_ROOT)
    if status is None:
        return "environment: no lock file beside this xlt (an installed package); not checked."
    if status.matches:
        return f"environment: matches {status.path} (sha256 {status.sha256[:12]})."
    shown = "; ".join(d.line() for d in status.differences[:5])
    more = f"; and {len(status.differences) - 5} more" if len(status.differences) > 5 else ""
    return (
        f"environment: differs from {status.path} in {len(status.differences)} package(s): "
        f"{shown}{more}; install the lock: pip install -r {status.path}"
    )
