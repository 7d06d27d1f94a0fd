"""Launching: one process or `accelerate launch`, decided by the GPUs and nodes of the job."""

import json

import pytest
import yaml
from support.data import REPO
from support.training import resume_job

from xlt.cluster import slurm_request
from xlt.config import CHECKOUT_SCHEMA, apply_defaults
from xlt.errors import MissingFileError
from xlt.study import Study
from xlt.train import launch
from xlt.train.checkpoints import checkpoint_root
from xlt.train.launch import (
    FinetuneJob,
    LaunchFailed,
    LaunchPlan,
    accelerate_config_path,
    launch_command,
    launch_plan,
    run_launched,
    train_adapter,
)
from xlt.train.stop import PREEMPTED_EXIT_CODE, Preempted


def test_the_launch_plan_follows_the_job_resources():
    """The GPUs and nodes of the job as the rule asks them of SLURM (`gpu` on one node, `gres`
    per node across several); none at all (a local run) is one process."""
    assert not launch_plan({}).distributed
    assert not launch_plan({"gpu": 1, "mem_mb": 2000}).distributed
    assert launch_plan({}).accelerate_config == "accelerate/fsdp.yaml"
    assert launch_plan({"gpu": 4}).processes == 4
    assert launch_plan({"gpu": None, "gres": "gpu:a100:4", "nodes": 2}).processes == 8
    plan = launch_plan({"gres": "gpu:8", "nodes": 2}, "accelerate/deepspeed_zero3.yaml")
    assert (plan.processes, plan.nodes, plan.accelerate_config) == (
        16,
        2,
        "accelerate/deepspeed_zero3.yaml",
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


@pytest.mark.parametrize("config", ["config", "small-real", "powered", "paper"])
def test_every_shipped_model_trains_on_the_gpus_it_requests(config):
    """The plan read from the job's resources gives each model `gpus` × `nodes` processes, as
    its `resources.finetune` entry says."""
    raw = yaml.safe_load((REPO / "config" / f"{config}.yaml").read_text())
    study = Study.from_config(apply_defaults(raw, CHECKOUT_SCHEMA))
    for model in study.models.values():
        entry = model.resources.get("finetune", {})
        plan = launch_plan(slurm_request(entry))
        assert plan.processes == max(1, entry.get("gpus", 0)) * entry.get("nodes", 1), model.name


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


def test_a_job_without_gpu_resources_trains_in_its_own_process(
    tiny_model_ref, train_setup, monkeypatch, caplog
):
    """`train_adapter` trains here when the job has at most one GPU, leaving the checkpoints
    for the rule to remove once the adapter is recorded; a stop is logged and raised."""
    monkeypatch.setattr(launch, "run_launched", never_launched)
    out = train_setup[0] / "own-process"
    job = resume_job(tiny_model_ref, train_setup, out, max_steps=2, checkpoint_every=1)
    summary = train_adapter(job, {"gpu": 1, "mem_mb": 2000}, base_dir=REPO)
    assert summary["steps"] == 2 and summary["processes"] == 1
    assert (out / "adapter_model.safetensors").exists() and checkpoint_root(out).exists()

    def preempted(self, keep_checkpoints):
        raise Preempted(3, 7, checkpoint_root(out) / "step-00000003")

    monkeypatch.setattr(FinetuneJob, "run", preempted)
    with pytest.raises(Preempted) as stop:
        train_adapter(job, {}, base_dir=REPO)
    assert stop.value.exit_code == PREEMPTED_EXIT_CODE
    assert "stopped by SIGTERM after step 3/7" in caplog.text


def test_a_job_with_more_gpus_goes_through_the_launcher(tmp_path, monkeypatch):
    """More than one GPU: `accelerate launch` on all of them; its exit status becomes the job's."""
    launched = []

    def fake_launch(job, plan, base_dir, threads):
        launched.append((plan.processes, plan.nodes, threads))
        return codes.pop(0)

    codes = [PREEMPTED_EXIT_CODE, 1, 0]
    monkeypatch.setattr(launch, "run_launched", fake_launch)
    monkeypatch.setattr(launch, "read_summary", lambda out_dir: {"steps": 7})
    job = FinetuneJob("m", [], "split", str(tmp_path / "a"), {}, False, {}, {}, 0)
    resources = {"gres": "gpu:4", "nodes": 2}
    for code in (PREEMPTED_EXIT_CODE, 1):
        with pytest.raises(LaunchFailed) as failed:
            train_adapter(job, resources, base_dir=REPO, threads=16)
        assert failed.value.exit_code == code
    assert train_adapter(job, resources, base_dir=REPO, threads=16) == {"steps": 7}
    assert launched == [(8, 2, 16)] * 3


def never_launched(*args, **kwargs):
    raise AssertionError("a job with at most one GPU must not go through accelerate launch")


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
