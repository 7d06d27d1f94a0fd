"""The embedded demo, end to end: every file of the contract exists and the numbers are real."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support.workflow import copy_workflow, snakemake

from xlt.cli import main as xlt_main
from xlt.evaluate.extract import extract_answer
from xlt.io import read_jsonl, sha256_path
from xlt.provenance import read_provenance

pytestmark = pytest.mark.workflow


def demo_config(workdir):
    return yaml.safe_load((workdir / "config" / "config.yaml").read_text())


def test_every_output_of_the_contract_exists(demo_run):
    config = demo_config(demo_run)
    results = demo_run / "results"
    for lang in config["languages"]:
        for split in ("train", "test"):
            assert (results / "data" / lang / f"{split}.jsonl").exists()
    for model in config["models"]:
        for source in config["sources"]:
            for seed in config["seeds"]:
                adapter = results / "adapters" / model / f"ft-{source}-s{seed}"
                assert (adapter / "adapter_model.safetensors").exists()
                assert (adapter / "adapter_config.json").exists()
        for weights in ["base"] + [
            f"ft-{s}-s{n}" for s in config["sources"] for n in config["seeds"]
        ]:
            for prompting in ("direct", "cot"):
                cell = Path(model) / weights / prompting
                for lang in config["languages"]:
                    assert (results / "predictions" / cell / f"{lang}.jsonl").exists()
    assert (results / "tables" / "deltas.csv").exists()


def test_a_cell_accuracy_is_rederived_from_its_predictions(demo_run):
    scores = pd.read_csv(demo_run / "results" / "tables" / "scores.csv")
    for row in scores.sample(5, random_state=0).itertuples():
        predictions = read_jsonl(demo_run / row.predictions_file)
        correct = correct_gen = 0
        for p in predictions:
            best = max(range(4), key=lambda i: p["option_logprobs"][i]) + 1
            assert p["pred_loglik"] == best
            correct += best == p["gold"]
            extracted = extract_answer(p["generation"], p["labels"], mode=p["extraction"])
            assert extracted.option == p["pred_gen"]
            correct_gen += p["pred_gen"] == p["gold"]
        assert row.accuracy_loglik == pytest.approx(correct / len(predictions))
        assert row.accuracy_gen == pytest.approx(correct_gen / len(predictions))
        assert row.n == len(predictions) == 16


def test_predictions_follow_the_file_contract(demo_run):
    path = (
        demo_run
        / "results"
        / "predictions"
        / "demo-moe"
        / "ft-arabic-s0"
        / "direct"
        / "heb_Hebr.jsonl"
    )
    test_ids = [
        r["id"] for r in read_jsonl(demo_run / "results" / "data" / "heb_Hebr" / "test.jsonl")
    ]
    records = read_jsonl(path)
    assert [r["id"] for r in records] == test_ids
    for r in records:
        assert (r["lang"], r["model"], r["weights"], r["prompting"]) == (
            "heb_Hebr",
            "demo-moe",
            "ft-arabic-s0",
            "direct",
        )
        assert r["labels"] == ["1", "2", "3", "4"]
        assert r["prompt"].startswith("<|user|>") and r["prompt"].endswith("<|assistant|>\n")
        assert len(r["option_logprobs"]) == 4 and all(x < 0 for x in r["option_logprobs"])
        assert isinstance(r["generation"], str) and r["pred_gen"] in (None, 1, 2, 3, 4)
        assert r["extraction"] == "lenient" and r["template"] == "belebele_num"
        assert 1 <= r["gold"] <= 4


def test_tables_are_not_constant_and_deltas_are_paired(demo_run):
    scores = pd.read_csv(demo_run / "results" / "tables" / "scores.csv")
    deltas = pd.read_csv(demo_run / "results" / "tables" / "deltas.csv")
    config = demo_config(demo_run)
    n_adapters = len(config["sources"]) * len(config["seeds"])
    n_cells = len(config["models"]) * (1 + n_adapters) * len(config["languages"])
    assert len(scores) == n_cells * len(config["prompting"])
    n_scales = deltas["scale"].nunique()
    assert set(deltas["scale"]) == {"loglik", "gen"}
    assert len(deltas) == len(config["models"]) * n_adapters * len(config["languages"]) * n_scales
    assert scores["accuracy_loglik"].nunique() > 1
    expected = deltas["ft_accuracy"] - deltas["base_accuracy"]
    assert ((deltas["delta"] - expected).abs() < 1e-5).all()
    semitic = set(deltas.loc[deltas["group"] == "semitic", "lang"])
    assert {"heb_Hebr", "amh_Ethi"} <= semitic
    assert "eng_Latn" in set(deltas.loc[deltas["group"] == "control", "lang"])


def test_no_test_passage_reached_training(demo_run):
    split = json.loads((demo_run / "results" / "data" / "split.json").read_text())
    for train in (demo_run / "results" / "data").glob("*/train.jsonl"):
        rows = read_jsonl(train)
        assert not {r["link"] for r in rows} & set(split["test_links"])


def test_provenance_sidecars_trace_a_delta(demo_run, monkeypatch, capsys):
    predictions = (
        demo_run
        / "results"
        / "predictions"
        / "demo-dense"
        / "ft-arabic-s0"
        / "direct"
        / "amh_Ethi.jsonl"
    )
    record = read_provenance(predictions)
    assert record["output"]["sha256"] == sha256_path(predictions)
    assert record["model"]["name"] == "demo-dense"
    assert record["adapter_sha256"] == sha256_path(
        demo_run / "results/adapters/demo-dense/ft-arabic-s0"
    )
    assert record["template_id"] == "belebele_num"
    assert "git_commit" in record["code"] or record["code"]["package"]
    assert "torch" in record["environment"]["packages"]
    monkeypatch.chdir(demo_run)
    assert xlt_main(["explain", "results/tables/deltas.csv", "--row", "3"]) == 0
    out = capsys.readouterr().out
    assert "rule finetune" in out and "rule build_demo_model" in out and "rule split" in out
    # A file changed after the fact is flagged.
    test_file = demo_run / "results" / "data" / "amh_Ethi" / "test.jsonl"
    original = test_file.read_text()
    test_file.write_text(original.replace("1", "2", 1))
    try:
        row = pd.read_csv("results/tables/deltas.csv").query("lang == 'amh_Ethi'").index[0]
        assert xlt_main(["explain", "results/tables/deltas.csv", "--row", str(row)]) == 1
        assert "CHANGED since recorded" in capsys.readouterr().out
    finally:
        test_file.write_text(original)


def test_nothing_is_planned_when_nothing_changed(demo_run):
    result = snakemake(demo_run, "-n", "--cores", "2")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_config_typo_stops_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    config = workdir / "config" / "config.yaml"
    config.write_text(config.read_text().replace("n_test:", "n_tset:"))
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert "n_tset" in result.stdout + result.stderr


def test_an_unknown_language_stops_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    config = workdir / "config" / "config.yaml"
    config.write_text(config.read_text().replace("  - fra_Latn", "  - fra_Latn\n  - per_Arab"))
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert (
        "per_Arab" in result.stderr + result.stdout and "pes_Arab" in result.stderr + result.stdout
    )


def test_paper_grid_plans_offline(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "-n", "--configfile", "config/paper.yaml")
    out = result.stdout + result.stderr
    assert "demo-dense" not in out
    for rule, count in (
        ("finetune", 7 * 2 * 3),
        ("evaluate", 7 * 7 * 2 * 7),
        ("download_model", 7),
    ):
        assert any(line.split() == [rule, str(count)] for line in out.splitlines()), rule
