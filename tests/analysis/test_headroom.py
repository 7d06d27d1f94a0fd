"""Headroom is not Semitic-specific transfer.

Simulated two-source studies (tests/support/synthetic.py, `headroom_study`) whose gains are set
on the logit scale: Semitic targets start 2 logits lower than the controls, fine-tuning on
arabic helps more than fine-tuning on english everywhere (1.5 against 0.3 logits, differing by
model), CoT helps by model only. With no Semitic-specific effect the source × target
interaction in percentage points is real (headroom) but the log-odds test, which gives the
"Semitic-specific transfer" verdict, keeps its size; a planted Semitic-specific logit effect is
found. The OLS and mixed rows keep their size under headroom alone.

Replicate counts are small to stay fast (at a true rate of 0.05, 3 or more rejections in 12
happen with probability 0.02); benchmarks/bench_headroom.py runs the same with more.
"""

from __future__ import annotations

import pandas as pd
from support.synthetic import headroom_study

from xlt.analysis.cells import ItemIndex
from xlt.analysis.findings import findings_markdown
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.stats import mixed_transfer
from xlt.analysis.transfer import build_unit, contrasts, transfer_table

FAST = AnalysisSettings(n_bootstrap=100, mixed_model=False)
ALPHA = 0.05
CALLED = "): Semitic-specific transfer: at the language level"
UNEQUAL = {"arabic": 1.5, "english": 0.3}


def pooled(transfer: pd.DataFrame, contrast: str, method: str, term: str | None = None):
    rows = transfer.query(
        "level == 'pooled' and scale == 'loglik' and contrast == @contrast and method == @method"
    )
    if contrast != "cot":
        rows = rows[rows["source"] == "arabic"]
    if term is not None:
        rows = rows[rows["term"] == term]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def rejected(row: pd.Series) -> bool:
    return bool(row["p_value"] <= ALPHA)


def test_headroom_with_unequal_sources_is_not_called_semitic_specific():
    """No Semitic-specific effect, 12 studies: the percentage-point interaction is real and
    its language-level test rejects in most; the log-odds test, and so the verdict, does not."""
    replicates, pp_rejections, logit_rejections, called = 12, 0, 0, 0
    for r in range(replicates):
        items, scores, study = headroom_study(seed=1000 + r, cot_gain=None, gains=UNEQUAL)
        transfer = transfer_table(items, scores, study, FAST)
        pp_rejections += rejected(pooled(transfer, "interaction", "language_randomization"))
        logit = pooled(transfer, "interaction", "language_randomization_logit")
        logit_rejections += rejected(logit)
        text = findings_markdown(transfer, pd.DataFrame(), scores, alpha=ALPHA)
        called += CALLED in text
    assert pp_rejections >= 8, pp_rejections
    assert logit_rejections <= 2, logit_rejections
    assert called <= logit_rejections


def test_a_planted_semitic_specific_logit_effect_is_found_with_two_sources():
    """0.7 logits more from arabic for Semitic targets only, languages differing in gain
    (sd 0.15 logits per source): found in most of 8 studies, and called Semitic-specific."""
    replicates, found, called = 8, 0, 0
    for r in range(replicates):
        items, scores, study = headroom_study(
            seed=2000 + r, cot_gain=None, effects={"arabic": 0.7}, sd_lang=0.15
        )
        transfer = transfer_table(items, scores, study, FAST)
        row = pooled(transfer, "interaction", "language_randomization_logit")
        found += rejected(row) and row["estimate"] > 0
        text = findings_markdown(transfer, pd.DataFrame(), scores, alpha=ALPHA)
        called += CALLED in text
    assert found >= 6, found
    assert called == found


def test_the_ols_and_mixed_rows_keep_their_size_under_headroom_alone():
    """CoT gains that depend only on the model, Semitic targets 2 logits lower: the cell-level
    OLS (log-odds gain above chance, model held fixed) rejects at about the nominal rate over
    12 studies with a guessing floor of 1/4; the item-level mixed model (each model its own
    treatment effect; a logit link with no guessing floor) over 12 studies without one."""
    replicates, ols, mixed = 12, 0, 0
    for r in range(replicates):
        items, scores, study = headroom_study(
            seed=3000 + r, n_control=8, n_items=60, gains={"arabic": 1.0}
        )
        transfer = transfer_table(items, scores, study, FAST)
        ols += rejected(pooled(transfer, "cot", "ols", term="semitic"))
        items, scores, study = headroom_study(
            seed=3000 + r, n_control=8, n_items=60, gains={"arabic": 1.0}, chance=0.0
        )
        index = ItemIndex(items)
        cot = next(c for c in contrasts(index, study) if c.name == "cot")
        models = sorted(items["model"].unique())
        unit = build_unit(index, study, cot, models, "loglik")
        term = mixed_transfer(unit.items(index, cot, "loglik"), "cot", seed=r)
        mixed += term.p_value <= ALPHA
    assert ols <= 2, ols
    assert mixed <= 2, mixed


def test_every_contrast_uses_the_same_languages_and_findings_names_them_once():
    items, scores, study = headroom_study(seed=7, n_control=6, n_items=40)
    transfer = transfer_table(items, scores, study, FAST)
    language = transfer[transfer["method"] == "language_randomization"]
    assert set(language["contrast"]) == {"ft", "cot", "interaction"}
    assert language["semitic_langs"].nunique() == 1
    assert language["control_langs"].nunique() == 1
    assert set(language["excluded_langs"].iloc[0].split(";")) == {"arb_Arab", "eng_Latn"}
    assert "eng_Latn" not in language["control_langs"].iloc[0]
    text = findings_markdown(transfer, pd.DataFrame(), scores, alpha=ALPHA)
    assert text.count("heb_Hebr") == 1
    assert text.count("## Is there Semitic-specific transfer?") == 1
    interaction = text.index("## Is there Semitic-specific transfer?")
    assert text.index("### Fine-tuning on arabic") < interaction
    assert text.index("### Chain-of-thought") < interaction
    assert "### Source × target interaction" in text[interaction:]
    assert "evidence at the language level that Semitic-specific" not in text
