"""Run the workflow in a temporary copy: copy its files, call Snakemake."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = (
    "Snakefile",
    "rules",
    "scripts",
    "config",
    "profiles",
    "resources",
    "envs",
    "report",
    "slurm",
    "accelerate",
)


def copy_workflow(dest: Path) -> Path:
    """A fresh copy of the workflow (no results) in `dest`."""
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    return dest


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run Snakemake in `workdir` with this interpreter; output is kept for assertions."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=3600,
        env=env,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def job_stats(output: str) -> dict[str, int]:
    """rule -> jobs in a dry run's `Job stats:` table (with its `total` row); empty when the
    output has no table. Found by its `job count` header, whatever Snakemake prints around it."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.split() == ["job", "count"]), None)
    if start is None:
        return {}
    counts = {}
    for line in lines[start + 2 :]:
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            break
        counts[fields[0]] = int(fields[1])
    return counts
