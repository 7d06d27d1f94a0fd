"""Cluster requests: each model's `resources.<rule>` as the SLURM plugin's resources."""

from pathlib import Path

import pytest
import yaml

from xlt.cluster import ClusterRequests, literal_defaults, slurm_request
from xlt.config import apply_defaults
from xlt.study import Study

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def paper() -> Study:
    return Study.from_config(apply_defaults(load("paper"), SCHEMA), base_dir=REPO)


# The README's table "Resources per model": config key -> plugin resource.
@pytest.mark.parametrize(
    ("settings", "request_"),
    [
        ({"gpus": 2}, {"gpu": 2}),
        ({"gpus": 2, "gpu_model": "h100"}, {"gpu": 2, "gpu_model": "h100"}),
        ({"gpus": 8, "nodes": 2}, {"gres": "gpu:8", "nodes": 2}),
        ({"gpus": 8, "nodes": 2, "gpu_model": "h100"}, {"gres": "gpu:h100:8", "nodes": 2}),
        ({"cpus": 16}, {"cpus_per_task": 16}),
        ({"mem_mb": 64000}, {"mem_mb": 64000}),
        ({"runtime": 120}, {"runtime": 120}),
        ({"partition": "gpu"}, {"slurm_partition": "gpu"}),
        ({"account": "lab"}, {"slurm_account": "lab"}),
        ({"constraint": "a100"}, {"constraint": "a100"}),
        ({"gpus": 0}, {}),
    ],
)
def test_each_resource_key_becomes_the_plugin_resource(settings, request_):
    assert slurm_request(settings) == request_


# The README's table of what config/paper.yaml asks for, one row per model.
PAPER_REQUESTS = {
    "qwen3-4b": (
        {"gpu": 1, "cpus_per_task": 8, "mem_mb": 64000, "runtime": 120},
        {"gpu": 1, "cpus_per_task": 4, "mem_mb": 32000, "runtime": 30},
    ),
    "qwen3-32b": (
        {"gpu": 2, "cpus_per_task": 16, "mem_mb": 160000, "runtime": 360},
        {"gpu": 1, "cpus_per_task": 8, "mem_mb": 96000, "runtime": 60},
    ),
    "gpt-oss-20b": (
        {"gpu": 1, "cpus_per_task": 8, "mem_mb": 96000, "runtime": 240},
        {"gpu": 1, "cpus_per_task": 8, "mem_mb": 64000, "runtime": 60},
    ),
    "gpt-oss-120b": (
        {"gpu": 4, "cpus_per_task": 32, "mem_mb": 400000, "runtime": 720},
        {"gpu": 2, "cpus_per_task": 16, "mem_mb": 256000, "runtime": 120},
    ),
    "llama-3.3-70b": (
        {"gpu": 4, "cpus_per_task": 32, "mem_mb": 400000, "runtime": 720},
        {"gpu": 2, "cpus_per_task": 16, "mem_mb": 256000, "runtime": 120},
    ),
    "qwen3-235b-a22b": (
        {"gpu": 8, "cpus_per_task": 64, "mem_mb": 900000, "runtime": 1440},
        {"gpu": 8, "cpus_per_task": 32, "mem_mb": 700000, "runtime": 240},
    ),
    "deepseek-v3.1": (
        {"nodes": 2, "gres": "gpu:8", "cpus_per_task": 64, "mem_mb": 1500000, "runtime": 2880},
        {"gpu": 8, "cpus_per_task": 64, "mem_mb": 1500000, "runtime": 480},
    ),
}


@pytest.mark.parametrize("model", sorted(PAPER_REQUESTS))
def test_every_paper_model_gets_its_own_request(paper, model):
    requests = ClusterRequests(paper.models)
    finetune, evaluate = PAPER_REQUESTS[model]
    assert requests.resources(model, "finetune") == finetune
    assert requests.resources(model, "evaluate") == evaluate
    assert requests.threads(model, "finetune") == finetune["cpus_per_task"]
    assert requests.threads(model, "evaluate") == evaluate["cpus_per_task"]


def test_paper_models_are_all_listed():
    assert set(load("paper")["models"]) == set(PAPER_REQUESTS)


def test_profile_defaults_fill_what_a_model_leaves_unset(paper):
    defaults = literal_defaults(["slurm_partition=gpu", "runtime=60", "mem_mb=4000"])
    request = ClusterRequests(paper.models).resources("qwen3-4b", "evaluate", defaults)
    assert request["slurm_partition"] == "gpu" and request["runtime"] == 30
    config = load("paper")
    config["models"]["qwen3-4b"]["resources"]["evaluate"]["partition"] = "short"
    requests = ClusterRequests(
        Study.from_config(apply_defaults(config, SCHEMA), base_dir=REPO).models
    )
    assert requests.resources("qwen3-4b", "evaluate", defaults)["slurm_partition"] == "short"
    assert requests.resources("qwen3-32b", "evaluate", defaults)["slurm_partition"] == "gpu"
    assert "slurm_partition" in requests.requested_resources("evaluate")


def test_literal_defaults_keep_plain_values_and_skip_expressions():
    found = literal_defaults(
        [
            "mem_mb=min(max(2*input.size_mb, 1000), 8000)",
            "tmpdir=system_tmpdir",
            "slurm_account='my-lab'",
            "slurm_partition=gpu-long",
            "runtime=60",
        ]
    )
    assert found == {
        "tmpdir": "system_tmpdir",
        "slurm_account": "my-lab",
        "slurm_partition": "gpu-long",
        "runtime": 60,
    }
