"""xlt pilot: every model's real path in a few steps; a failing model says why in one line,
the others pass, and the study's results/ are untouched."""

from __future__ import annotations

import csv
import json

import yaml
from support.workflow import copy_workflow, snakemake

from xlt import pilot
from xlt.cost import read_pilot
from xlt.provenance.audit import _walk


def _made(path):
    path.mkdir()
    return path


def test_a_model_that_fails_to_load_does_not_stop_the_others(tmp_path):
    workdir = copy_workflow(_made(tmp_path / "wf"))
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    dense = config["models"]["demo-dense"]
    dense["build"]["pretrain_steps"] = 5  # the pilot checks the path, not the model's quality
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file\n")
    config["models"] = {
        "demo-dense": dense,
        "broken": {"gguf": {"file": str(broken)}, "architecture": "dense", "chat": False},
    }
    config_file = workdir / "config" / "pilot-test.yaml"
    config_file.write_text(yaml.safe_dump(config))
    out = workdir / "results" / "pilot"

    records = pilot.run_pilot(
        config_file, out, ("--cores", "2"), steps=4, items=4, snakefile=workdir / "Snakefile"
    )

    by_model = {r["model"]: r for r in records}
    assert by_model["demo-dense"]["status"] == "pass", by_model["demo-dense"]["error"]
    assert by_model["broken"]["status"] == "fail"
    error = by_model["broken"]["error"]
    assert "\n" not in error and "not a GGUF file" in error
    dense_record = json.loads((out / "demo-dense.json").read_text())
    assert dense_record["train_tokens_per_s"] > 0
    assert set(dense_record["items_per_s"]) == {"direct", "cot"}
    assert dense_record["peak_host_mb"] > 0 and dense_record["load_s"] is not None
    # Stopped as if preempted after the checkpoint of step 2 of 4, resumed by the retry.
    assert dense_record["resumed_from_step"] == 2
    rows = {row["model"]: row for row in csv.DictReader((out / "pilot.csv").open())}
    assert rows["broken"]["status"] == "fail" and rows["broken"]["error"] == error
    assert rows["demo-dense"]["status"] == "pass"
    # Nothing of the study itself: only results/pilot under results/.
    assert [p.name for p in (workdir / "results").iterdir()] == ["pilot"]
    # ... and `xlt audit results/` does not take the pilot's runs for the study's files.
    assert _walk(workdir / "results") == []
    # The price reads the passed pilot only.
    assert set(read_pilot(out)) == {"demo-dense"}

    # A rerun repeats only the failed model.
    before = (out / "demo-dense.json").stat().st_mtime_ns
    again = pilot.run_pilot(
        config_file, out, ("--cores", "2"), steps=4, items=4, snakefile=workdir / "Snakefile"
    )
    assert (out / "demo-dense.json").stat().st_mtime_ns == before
    assert {r["model"]: r["status"] for r in again} == {"demo-dense": "pass", "broken": "fail"}

    # The study's price (results/cost/, in the HTML report) takes the pilot's rates.
    snakemake(workdir, "results/cost/price.csv", "--cores", "1", "--configfile", str(config_file))
    with (workdir / "results" / "cost" / "price.csv").open() as handle:
        price = {(row["model"], row["rule"]): row for row in csv.DictReader(handle)}
    assert price[("demo-dense", "finetune")]["basis"] == "pilot"
    assert ("broken", "finetune") not in price  # no size, no passed pilot: named as not priced
    assert "not priced: broken" in (workdir / "results" / "cost" / "price.txt").read_text()
    table = list(csv.DictReader((workdir / "results" / "cost" / "pilot.csv").open()))
    assert {row["model"]: row["status"] for row in table} == {
        "demo-dense": "pass",
        "broken": "fail",
    }


def test_pilot_config_cuts_the_grid_and_keeps_the_model(tmp_path):
    paper = copy_workflow(_made(tmp_path / "wf")) / "config" / "paper.yaml"
    config = yaml.safe_load(paper.read_text())
    derived = pilot.pilot_config(config, "deepseek-v3.1", steps=10, items=8, base_dir=tmp_path)
    entry = derived["models"]["deepseek-v3.1"]
    assert list(derived["models"]) == ["deepseek-v3.1"]
    assert entry["resources"] == config["models"]["deepseek-v3.1"]["resources"]
    assert entry["train"]["accelerate_config"] == "accelerate/deepspeed_zero3_offload.yaml"
    assert entry["train"]["max_steps"] == 10 and entry["train"]["checkpoint_every"] == 5
    assert entry["train"]["preempt_at_step"] == 5
    assert derived["languages"] == ["arb_Arab", "heb_Hebr"]  # two scripts
    assert derived["seeds"] == [0] and list(derived["sources"]) == ["arabic"]
    assert derived["data"]["n_test"] == 8
    assert derived["templates_file"] == str(tmp_path / "config" / "templates.yaml")
