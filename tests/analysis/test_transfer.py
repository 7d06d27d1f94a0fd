"""transfer_table's two questions: language-level rows (languages random) keep their size when
languages differ in gain and find a planted family effect; item-level rows are labelled
conditional; the source × target interaction and matrix; every p-value names its question.

Replicate counts here are small to stay fast; benchmarks/bench_language_level.py runs the
same scenarios with hundreds of replicates.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from support.synthetic import SEMITIC, SOURCE, language_study, write_tree

from xlt.analysis.cells import items_table, load_cells, scores_table
from xlt.analysis.matrix import transfer_matrix_table
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.transfer import transfer_table
from xlt.study import StudyFacts

FAST = AnalysisSettings(n_bootstrap=200, mixed_model=False)
TWO_SOURCES = StudyFacts(sources={"arabic": SOURCE, "english": ["eng_Latn"]})


def pooled(transfer: pd.DataFrame, method: str, contrast: str = "ft") -> pd.Series:
    """The pooled loglik row of a method for the arabic source (or its interaction)."""
    rows = transfer.query(
        "level == 'pooled' and contrast == @contrast and method == @method"
        " and scale == 'loglik' and source == 'arabic'"
    )
    assert len(rows) == 1
    return rows.iloc[0]


def rejections(replicates: int, seed: int, **study) -> dict[str, int]:
    """How often each pooled test rejects at 0.05 over simulated studies."""
    counts = dict.fromkeys(
        [
            "language_meta",
            "language_randomization",
            "language_meta_logit",
            "language_randomization_logit",
            "did",
        ],
        0,
    )
    for r in range(replicates):
        items, scores, facts = language_study(seed=seed + r, **study)
        transfer = transfer_table(items, scores, facts, FAST)
        for method in counts:
            counts[method] += int(pooled(transfer, method)["p_value"] <= 0.05)
    return counts


def test_a_planted_family_effect_is_found_at_the_language_level():
    """5 Semitic + 12 controls, languages differing in gain (sd 0.1), effect 0.25: 8 studies."""
    counts = rejections(8, 0, n_semitic=5, effect=0.25, sd_lang=0.1, n_items=40)
    assert counts["language_randomization"] >= 6, counts
    assert counts["language_meta"] >= 6, counts


def test_without_a_family_effect_the_language_level_keeps_its_size():
    """No Semitic effect, languages differing in gain (sd 0.15): the language-level tests reject
    at about the nominal rate (3 or more of 16 at a true 0.05 happens with probability 0.04),
    the item-level DiD, which holds the languages fixed, far more often."""
    counts = rejections(16, 100, n_semitic=5, effect=0.0, sd_lang=0.15, n_items=80)
    assert counts["language_meta"] <= 2, counts
    assert counts["language_randomization"] <= 2, counts
    assert counts["language_meta_logit"] <= 2, counts
    assert counts["language_randomization_logit"] <= 2, counts
    assert counts["did"] >= 6, counts


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    paths = write_tree(root, n_items=60, cot=False, sources={"arabic": 0.15, "english": 0.0})
    cells = load_cells(paths)
    items = items_table(cells)
    return items, scores_table(cells, TWO_SOURCES)


def test_every_p_value_names_its_question(two_sources):
    items, scores = two_sources
    transfer = transfer_table(items, scores, TWO_SOURCES, FAST)
    with_p = transfer[transfer["p_value"].notna()]
    assert with_p["question"].str.len().gt(20).all()
    language = with_p[with_p["method"].str.startswith("language_")]
    assert language["question"].str.contains(r"\(language-level: languages random\)").all()
    assert language["estimand"].str.contains("languages as random").all()
    conditional = with_p[with_p["method"].isin(["did", "ols"])]
    assert conditional["question"].str.contains("languages fixed").all()
    did = transfer.query("method == 'did' and p_value.notna()")
    assert did["note"].str.startswith("conditional on the chosen languages").all()
    assert did["test"].str.contains("languages fixed").all()
    ols = transfer.query("method == 'ols'")
    assert ols["test"].str.contains("languages fixed").all()
    assert ols["test"].str.contains("ignore that cells share models and languages").all()


def test_language_rows_give_the_smallest_attainable_p(two_sources):
    items, scores = two_sources
    transfer = transfer_table(items, scores, TWO_SOURCES, FAST)
    random = pooled(transfer, "language_randomization")
    # arabic: targets are 4 Semitic + 3 controls (eng_Latn, a source language of the study,
    # is in no contrast): C(7, 4) = 35.
    assert (random.n_semitic, random.n_control) == (4, 3)
    assert random.smallest_p == pytest.approx(1 / 35)
    assert "exact, 35 relabellings" in random.test
    meta = pooled(transfer, "language_meta")
    assert meta.df == 5 and meta.ci_low <= meta.estimate <= meta.ci_high
    assert meta.ci_low > 0  # the planted 0.15 for arabic


def test_the_interaction_of_two_sources_is_tested_at_the_language_level(two_sources):
    items, scores = two_sources
    transfer = transfer_table(items, scores, TWO_SOURCES, FAST)
    meta = pooled(transfer, "language_meta", contrast="interaction")
    assert meta.source == "arabic" and meta.reference == "fine-tuned on english"
    assert set(meta.excluded_langs.split(";")) == {"arb_Arab", "eng_Latn"}
    assert (meta.n_semitic, meta.n_control) == (4, 3)
    assert meta.ci_low <= 0.15 <= meta.ci_high and meta.ci_low > 0
    assert "rather than on english" in meta.question
    random = pooled(transfer, "language_randomization", contrast="interaction")
    assert random.smallest_p == pytest.approx(1 / 35)
    # english on its own has no Semitic-specific effect planted.
    english = transfer.query(
        "level == 'pooled' and source == 'english' and contrast == 'ft' and scale == 'loglik'"
        " and method == 'language_meta'"
    ).iloc[0]
    assert english.ci_low <= 0 <= english.ci_high


def test_the_matrix_has_every_source_and_target_and_the_interaction(two_sources):
    items, _ = two_sources
    matrix = transfer_matrix_table(items, TWO_SOURCES, FAST)
    cells = matrix.query("kind == 'cell' and scale == 'loglik'")
    assert len(cells) == 2 * 9  # sources × (source language + 4 Semitic + 4 controls)
    heb = cells.query("source == 'arabic' and lang == 'heb_Hebr'").iloc[0]
    base = items.query("lang == 'heb_Hebr' and prompting == 'direct'")
    by_weights = base.groupby("weights")["correct_loglik"].mean()
    expected = (by_weights["ft-arabic-s0"] + by_weights["ft-arabic-s1"]) / 2 - by_weights["base"]
    assert heb.mean_delta == pytest.approx(expected)
    assert heb.ci_low <= heb.mean_delta <= heb.ci_high and heb.n_models == 3
    assert len(heb.predictions_files.split(";")) == 3 * 3  # models × (base + 2 seeds)
    own = cells.query("lang == 'eng_Latn'").set_index("source")["is_source"]
    assert own.to_dict() == {"arabic": False, "english": True}
    interaction = matrix.query("kind == 'interaction' and scale == 'loglik'").iloc[0]
    assert (interaction.source, interaction.reference) == ("arabic", "english")
    assert interaction.ci_low <= 0.15 <= interaction.ci_high
    assert interaction.smallest_p == pytest.approx(1 / 35)
    assert interaction.logit_estimate > 0 and np.isfinite(interaction.logit_p_randomization)


def test_with_one_source_the_matrix_says_the_interaction_needs_two(tmp_path):
    cells = load_cells(write_tree(tmp_path, n_items=20, cot=False, models={"m": (0.4, 0.1)}))
    study = StudyFacts(sources={"arabic": SOURCE})
    items = items_table(cells)
    matrix = transfer_matrix_table(items, study, FAST)
    assert set(matrix.query("kind == 'cell'")["lang"]) == {*SOURCE, *SEMITIC} | set(
        matrix.query("kind == 'cell' and group == 'control'")["lang"]
    )
    note = matrix.query("kind == 'interaction'")["note"]
    assert len(note) == 2 and note.str.startswith("needs two sources").all()
    transfer = transfer_table(items, scores_table(cells, study), study, FAST)
    missing = transfer.query("contrast == 'interaction'")
    assert missing["note"].str.contains("needs two fine-tuning sources").all()
    assert missing["estimate"].isna().all()


def test_too_few_languages_are_not_tested_at_the_language_level():
    items, scores, study = language_study(n_semitic=1, n_control=1, n_items=20)
    transfer = transfer_table(items, scores, study, FAST)
    random = pooled(transfer, "language_randomization")
    assert math.isnan(random.p_value) and random.note.startswith("not tested")
    did = pooled(transfer, "did")
    assert np.isfinite(did.p_value)  # the conditional question can still be asked
