"""Run the demo once (`snakemake --cores 2`, the README's first command) in a temporary copy of
the workflow; tests read its results, and copy it when they change anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.workflow import copy_workflow, snakemake


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The demo workflow, run end to end with `snakemake --cores 2`."""
    workdir = copy_workflow(tmp_path_factory.mktemp("demo"))
    snakemake(workdir, "--cores", "2")
    return workdir
