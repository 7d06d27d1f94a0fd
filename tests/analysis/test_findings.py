"""findings.md is written from the tables, its headline is language-level, it says when the
design cannot answer and why, and it labels item-level results as conditional."""

import pandas as pd
import pytest
from support.synthetic import SOURCE, language_study, write_tree

from xlt.analysis.cells import items_table, load_cells, scores_table
from xlt.analysis.correlation import FT_VS_COT_COLUMNS, ft_vs_cot_table
from xlt.analysis.findings import findings_markdown, interval, language_verdict, pp
from xlt.analysis.paired import seed_mean_table
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.transfer import transfer_table
from xlt.study import StudyFacts

SETTINGS = AnalysisSettings(n_bootstrap=300, mixed_model=False)
NO_COT = pd.DataFrame(columns=FT_VS_COT_COLUMNS)
HEADLINE = "- **Language level (the headline; question: Do Semitic languages have a larger gain"


def test_numbers_are_formatted_with_real_minus_signs():
    assert pp(0.008) == "+0.8 pp"
    assert pp(-0.021) == "\u22122.1 pp"
    assert interval(-0.021, 0.036) == "[\u22122.1, 3.6]"


FT = "gain from fine-tuning on arabic"


@pytest.mark.parametrize(
    ("estimate", "p", "floor", "counts", "interaction", "expected"),
    [
        (
            0.10,
            0.01,
            0.001,
            (4, 12),
            False,
            f"evidence at the language level that Semitic "
            f"languages have a larger {FT}, in log-odds, than other languages",
        ),
        (
            0.10,
            0.01,
            0.001,
            (4, 12),
            True,
            "Semitic-specific transfer: at the language level, Semitic languages have a larger",
        ),
        (
            0.10,
            0.30,
            0.001,
            (4, 12),
            True,
            "no evidence at the language level of Semitic-specific transfer (Semitic languages",
        ),
        (
            -0.10,
            0.01,
            0.001,
            (4, 12),
            False,
            "evidence at the language level that Semitic languages have a smaller",
        ),
        (0.10, 0.30, 0.001, (4, 12), False, "no evidence at the language level that Semitic"),
        (0.30, 0.10, 0.1, (3, 3), False, "the design cannot answer this at the language level"),
    ],
)
def test_language_verdict_rule(estimate, p, floor, counts, interaction, expected):
    verdict = language_verdict(estimate, p, floor, 0.05, *counts, FT, interaction)
    assert verdict.startswith(expected)
    # Only the source × target interaction is called Semitic-specific transfer.
    called = verdict.startswith("Semitic-specific transfer")
    assert called == (interaction and p <= 0.05 and estimate > 0)
    assert "that Semitic-specific" not in verdict


def test_a_monte_carlo_floor_asks_for_more_draws_not_more_languages():
    from xlt.analysis.findings import cannot_reject_reason

    reason = cannot_reject_reason(8, 12, 0.1, 0.05, n_relabellings=9, exact=False)
    assert "drew 9 relabellings" in reason and "analysis.n_permutations" in reason


def study_findings(**kwargs) -> tuple[str, pd.DataFrame]:
    items, scores, study = language_study(**kwargs)
    transfer = transfer_table(items, scores, study, SETTINGS)
    return findings_markdown(transfer, NO_COT, scores), transfer


def headline(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(HEADLINE))


def item_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("- Item level"))


def test_a_planted_effect_with_enough_languages_is_evidence_at_the_language_level():
    text, transfer = study_findings(n_semitic=6, n_control=12, effect=0.25, sd_lang=0.1)
    assert "evidence at the language level that Semitic languages have a larger" in headline(text)
    meta = transfer.query(
        "level == 'pooled' and method == 'language_meta_logit' and contrast == 'ft'"
    )
    row = meta.iloc[0]
    estimate = f"{row.estimate:+.2f}".replace("-", "\u2212")
    assert f"meta-regression estimate {estimate} log-odds" in text
    points = transfer.query(
        "level == 'pooled' and method == 'language_meta' and contrast == 'ft'"
    ).iloc[0]
    assert "in percentage points (descriptive: headroom alone can make one" in text
    assert f"{pp(points.estimate)}" in text
    assert f"on {int(row.df)} df" in text
    assert "randomization over language labels p < 0.001" in text
    assert "conditional on these 6 + 12 languages" in item_line(text)


def test_no_effect_with_heterogeneous_gains_is_no_evidence_and_the_item_level_is_conditional():
    """Languages differ in gain (sd 0.15) but not by family: the item bootstrap, which holds
    the languages fixed, excludes 0; the headline does not follow it."""
    text, transfer = study_findings(n_semitic=5, effect=0.0, sd_lang=0.15, n_items=80, seed=0)
    did = transfer.query("level == 'pooled' and method == 'did' and contrast == 'ft'").iloc[0]
    assert did.ci_high < 0 or did.ci_low > 0  # the conditional interval excludes 0 here
    assert "no evidence at the language level that Semitic languages" in headline(text)
    line = item_line(text)
    assert line.startswith("- Item level, conditional on these 5 + 12 languages")
    assert "(do these Semitic targets gain more than these controls, for these languages?)" in line
    assert "for these languages only, which does not carry over" in line
    assert "Regression of the cell's log-odds gain (languages fixed)" in text
    assert "(cell-level OLS: languages fixed)]" in text


def test_the_paper_design_cannot_answer_and_says_why():
    text, _ = study_findings(n_semitic=3, n_control=3, effect=0.25)
    line = headline(text)
    assert "the design cannot answer this at the language level" in line
    assert "with 3 Semitic + 3 control languages there are only 20 ways to label" in line
    assert "smallest attainable p is 0.1 > α = 0.05" in line
    assert "More languages, not more items or seeds" in line
    assert "The language-level test cannot reject in this design" in text
    assert "inconclusive" not in text
    assert "conditional on these 3 + 3 languages" in item_line(text)


def test_findings_from_files_state_bands_and_the_missing_interaction(tmp_path):
    cells = load_cells(write_tree(tmp_path, semitic_effect=0.2, n_items=120))
    study = StudyFacts(sources={"arabic": SOURCE})
    items, scores = items_table(cells), scores_table(cells, study)
    transfer = transfer_table(items, scores, study, SETTINGS)
    correlations = ft_vs_cot_table(seed_mean_table(items, study, SETTINGS), SETTINGS)
    text = findings_markdown(transfer, correlations, scores)
    assert "- Bands: fixed threshold: strong if mean base loglik accuracy" in text
    assert "smallest attainable p 0.029" in text  # C(8, 4) = 70 labellings, mirrored
    assert "Does fine-tuning help where CoT helps?" in text and "Pearson r" in text
    assert "Not tested: needs two fine-tuning sources, one Semitic and one not" in text
    assert "Chain-of-thought prompting (base weights)" in text


def test_toy_models_are_named_at_the_top_and_the_numbers_called_plumbing(tmp_path):
    from xlt.analysis.findings import toy_notice

    assert toy_notice([]) == []
    notice = "\n".join(toy_notice(["demo-dense", "demo-moe"]))
    assert "toy models (demo-dense, demo-moe)" in notice and "cannot read" in notice
    assert "config/small-real.yaml" in notice
