"""xlt cost: the arithmetic of the price (sizes, FLOPs, bandwidth, schedule), not timings."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from xlt import cli
from xlt.config import CHECKOUT_SCHEMA as SCHEMA
from xlt.config import apply_defaults
from xlt.cost import (
    Assumptions,
    CostError,
    Job,
    PilotRates,
    estimate_finetune_seconds,
    estimate_item_seconds,
    price,
    price_rows,
    read_pilot,
    report,
    study_jobs,
    train_examples,
    train_steps,
    train_tokens,
    wall_seconds,
)
from xlt.study import Study

# Round numbers: 1 TFLOP/s at 100% utilisation, 1 GB/s, loading at 1 GB/s.
ROUND = Assumptions(
    gpu_tflops=1.0, gpu_mem_bw_gbs=1.0, mfu=1.0, load_gbs=1.0, prompt_tokens=98, cot_fraction=0.5
)


def config(**model_overrides) -> dict:
    model = {
        "hub_id": "org/m",
        "size_b": 1,
        "architecture": "dense",
        "chat": False,
        "dtype": "bfloat16",
        "resources": {
            "finetune": {"gpus": 2, "runtime": 60},
            "evaluate": {"gpus": 1, "runtime": 1},
        },
        **model_overrides,
    }
    return {
        "data": {"source": "hub", "reference": "eng_Latn", "n_test": 100, "split_seed": 0},
        "templates_file": "config/templates.yaml",
        "prompts": {"direct": "belebele_num", "cot": "belebele_cot"},
        "languages": ["heb_Hebr", "fra_Latn"],
        "sources": {"arabic": ["arb_Arab", "arz_Arab"]},
        "seeds": [0, 1],
        "prompting": ["direct", "cot"],
        "models": {"m": model},
        "finetune": {
            "lora": {"r": 8},
            "train": {"epochs": 2, "batch_size": 8, "gradient_checkpointing": False},
        },
        "evaluate": {
            "batch_size": 4,
            "max_new_tokens": {"direct": 8, "cot": 100},
            "extraction": "lenient",
        },
    }


def study(**model_overrides) -> Study:
    filled = apply_defaults(config(**model_overrides), SCHEMA, fill_rule_params=True)
    return Study.from_config(filled)


def test_hub_sources_have_900_items_a_language_less_the_test_split():
    assert train_examples(study(), "arabic") == 2 * (900 - 100)


def test_steps_and_tokens_follow_epochs_and_max_steps():
    train = {"batch_size": 8, "epochs": 2, "max_steps": None}
    assert train_steps(1600, train) == 400
    assert train_steps(1601, train) == 402
    assert train_steps(1600, train | {"max_steps": 10}) == 10
    assert train_tokens(1600, train, 100) == 320_000
    assert train_tokens(1600, train | {"max_steps": 10}, 100) == 8_000


def test_finetune_estimate_is_6_n_tokens_over_the_gpus_plus_loading():
    s = study()
    tokens = 1600 * 2 * 100  # examples × epochs × (98 prompt + 2 answer tokens)
    load = 1e9 * 2 / 1e9  # bf16 weights at 1 GB/s
    expected = load + 6 * 1e9 * tokens / (2 * 1e12)
    assert estimate_finetune_seconds(s, "m", tokens, ROUND) == pytest.approx(expected)
    checkpointed = study(train={"gradient_checkpointing": True})
    assert estimate_finetune_seconds(checkpointed, "m", tokens, ROUND) == pytest.approx(
        load + 8 * 1e9 * tokens / (2 * 1e12)
    )


def test_item_estimate_is_prefill_flops_plus_bandwidth_bound_decoding():
    s = study()
    # direct: the prompt twice (generation, label scoring); 8 tokens decoded, the 2 GB of
    # weights read once a step for a batch of 4.
    direct = 2 * 1e9 * (2 * 98) / 1e12 + 8 * 2e9 / 1e9 / 4
    assert estimate_item_seconds(s, "m", "direct", ROUND) == pytest.approx(direct)
    # cot: half of 100 new tokens; scoring reads prompt + generation again.
    cot = 2 * 1e9 * (2 * 98 + 50) / 1e12 + 50 * 2e9 / 1e9 / 4
    assert estimate_item_seconds(s, "m", "cot", ROUND) == pytest.approx(cot)


def test_moe_decoding_reads_active_weights_per_token_of_the_batch_at_most_all():
    moe = study(architecture="moe", size_b=10, active_b=1)
    # A batch of 4 touches at most 4 × 1B active parameters (of 10B), bf16.
    decode = 8 * (4 * 1e9 * 2) / 1e9 / 4
    prefill = 2 * 1e9 * (2 * 98) / 1e12
    assert estimate_item_seconds(moe, "m", "direct", ROUND) == pytest.approx(prefill + decode)


def test_moe_without_active_parameters_is_refused_with_what_to_add():
    with pytest.raises(CostError, match="active_b"):
        study_jobs(study(architecture="moe", size_b=10), ROUND)


def test_jobs_cells_and_dependencies_of_the_grid():
    jobs = study_jobs(study(), ROUND)
    finetunes = [j for j in jobs if j.rule == "finetune"]
    evaluations = [j for j in jobs if j.rule == "evaluate"]
    assert [j.name for j in finetunes] == ["ft-arabic-s0", "ft-arabic-s1"]
    assert len(evaluations) == 3 * 2 * 2  # weights × promptings × languages
    assert {j.after for j in evaluations} == {
        None,
        "finetune/m/ft-arabic-s0",
        "finetune/m/ft-arabic-s1",
    }
    assert all(j.gpus == 2 for j in finetunes) and all(j.gpus == 1 for j in evaluations)
    direct = next(j for j in evaluations if j.name == "base/direct/heb_Hebr")
    assert direct.seconds == pytest.approx(
        2 + 100 * estimate_item_seconds(study(), "m", "direct", ROUND)
    )


def test_pilot_rates_replace_the_estimate():
    rates = PilotRates(
        "m",
        load_s=10,
        train_tokens_per_s=1000,
        train_tokens_per_example=50,
        items_per_s={"direct": 2.0, "cot": 0.5},
    )
    jobs = study_jobs(study(), ROUND, {"m": rates})
    finetune = next(j for j in jobs if j.rule == "finetune")
    assert finetune.basis == "pilot"
    assert finetune.seconds == pytest.approx(10 + 1600 * 2 * 50 / 1000)
    cot = next(j for j in jobs if j.name == "base/cot/fra_Latn")
    assert cot.seconds == pytest.approx(10 + 100 / 0.5)


def test_read_pilot_keeps_passed_models_only(tmp_path):
    passed = {
        "model": "m",
        "status": "pass",
        "load_s": 1,
        "train_tokens_per_s": 5,
        "train_tokens_per_example": 7,
        "items_per_s": {"direct": 1, "cot": 0.1},
    }
    (tmp_path / "m.json").write_text(json.dumps(passed))
    (tmp_path / "x.json").write_text(json.dumps({"model": "x", "status": "fail", "error": "boom"}))
    assert set(read_pilot(tmp_path)) == {"m"}


def test_schedule_respects_the_job_limit_and_dependencies():
    jobs = [
        Job("finetune", "m", "a", 10, 1),
        Job("evaluate", "m", "x", 5, 1, after="finetune/m/a"),
        Job("evaluate", "m", "y", 4, 1),
        Job("evaluate", "m", "z", 3, 1),
    ]
    assert wall_seconds(jobs) == 15  # x waits for a
    assert wall_seconds(jobs, 1) == 22  # one at a time: the sum
    assert wall_seconds(jobs, 2) == 15  # a | y then z, x after a


def test_price_totals_and_runtime_flags():
    result = price(study(), None, ROUND)
    assert result.gpu_hours == pytest.approx(sum(j.seconds * j.gpus for j in result.jobs) / 3600)
    assert result.by_rule["finetune"]["jobs"] == 2
    # evaluate requests 1 minute; a cot cell takes longer, so it is flagged.
    assert result.by_rule["evaluate"]["over_runtime"] > 0
    text = report(result, "c.yaml")
    assert "basis: estimate" in text and "total:" in text and "past their requested runtime" in text


def test_price_table_rows_sum_to_the_totals_and_name_unpriced_models():
    both = config()
    both["models"]["unsized"] = {**both["models"]["m"], "size_b": None}
    del both["models"]["unsized"]["size_b"]
    result = price(
        Study.from_config(apply_defaults(both, SCHEMA, fill_rule_params=True)), None, ROUND
    )
    assert result.unpriced == {
        "unsized": "models.unsized: no size_b; give its size (and "
        "active_b for a MoE) or run a pilot."
    }
    rows = {(row["model"], row["rule"]): row for row in price_rows(result)}
    assert set(rows) == {
        ("m", "finetune"),
        ("m", "evaluate"),
        ("total", "finetune"),
        ("total", "evaluate"),
    }
    for rule in ("finetune", "evaluate"):
        assert rows[("total", rule)]["gpu_hours"] == pytest.approx(rows[("m", rule)]["gpu_hours"])
        assert rows[("m", rule)]["basis"] == "estimate"
    assert rows[("m", "finetune")]["gpus_a_job"] == 2
    assert sum(rows[("m", r)]["share_of_gpu_hours"] for r in ("finetune", "evaluate")) == (
        pytest.approx(1.0)
    )
    assert "not priced: unsized: models.unsized: no size_b" in report(result)


def test_cli_prints_the_price(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config()))
    assert cli.main(["cost", str(path), "--jobs", "2", "--json", "--mfu", "0.5"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["max_jobs"] == 2 and record["assumptions"]["mfu"] == 0.5
    assert not math.isclose(record["gpu_hours"], 0)
