"""The pilot through the SLURM profile on a real cluster (its own module, so that it runs beside
the demo run's tests, not after them: tests/support/parallel.py)."""

from __future__ import annotations

import re

import pytest
import yaml
from support.slurm import SUBMITTED, slurm_workdir


@pytest.mark.slurm
@pytest.mark.workflow
def test_pilot_runs_through_slurm(slurm_cluster, tmp_path, monkeypatch):
    """`xlt pilot CONFIG -- --profile slurm`: the pilot's model build, fine-tuning and
    evaluation go through sbatch with the model's requests, the fine-tuning is stopped after its
    midway checkpoint and resumed by the profile's retry, and the record holds the rates."""
    from xlt import pilot

    workdir = slurm_workdir(tmp_path)
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    model = "demo-dense"
    config["models"] = {model: config["models"][model]}
    config["models"][model]["build"]["pretrain_steps"] = 5  # the path, not the model's quality
    config_file = workdir / "config" / "pilot-slurm.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.chdir(workdir)  # `--profile slurm` is the checkout's slurm/ directory

    out = workdir / "results" / "pilot"
    # Test overrides: timing only (the first status check after 2 s, not 40 s).
    args = ("--profile", "slurm", "--slurm-init-seconds-before-status-checks", "2")
    args += ("--group-components", f"eval-{model}=8")  # the 8 cells in one SLURM job
    (record,) = pilot.run_pilot(
        config_file, out, args, steps=4, items=4, snakefile=workdir / "Snakefile"
    )

    assert record["status"] == "pass", record["error"]
    assert record["train_tokens_per_s"] > 0 and set(record["items_per_s"]) == {"direct", "cot"}
    assert record["resumed_from_step"] == 2  # checkpoint at step 2 of 4, then the retry resumed
    submitted = SUBMITTED.findall((out / f"{model}.log").read_text())
    rules = [re.search(r"slurm_logs/([^/]+)/", log).group(1) for _, _, log in submitted]
    assert set(rules) == {"rule_build_demo_model", "rule_finetune", f"group_eval-{model}_evaluate"}
    # The finetune job was submitted twice: stopped after its checkpoint, then resumed.
    assert rules.count("rule_finetune") == 2
    assert [p.name for p in (workdir / "results").iterdir()] == ["pilot"]
