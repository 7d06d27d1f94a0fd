"""Typological distances from URIEL (lang2vec, offline) and the language-level regression of the
gain on distance and base accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support.synthetic import language_study

from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.typology import (
    DISTANCES,
    cosine_distance,
    distance_table,
    typology_table,
    uriel_code,
)


def test_belebele_codes_map_to_uriel_with_stated_fallbacks():
    known = {"heb", "lav", "cmn"}
    assert uriel_code("heb_Hebr", known) == ("heb", "")
    code, note = uriel_code("lvs_Latn", known)
    assert code == "lav" and "lvs not in URIEL: lav used" in note
    assert uriel_code("kea_Latn", known)[0] is None


def test_cosine_distance():
    assert cosine_distance([1, 0, 1], [1, 0, 1]) == pytest.approx(0.0, abs=1e-12)
    assert cosine_distance([1, 0], [0, 1]) == 1.0
    assert np.isnan(cosine_distance([0, 0], [1, 1]))


def test_distances_from_uriel_say_what_they_used():
    pytest.importorskip("lang2vec")
    sets = {"syntactic": DISTANCES["syntactic"], "geographic": DISTANCES["geographic"]}
    langs = ["arb_Arab", "heb_Hebr", "jpn_Jpan", "zho_Hans", "kea_Latn"]
    table = distance_table(langs, {"arabic": ["arb_Arab"]}, sets).set_index("lang")
    assert table.loc["arb_Arab", "syntactic"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["arb_Arab", "uriel_code"] == "arb"  # in URIEL 1.1.2: no fallback needed
    # Hebrew is closer to Arabic than Japanese is, in word order and on the map.
    assert table.loc["heb_Hebr", "syntactic"] < table.loc["jpn_Jpan", "syntactic"]
    assert table.loc["heb_Hebr", "geographic"] < table.loc["jpn_Jpan", "geographic"]
    assert table.loc["zho_Hans", "uriel_code"] == "cmn"
    assert "zho not in URIEL: cmn used" in table.loc["zho_Hans", "note"]
    assert np.isnan(table.loc["kea_Latn", "syntactic"])
    assert "no distance" in table.loc["kea_Latn", "note"]
    assert bool(table.loc["arb_Arab", "is_source"]) and table.loc["heb_Hebr", "group"] == "semitic"


def test_the_regression_recovers_a_gain_that_falls_with_distance():
    """Distances built so that farther languages gained less: the distance slope is negative
    with language as the unit; a language without a distance is left out and said so."""
    items, _, study = language_study(n_semitic=4, n_control=10, sd_lang=0.12, seed=4)
    direct = items[items["prompting"] == "direct"]
    acc = direct.groupby(["lang", "weights"])["correct_loglik"].mean().unstack()
    gain = (acc.drop(columns="base").mean(axis=1) - acc["base"]).drop("arb_Arab")
    rng = np.random.default_rng(0)
    distance = 0.5 - 2.0 * gain + rng.normal(0, 0.01, len(gain))
    distance.iloc[-1] = np.nan
    distances = pd.DataFrame(
        {"source": "arabic", "lang": distance.index, "syntactic": distance.to_numpy()}
    )
    table = typology_table(items, distances, study, AnalysisSettings())
    row = table.query("term == 'distance'").iloc[0]
    assert row.primary and row.feature_set == "syntax_knn" and row.scale == "loglik"
    assert row.estimate < 0 and row.ci_high < 0 and row.p_value < 0.01
    assert row.k == len(gain) - 1 and row.left_out == gain.index[-1]
    assert row.df == row.k - 3  # intercept, distance, base accuracy
    assert "arb_Arab" not in row.langs.split(";")
    assert "(language-level: languages random)" in row.question
    base = table.query("term == 'base_accuracy'").iloc[0]
    assert base.units == "accuracy per unit base accuracy"


def test_too_few_languages_with_a_distance_are_not_fitted():
    items, _, study = language_study(n_semitic=2, n_control=2, seed=1)
    distances = pd.DataFrame(
        {"source": "arabic", "lang": ["heb_Hebr", "amh_Ethi", "fra_Latn"], "syntactic": 0.3}
    )
    table = typology_table(items, distances, study, AnalysisSettings())
    assert table["estimate"].isna().all()
    assert table["note"].str.contains("3 languages with a distance; 4 are needed").all()
