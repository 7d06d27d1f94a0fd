"""The local SLURM cluster the SLURM tests run on, and the workflow copies they run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.workflow import REPO, copy_workflow

CLUSTER = REPO / "slurm" / "local-cluster.sh"
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def slurm_workdir(dest: Path) -> Path:
    """A fresh copy of the workflow with the SLURM profile, run as users do: `--profile slurm`."""
    copy_workflow(dest)
    for name in ("slurm", "envs"):
        if (REPO / name).is_dir() and not (dest / name).exists():
            shutil.copytree(REPO / name, dest / name)
    return dest


def cluster_answers() -> bool:
    status = subprocess.run([CLUSTER, "status"], capture_output=True, text=True)
    return status.returncode == 0


def require_cluster() -> None:
    """Skip unless a SLURM cluster answers `sinfo`. The tests never install or start one (that
    would change the machine): `.ci/run` starts the one-node cluster of slurm/local-cluster.sh
    first and sets XLT_REQUIRE_SLURM=1, so that in CI a missing cluster fails instead."""
    if shutil.which("sinfo") and cluster_answers():
        return
    reason = (
        "no SLURM cluster answers `sinfo`; start one (as root, on Debian: "
        "slurm/local-cluster.sh start) or run .ci/run, which does"
    )
    if os.environ.get("XLT_REQUIRE_SLURM") == "1":
        pytest.fail(f"XLT_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)
