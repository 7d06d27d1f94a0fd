"""Tables from synthetic predictions trees with planted effects."""

import json
import math

import pandas as pd
import pytest
from support.synthetic import CONTROL, MODELS, SEMITIC, SOURCE, record, write_tree

from xlt.analysis.cells import items_table, load_cells, scores_table
from xlt.analysis.correlation import ft_vs_cot_table
from xlt.analysis.paired import deltas_table, seed_mean_table
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.transfer import transfer_table
from xlt.discovery import find_cells
from xlt.io import DataError
from xlt.provenance.explain import row_paths
from xlt.study import Cell, StudyFacts

STUDY = StudyFacts(
    sources={"arabic": SOURCE}, models={"weak-a": {"size_b": 4, "architecture": "moe"}}
)
SETTINGS = AnalysisSettings(n_bootstrap=400, n_permutations=1000)
FAST = AnalysisSettings(n_bootstrap=400, n_permutations=1000, mixed_model=False)
N_ITEMS = 80


def build(root, settings=SETTINGS, **kwargs):
    """All tables of a synthetic tree."""
    cells = load_cells(write_tree(root, n_items=N_ITEMS, **kwargs))
    items = items_table(cells)
    scores = scores_table(cells, STUDY)
    means = seed_mean_table(items, STUDY, SETTINGS)
    return {
        "cells": cells,
        "items": items,
        "scores": scores,
        "deltas": deltas_table(items, STUDY, SETTINGS),
        "means": means,
        "transfer": transfer_table(items, scores, STUDY, settings),
        "ft_vs_cot": ft_vs_cot_table(means, SETTINGS),
    }


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return build(tmp_path_factory.mktemp("planted"), FAST, semitic_effect=0.15)


@pytest.fixture(scope="module")
def null(tmp_path_factory):
    return build(tmp_path_factory.mktemp("null"), FAST, semitic_effect=0.0, cot=False, seed=3)


def pooled_did(transfer, contrast="ft", scale="loglik"):
    rows = transfer.query(
        "method == 'did' and level == 'pooled' and contrast == @contrast and scale == @scale"
    )
    assert len(rows) == 1
    return rows.iloc[0]


def test_scores_table_has_a_row_per_cell_with_facts_and_files(planted):
    scores = planted["scores"]
    n_langs = len(SOURCE + SEMITIC + CONTROL)
    assert len(scores) == len(MODELS) * 4 * n_langs  # base, 2 seeds, cot
    row = scores.query("model == 'weak-a' and weights == 'ft-arabic-s1' and lang == 'heb_Hebr'")
    row = row.iloc[0]
    assert (row.size_b, row.architecture, row.source, row.seed) == (4, "moe", "arabic", 1)
    assert (row.group, row.genus, row.script, row.is_source) == (
        "semitic",
        "Semitic",
        "Hebr",
        False,
    )
    assert row.n == N_ITEMS and 0 <= row.accuracy_gen <= 1 and row.format_valid_rate == 1
    assert row.ci_low_loglik <= row.accuracy_loglik <= row.ci_high_loglik
    assert row.predictions_file.endswith("weak-a/ft-arabic-s1/direct/heb_Hebr.jsonl")
    assert scores.query("lang == 'arb_Arab'")["is_source"].all()


def test_deltas_are_paired_and_tested(planted):
    deltas, items = planted["deltas"], planted["items"]
    n_langs = len(SOURCE + SEMITIC + CONTROL)
    assert len(deltas) == len(MODELS) * 2 * n_langs * 2  # seeds × scales
    assert set(deltas["scale"]) == {"loglik", "gen"}
    assert (deltas["delta"] - (deltas["ft_accuracy"] - deltas["base_accuracy"])).abs().max() < 1e-12
    row = deltas.query(
        "model == 'weak-b' and seed == 0 and lang == 'amh_Ethi' and scale == 'loglik'"
    )
    row = row.iloc[0]
    base = items.query("model == 'weak-b' and weights == 'base' and prompting == 'direct'")
    ft = items.query("model == 'weak-b' and weights == 'ft-arabic-s0' and prompting == 'direct'")
    b = base[base["lang"] == "amh_Ethi"].set_index("id")["correct_loglik"]
    f = ft[ft["lang"] == "amh_Ethi"].set_index("id")["correct_loglik"].loc[b.index]
    assert row.n_gained == ((b == 0) & (f == 1)).sum()
    assert row.n_lost == ((b == 1) & (f == 0)).sum()
    assert row.test == "mcnemar_exact" and row.ci_low <= row.delta <= row.ci_high
    assert not math.isnan(row.cot_delta) and row.cot_file.endswith("base/cot/amh_Ethi.jsonl")


def test_mcnemar_on_a_hand_made_pair(tmp_path):
    base = [True, False, False, False, False, False, False, True]
    tuned = [True, True, True, True, True, True, True, True]
    paths = []
    for weights, flags in (("base", base), ("ft-arabic-s0", tuned)):
        path = tmp_path / "m" / weights / "direct" / "heb_Hebr.jsonl"
        path.parent.mkdir(parents=True)
        lines = [
            record(f"q#{i}", "heb_Hebr", "m", weights, "direct", 1, right, None)
            for i, right in enumerate(flags)
        ]
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))
        paths.append(path)
    row = deltas_table(items_table(load_cells(paths)), STUDY, SETTINGS).iloc[0]
    assert (row.n_gained, row.n_lost, row.delta) == (6, 0, 0.75)
    assert row.p_value == pytest.approx(2 / 64)


def test_seed_means_average_the_seeds(planted):
    deltas, means = planted["deltas"], planted["means"]
    assert (means["n_seeds"] == 2).all() and (means["seeds"] == "0;1").all()
    expected = deltas.groupby(["model", "lang", "scale"])["delta"].mean()
    got = means.set_index(["model", "lang", "scale"])["delta"]
    assert (got - expected.loc[got.index]).abs().max() < 1e-12
    assert (means["delta_min"] <= means["delta"] + 1e-12).all()
    assert (means["delta"] <= means["delta_max"] + 1e-12).all()
    assert means["ft_files"].str.count(";").eq(1).all()


def test_transfer_recovers_the_planted_effect(planted):
    transfer = planted["transfer"]
    for scale in ("loglik", "gen"):
        row = pooled_did(transfer, scale=scale)
        assert row.ci_low <= 0.15 <= row.ci_high and row.ci_low > 0
        assert row.p_value == pytest.approx(row.smallest_p)
        assert row.semitic_langs.split(";") == SEMITIC and "arb_Arab" not in row.control_langs
        assert row.excluded_langs == "arb_Arab" and row.n_items == N_ITEMS
    ols = transfer.query("method == 'ols' and level == 'pooled' and term == 'semitic'")
    # In log-odds above chance: the weak models here are near chance, so the interval is wide.
    assert (ols.query("contrast == 'ft'")["estimate"] > 0).all()
    # CoT was planted with no Semitic-specific part.
    cot = pooled_did(transfer, contrast="cot")
    assert cot.ci_low <= 0 <= cot.ci_high


def test_the_mixed_model_sees_the_planted_interaction(planted):
    items = planted["items"].query("prompting == 'direct'").assign(correct_gen=math.nan)
    items = items[items["id"].isin(items["id"].unique()[:50])]
    transfer = transfer_table(items, planted["scores"], STUDY, SETTINGS)
    mixed = transfer.query("method == 'mixed_logit'").set_index("unit")
    assert list(mixed.index) == ["weak", "strong", "all"]
    assert mixed.loc["all", "formula"].endswith(
        "C(model) + C(model):finetuned + finetuned:semitic; random: item"
    )
    assert mixed.loc["all", "ci_low"] > 0 and mixed.loc["all", "term"] == "finetuned:semitic"


def test_transfer_claims_nothing_without_a_planted_effect(null):
    transfer = null["transfer"]
    for scale in ("loglik", "gen"):
        row = pooled_did(transfer, scale=scale)
        assert row.ci_low <= 0 <= row.ci_high and row.p_value > 0.05
    assert "cot" not in set(transfer["contrast"])  # no cot cells: no CoT contrast
    interaction = transfer.query("contrast == 'interaction'")
    assert interaction["estimate"].isna().all()  # one source: only rows saying it needs two


def model_band(transfer):
    return transfer.query("level == 'model'").drop_duplicates("unit").set_index("unit")["band"]


def test_bands_are_fixed_in_advance_by_default_and_say_how(planted):
    transfer = planted["transfer"]
    assert model_band(transfer).to_dict() == {
        "weak-a": "weak",
        "weak-b": "weak",
        "strong-c": "strong",
    }
    assert transfer["band_rule"].str.startswith("fixed threshold").all()
    assert transfer["band_rule"].str.contains(">= 0.5").all()
    band = transfer.query("level == 'band' and unit == 'weak' and method == 'did'").iloc[0]
    assert band.models == "weak-a;weak-b"


def test_a_middle_models_band_depends_on_the_others_only_under_the_median_split(planted):
    """Without strong-c the median split calls weak-b strong; the fixed threshold does not."""
    items = planted["items"].query("model != 'strong-c' and prompting == 'direct'")
    items = items[items["id"].isin(items["id"].unique()[:20])]
    scores = planted["scores"].query("model != 'strong-c'")
    fast = {"n_bootstrap": 100, "mixed_model": False}
    median = transfer_table(items, scores, STUDY, AnalysisSettings(bands="median", **fast))
    fixed = transfer_table(items, scores, STUDY, AnalysisSettings(**fast))
    assert model_band(median)["weak-b"] == "strong"
    assert median["band_rule"].str.startswith("median split (data-driven").all()
    assert model_band(fixed)["weak-b"] == "weak"


def test_a_band_set_per_model_in_the_config_wins(planted):
    items = planted["items"].query("prompting == 'direct'")
    items = items[items["id"].isin(items["id"].unique()[:20])]
    study = StudyFacts(sources=STUDY.sources, models={"weak-a": {"band": "strong"}})
    settings = AnalysisSettings(n_bootstrap=100, mixed_model=False, bands={"threshold": 0.4})
    transfer = transfer_table(items, planted["scores"], study, settings)
    assert model_band(transfer).to_dict() == {
        "weak-a": "strong",
        "weak-b": "weak",
        "strong-c": "strong",
    }
    rule = transfer["band_rule"].iloc[0]
    assert rule.startswith("set per model in the config (weak-a strong)")
    assert ">= 0.4" in rule


def test_a_threshold_leaves_a_band_empty_and_says_so(planted):
    settings = AnalysisSettings(
        n_bootstrap=100, n_permutations=100, band_threshold=0.95, mixed_model=False
    )
    items = planted["items"].query("prompting == 'direct' and lang != 'jpn_Jpan'")
    transfer = transfer_table(items, planted["scores"], STUDY, settings)
    strong = transfer.query("level == 'band' and unit == 'strong'")
    assert len(strong) == 2 and (strong["note"] == "no models in this band").all()  # 2 scales
    assert transfer["band_rule"].str.contains("threshold").all()


def test_ft_vs_cot_correlates_gains_or_says_why_not(planted, null):
    table = planted["ft_vs_cot"]
    cells = table.query("level == 'cells' and scale == 'loglik'").iloc[0]
    assert cells.n == len(MODELS) * len(SEMITIC + CONTROL)
    assert -1 <= cells.pearson_ci_low <= cells.pearson_r <= cells.pearson_ci_high <= 1
    assert table.query("level == 'models'")["note"].str.contains("needs >= 4").all()
    missing = null["ft_vs_cot"]
    assert missing["pearson_r"].isna().all()
    assert missing["note"].str.contains("needs cot cells").all()


def test_rows_name_their_files(planted):
    row = pooled_did(planted["transfer"])
    paths = list(row_paths(row.to_dict()))
    assert len(paths) == len(MODELS) * len(SEMITIC + CONTROL) * 3  # base + 2 seeds
    assert all(p.endswith(".jsonl") for p in paths)


def test_cells_come_from_paths_and_misplaced_files_are_refused(tmp_path):
    cell = Cell.from_path("x/results/predictions/m/ft-arabic-s2/cot/heb_Hebr.jsonl")
    assert cell.key == ("m", "ft-arabic-s2", "cot", "heb_Hebr")
    with pytest.raises(DataError, match="weights"):
        load_cells(["root/m/finetuned/direct/heb_Hebr.jsonl"])
    path = tmp_path / "m" / "base" / "direct" / "heb_Hebr.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record("q#1", "amh_Ethi", "m", "base", "direct", 1, True, None)))
    with pytest.raises(DataError, match="lang"):
        items_table(load_cells([path]))


def test_find_cells_reads_an_external_tree(tmp_path):
    write_tree(tmp_path / "tree", n_items=4, models={"m": (0.4, 0.1)}, cot=False)
    found = find_cells(tmp_path / "tree")
    assert Cell("m", "ft-arabic-s1", "direct", "heb_Hebr") in found
    assert len(found) == 3 * len(SOURCE + SEMITIC + CONTROL)
    assert find_cells(tmp_path / "empty") == []


def test_tables_read_back_from_csv_give_the_same_transfer(planted, tmp_path):
    from xlt.analysis.tables import read_table, write_table

    write_table(planted["items"], tmp_path / "items.csv")
    write_table(planted["scores"], tmp_path / "scores.csv")
    items, scores = read_table(tmp_path / "items.csv"), read_table(tmp_path / "scores.csv")
    settings = AnalysisSettings(n_bootstrap=100, n_permutations=100, mixed_model=False)
    direct = items.query("prompting == 'direct' and weights == 'base' or weights == 'ft-arabic-s0'")
    again = transfer_table(direct, scores, STUDY, settings)
    before = transfer_table(planted["items"].loc[direct.index], planted["scores"], STUDY, settings)
    pd.testing.assert_frame_equal(again, before)
