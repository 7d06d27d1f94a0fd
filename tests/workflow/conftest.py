"""Run the embedded demo once in a temporary copy of the workflow; tests read its results."""

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
