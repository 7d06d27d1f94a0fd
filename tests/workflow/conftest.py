"""Run the embedded demo once in a temporary copy of the workflow; tests read its results."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake in `workdir` with this interpreter; output is kept for assertions."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The demo workflow, run end to end with `snakemake --cores 2`."""
    workdir = copy_workflow(tmp_path_factory.mktemp("demo"))
    snakemake(workdir, "--cores", "2")
    return workdir
