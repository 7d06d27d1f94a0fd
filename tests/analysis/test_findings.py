"""findings.md is written from the tables, and its verdicts follow the stated rule."""

import pytest
from support.synthetic import SOURCE, write_tree

from xlt.analysis.cells import items_table, load_cells, scores_table
from xlt.analysis.correlation import ft_vs_cot_table
from xlt.analysis.findings import findings_markdown, interval, pp, verdict
from xlt.analysis.paired import seed_mean_table
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.transfer import transfer_table
from xlt.study import StudyFacts


def test_numbers_are_formatted_with_real_minus_signs():
    assert pp(0.008) == "+0.8 pp"
    assert pp(-0.021) == "\u22122.1 pp"
    assert interval(-0.021, 0.036) == "[\u22122.1, 3.6]"


@pytest.mark.parametrize(
    ("estimate", "low", "high", "p", "expected"),
    [
        (0.10, 0.02, 0.18, 0.01, "evidence of Semitic-specific transfer"),
        (-0.10, -0.18, -0.02, 0.01, "evidence that Semitic targets gain less than controls"),
        (0.01, -0.02, 0.04, 0.61, "no evidence"),
        (0.10, 0.02, 0.18, 0.20, "inconclusive"),
    ],
)
def test_verdict_rule(estimate, low, high, p, expected):
    assert verdict(estimate, low, high, p, 0.05).startswith(expected)


def findings(tmp_path, effect, cot):
    cells = load_cells(write_tree(tmp_path, semitic_effect=effect, n_items=120, cot=cot))
    study = StudyFacts(sources={"arabic": SOURCE})
    settings = AnalysisSettings(n_bootstrap=300, n_permutations=1000, mixed_model=False)
    items, scores = items_table(cells), scores_table(cells, study)
    transfer = transfer_table(items, scores, study, settings)
    correlations = ft_vs_cot_table(seed_mean_table(items, study, settings), settings)
    return findings_markdown(transfer, correlations, scores), transfer


def test_a_planted_effect_is_reported_as_evidence(tmp_path):
    text, transfer = findings(tmp_path, 0.2, cot=True)
    pooled = transfer.query("level == 'pooled' and method == 'did' and contrast == 'ft'")
    row = pooled.query("scale == 'loglik'").iloc[0]
    assert f"Semitic-specific transfer (pooled): {pp(row.estimate)}" in text
    assert "evidence of Semitic-specific transfer" in text
    assert "Does fine-tuning help where CoT helps?" in text and "Pearson r" in text
    assert "smallest attainable p of 0.0286" in text  # C(8, 4) = 70 labellings, mirrored


def test_no_planted_effect_no_claim(tmp_path):
    text, _ = findings(tmp_path, 0.0, cot=False)
    line = next(x for x in text.splitlines() if "Semitic-specific transfer (pooled)" in x)
    assert "no evidence" in line
    assert "Not measured in this run: needs cot cells" in text
