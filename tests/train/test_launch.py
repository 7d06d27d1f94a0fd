"""Launching: one process or `accelerate launch` on the model's GPUs."""

import json

import pytest
import yaml
from support.data import REPO
from support.training import resume_job

from xlt.errors import MissingFileError
from xlt.train.launch import (
    LaunchPlan,
    accelerate_config_path,
    launch_command,
    launch_plan,
    run_launched,
)


def test_the_launch_plan_follows_the_model_resources():
    train = {"accelerate_config": "accelerate/deepspeed_zero3.yaml"}
    assert not launch_plan({"gpus": 1}, {}).distributed
    assert not launch_plan({}, {}).distributed
    plan = launch_plan({"gpus": 8, "nodes": 2}, train)
    assert (plan.processes, plan.nodes, plan.accelerate_config) == (
        16,
        2,
        train["accelerate_config"],
    )
    one_node = launch_command(LaunchPlan(gpus_per_node=4), "job.json", "fsdp.yaml", python="py")
    assert one_node == [
        "py", "-m", "accelerate.commands.launch", "--config_file", "fsdp.yaml",
        "--num_processes", "4", "--num_machines", "1", "-m", "xlt.train.launch", "job.json",
    ]  # fmt: skip
    two_nodes = launch_command(plan, "job.json", "ds.yaml", python="py", head="gpu001")
    assert two_nodes[:4] == ["srun", "--overlap", "--nodes=2", "--ntasks-per-node=1"]
    assert (
        '--main_process_ip gpu001 --main_process_port 29500 --machine_rank "$SLURM_NODEID"'
        in (two_nodes[-1])
    )


def test_a_missing_accelerate_config_names_the_key(tmp_path):
    assert accelerate_config_path(LaunchPlan(), REPO) == REPO / "accelerate" / "fsdp.yaml"
    missing = r"nowhere\.yaml not found.*train\.accelerate_config"
    with pytest.raises(MissingFileError, match=missing):
        accelerate_config_path(LaunchPlan(accelerate_config="nowhere.yaml"), tmp_path)


def test_shipped_accelerate_configs_shard_in_bf16():
    fsdp = yaml.safe_load((REPO / "accelerate" / "fsdp.yaml").read_text())
    assert fsdp["distributed_type"] == "FSDP" and fsdp["mixed_precision"] == "bf16"
    assert fsdp["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert fsdp["fsdp_config"]["fsdp_reshard_after_forward"] is True  # full shard
    for name in ("deepspeed_zero3.yaml", "deepspeed_zero3_offload.yaml"):
        zero3 = yaml.safe_load((REPO / "accelerate" / name).read_text())
        assert zero3["distributed_type"] == "DEEPSPEED"
        assert zero3["deepspeed_config"]["zero_stage"] == 3


def test_a_job_runs_through_accelerate_launch(tiny_model_ref, train_setup, caplog):
    """The multi-GPU path of the rule, on one CPU process: job file, `accelerate launch -m
    xlt.train.launch`, the child's log relayed here, exit status."""
    out = train_setup[0] / "launched"
    job = resume_job(tiny_model_ref, train_setup, out, max_steps=2)
    caplog.set_level("INFO")
    code = run_launched(job, LaunchPlan(gpus_per_node=1), base_dir=REPO, threads=1)
    assert code == 0
    assert (out / "adapter_model.safetensors").exists()
    assert "step 2/2" in caplog.text
    # Progress lines reach the console as on one process (marked, the mark itself removed).
    progress = [r.getMessage() for r in caplog.records if getattr(r, "console", False)]
    assert any("step 2/2" in line for line in progress) and "[console]" not in caplog.text
    summary = json.loads((out / "xlt_training.json").read_text())
    assert summary["steps"] == 2 and summary["processes"] == 1
