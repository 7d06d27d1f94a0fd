"""The SLURM profile: per-model requests, and the demo run through sbatch on a real cluster.

`test_demo_runs_through_slurm` needs a SLURM cluster that answers `sinfo`; it never installs or
starts one, and skips with the reason otherwise. `.ci/run` starts the one-node cluster of
slurm/local-cluster.sh first and sets XLT_REQUIRE_SLURM=1, so in CI a missing cluster fails.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from support.slurm import SUBMITTED, slurm_workdir
from support.workflow import snakemake


class JobResources(dict):
    """The job's evaluated resources, as the plugin reads them (`.get` and attributes)."""

    __getattr__ = dict.__getitem__


def job_blocks(output: str) -> list[tuple[str, str]]:
    """(rule, block text) of every job a dry run printed; a block starts at its `rule x:` line."""
    blocks: list[tuple[str, list[str]]] = []
    for line in output.splitlines():
        header = re.match(r"^\s*(?:local)?rule (\w+):$", line)
        if header:
            blocks.append((header.group(1), []))
        elif blocks:
            blocks[-1][1].append(line)
    return [(rule, "\n".join(lines)) for rule, lines in blocks]


def dry_run_jobs(output: str, rule: str) -> dict[str, JobResources]:
    """model -> resources of the first `rule` job of that model in a dry run's output."""
    jobs: dict[str, JobResources] = {}
    for name, block in job_blocks(output):
        if name != rule:
            continue
        model = re.search(r"^\s+wildcards: .*?model=([^,\n]+)", block, flags=re.M).group(1)
        line = re.search(r"^\s+resources: (.*)$", block, flags=re.M).group(1)
        threads = re.search(r"^\s+threads: (\d+)$", block, flags=re.M)
        resources = JobResources()
        for item in line.split(", "):
            key, value = item.split("=", 1)
            resources[key] = int(value) if value.isdigit() else value
        resources["_threads"] = int(threads.group(1)) if threads else 1
        jobs.setdefault(model, resources)
    return jobs


def sbatch_flags(resources: JobResources) -> str:
    """The sbatch options snakemake-executor-plugin-slurm builds from these resources."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = SimpleNamespace(resources=resources, threads=resources["_threads"], name="job")
    params = {
        "run_uuid": "x",
        "slurm_logfile": "x.log",
        "comment_str": "x",
        "account": f"-A {resources['slurm_account']}" if "slurm_account" in resources else "",
        "partition": (
            f"-p {resources['slurm_partition']}" if "slurm_partition" in resources else ""
        ),
        "workdir": "",
    }
    return get_submit_command(job, params) + set_gres_string(job)


@pytest.mark.workflow
def test_each_model_gets_its_own_slurm_request(tmp_path):
    """Same rules, different requests: a 4B model asks for 1 GPU, the 671B MoE for 8 (2 nodes of
    8 to fine-tune); partition, constraint and GPU model go only to the model that sets them, and a
    model without a partition keeps the default partition."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    workdir = slurm_workdir(tmp_path)
    paper = yaml.safe_load((workdir / "config" / "paper.yaml").read_text())
    deepseek = paper["models"]["deepseek-v3.1"]["resources"]["evaluate"]
    deepseek.update(partition="gpu-large", constraint="nvlink", gpu_model="h100")
    (workdir / "config" / "study.yaml").write_text(yaml.safe_dump(paper, sort_keys=False))
    result = snakemake(
        workdir,
        *("-n", "--profile", "slurm", "--configfile", "config/study.yaml"),
        *("--default-resources", "slurm_partition=gpu", "runtime=60", "mem_mb=4000"),
    )
    out = result.stdout + result.stderr
    evaluate, finetune = dry_run_jobs(out, "evaluate"), dry_run_jobs(out, "finetune")
    assert set(evaluate) == set(finetune) == set(paper["models"])

    small, large = evaluate["qwen3-4b"], evaluate["deepseek-v3.1"]
    assert (small["gpu"], small["cpus_per_task"], small["mem_mb"], small["runtime"]) == (
        1,
        4,
        32000,
        30,
    )
    assert (large["gpu"], large["cpus_per_task"], large["mem_mb"], large["runtime"]) == (
        8,
        64,
        1500000,
        480,
    )
    assert small["slurm_partition"] == "gpu" and large["slurm_partition"] == "gpu-large"
    assert "constraint" not in small and "gpu_model" not in small
    assert small["model_instances"] == large["model_instances"] == 1

    small_flags, large_flags = sbatch_flags(small), sbatch_flags(large)
    assert "--gpus=1" in small_flags and "--cpus-per-task=4" in small_flags
    assert "-t 30" in small_flags and "--mem 32000" in small_flags and "-p gpu " in small_flags
    assert "-C" not in small_flags.split() and "--nodes" not in small_flags
    assert "--gpus=h100:8" in large_flags and "-C nvlink" in large_flags
    assert "-t 480" in large_flags and "--mem 1500000" in large_flags
    assert "-p gpu-large" in large_flags

    # Two nodes with 8 GPUs each: --gres counts per node (--gpus would count the job's total).
    big_finetune = sbatch_flags(finetune["deepseek-v3.1"])
    assert "--nodes=2" in big_finetune and "--gres=gpu:8" in big_finetune
    assert "--gpus" not in big_finetune and "-t 2880" in big_finetune
    assert "--nodes" not in sbatch_flags(finetune["qwen3-4b"])

    # Evaluation cells are submitted 4 to a SLURM job, per model (profile: group-components).
    n_cells = (1 + len(paper["sources"]) * len(paper["seeds"])) * len(paper["prompting"])
    n_cells *= len(paper["languages"])
    for model in paper["models"]:
        groups = len(re.findall(rf"Group job eval-{re.escape(model)} ", out))
        assert groups == -(-n_cells // 4), model


@pytest.mark.slurm
@pytest.mark.workflow
def test_demo_runs_through_slurm(slurm_cluster, demo_run, tmp_path):
    """`snakemake --profile slurm` on a reduced demo (1 model, 2 languages, 1 seed, direct):
    compute jobs go through sbatch, a model's evaluation cells share one SLURM job, and every
    predictions file equals the local run's byte for byte."""
    workdir = slurm_workdir(tmp_path)
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    model = "demo-dense"
    config["models"] = {model: config["models"][model]}
    config["languages"] = ["heb_Hebr", "amh_Ethi"]
    config["seeds"] = [0]
    config["prompting"] = ["direct"]
    (workdir / "config" / "slurm-test.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    started = time.monotonic()
    result = snakemake(
        workdir,
        *("--profile", "slurm", "--configfile", "config/slurm-test.yaml"),
        # Test overrides: timing only (the first status check after 2 s, not 40 s).
        *("--slurm-init-seconds-before-status-checks", "2"),
    )
    wall = time.monotonic() - started
    print(f"SLURM demo run: {wall:.0f} s")
    out = result.stdout + result.stderr

    submitted = SUBMITTED.findall(out)
    logs = {
        Path(log).parent.relative_to(workdir / ".snakemake" / "slurm_logs").parts[0]: jobid
        for _, jobid, log in submitted
    }
    # build_demo_model, finetune and the evaluation group are SLURM jobs; the local rules are not.
    assert set(logs) == {"rule_build_demo_model", "rule_finetune", f"group_eval-{model}_evaluate"}
    for _, jobid, log in submitted:
        assert Path(log).exists(), f"SLURM log of job {jobid} is missing"
    # SLURM itself ran them: the controller knows each job id and says it completed.
    for jobid in logs.values():
        state = subprocess.run(
            ["scontrol", "show", "job", jobid], capture_output=True, text=True
        ).stdout
        if state:  # forgotten after MinJobAge; the local cluster keeps them 10 minutes
            assert "JobState=COMPLETED" in state, state

    n_cells = len(config["languages"]) * 2  # base + ft-arabic-s0
    produced = sorted((workdir / "results" / "predictions").rglob("*.jsonl"))
    assert len(produced) == n_cells
    for path in produced:
        relative = path.relative_to(workdir)
        assert path.read_bytes() == (demo_run / relative).read_bytes(), relative
