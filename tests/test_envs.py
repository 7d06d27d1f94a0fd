"""The rules' conda environment (envs/xlt.yaml, `--sdm conda`) is the CUDA lock, made by
requirements/refresh, and its pip section resolves in a fresh virtual environment."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xlt.lock import LOCKS, conda_env, lock_requirements

REPO = Path(__file__).resolve().parents[1]
ENV = REPO / "envs" / "xlt.yaml"


def pip_section() -> list[str]:
    env = yaml.safe_load(ENV.read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def test_conda_env_is_the_cuda_lock_without_a_relative_path():
    assert ENV.read_text() == conda_env(), "envs/xlt.yaml is stale: run requirements/refresh"
    pip = pip_section()
    assert pip == lock_requirements(REPO / LOCKS[1])
    assert all("==" in entry and "--hash=sha256:" in entry for entry in pip)
    assert not any(
        entry.startswith(("-e", ".", "/")) or "xlt" in entry.split("==")[0] for entry in pip
    )


def test_every_rule_names_the_conda_env():
    for smk in (REPO / "rules").glob("*.smk"):
        text = smk.read_text()
        rules = len(re.findall(r"^rule \w+:", text, flags=re.M))
        assert rules == text.count('conda:\n        "../envs/xlt.yaml"'), smk.name


@pytest.mark.skipif(
    not os.environ.get("XLT_TEST_REGISTRY"),
    reason="resolves against the package index: set XLT_TEST_REGISTRY=1 (.ci/latest does)",
)
def test_conda_env_pip_section_resolves_in_a_fresh_venv(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(pip_section()) + "\n")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            str(tmp_path / "venv" / "bin" / "python"),
            *("-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"),
            *("--report", str(report), "-r", str(requirements)),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    installed = {p["metadata"]["name"].lower() for p in json.loads(report.read_text())["install"]}
    assert {"snakemake", "torch", "transformers", "peft"} <= installed
    assert len(installed) == len(pip_section())
