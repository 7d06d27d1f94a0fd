"""The rules' conda environment must install what pyproject.toml says the library needs."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_conda_env_pins_the_same_packages_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs" / "xlt.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    requirements = [r for r in pip if not r.startswith("-e")]
    assert sorted(requirements) == sorted(project["dependencies"])
    assert "-e .." in pip


def test_every_rule_names_the_conda_env():
    for smk in (REPO / "rules").glob("*.smk"):
        text = smk.read_text()
        rules = len(re.findall(r"^rule \w+:", text, flags=re.M))
        assert rules == text.count('conda:\n        "../envs/xlt.yaml"'), smk.name
