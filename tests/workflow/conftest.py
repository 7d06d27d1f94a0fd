"""Run the demo once (`snakemake --cores 2`, the README's first command) in a temporary copy of
the workflow; tests read its results, and copy it when they change anything. The SLURM tests'
cluster check."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.slurm import require_cluster
from support.workflow import copy_workflow, snakemake


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The demo workflow, run end to end with `snakemake --cores 2`."""
    workdir = copy_workflow(tmp_path_factory.mktemp("demo"))
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """A SLURM cluster that answers `sinfo`, or the test skips (fails under XLT_REQUIRE_SLURM=1)."""
    require_cluster()
