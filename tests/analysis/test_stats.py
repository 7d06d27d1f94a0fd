"""The statistics against hand-computed cases and planted effects."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from xlt.analysis.stats import (
    bootstrap_counts,
    correlation,
    did_from_deltas,
    did_test,
    mcnemar_exact,
    mixed_transfer,
    ols_transfer,
    paired_bootstrap_interval,
    rng_for,
    sign_flip_p,
)


def test_mcnemar_exact_against_hand_computed_values():
    # 1 gained, 6 lost: 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * (1 + 7) / 128
    assert mcnemar_exact(1, 6) == pytest.approx(0.125)
    assert mcnemar_exact(6, 1) == pytest.approx(0.125)
    # 0 against 5: 2 / 32
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)
    # balanced or no discordant pairs: no evidence at all
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


def test_bootstrap_counts_are_resamples_and_seeded():
    counts = bootstrap_counts(7, 50, rng_for(0, "x"))
    assert counts.shape == (50, 7) and (counts.sum(axis=1) == 7).all()
    assert (counts == bootstrap_counts(7, 50, rng_for(0, "x"))).all()
    assert not (counts == bootstrap_counts(7, 50, rng_for(0, "y"))).all()


def test_paired_bootstrap_interval_hand_cases():
    # A constant difference has a degenerate interval.
    assert paired_bootstrap_interval(np.full(10, 0.5), 200, rng_for(0)) == (0.5, 0.5)
    # Two items, differences 0 and 1: resampled means are 0, 0.5, 1 with probability
    # 1/4, 1/2, 1/4, so the 95% percentile interval is [0, 1].
    assert paired_bootstrap_interval(np.array([0.0, 1.0]), 2000, rng_for(0)) == (0.0, 1.0)


def test_sign_flip_p():
    assert sign_flip_p(np.zeros(12), 999, rng_for(0)) == 1.0
    # All 20 items gained: only the all-same-sign flips reach |mean| = 1.
    assert sign_flip_p(np.ones(20), 999, rng_for(0)) < 0.01


def test_did_from_deltas_hand_case():
    deltas = np.array([[0.3, 0.1, 0.0, 0.2], [0.1, 0.1, 0.1, 0.1]])
    semitic = np.array([True, True, False, False])
    # model 1: 0.2 - 0.1 = 0.1; model 2: 0; mean over models 0.05
    assert did_from_deltas(deltas, semitic) == pytest.approx(0.05)
    both = did_from_deltas(deltas, np.array([semitic, ~semitic]))
    assert both == pytest.approx([0.05, -0.05])


def planted_diffs(effect: float, n_items: int = 300, seed: int = 0) -> np.ndarray:
    """Item differences (2 models × 3 Semitic + 4 control languages × items), parallel items."""
    rng = np.random.default_rng(seed)
    item = rng.uniform(-0.15, 0.15, n_items)
    semitic = np.array([True] * 3 + [False] * 4)
    diffs = np.empty((2, 7, n_items))
    for m in range(2):
        for lang in range(7):
            p_base = 0.4 + item
            p_ft = p_base + 0.05 + effect * semitic[lang]
            diffs[m, lang] = (rng.random(n_items) < p_ft) - (rng.random(n_items) < p_base).astype(
                float
            )
    return diffs


SEMITIC_MASK = [True] * 3 + [False] * 4


def test_did_recovers_a_planted_semitic_effect():
    result = did_test(planted_diffs(0.15), SEMITIC_MASK, 1000, rng_for(0, "planted"))
    assert result.ci_low <= 0.15 <= result.ci_high
    assert result.ci_low > 0
    assert result.p_value < 0.01
    assert result.smallest_p == pytest.approx(2 / 1001)
    assert result.estimate == pytest.approx(result.mean_semitic - result.mean_control)


def test_did_claims_nothing_without_a_planted_effect():
    result = did_test(planted_diffs(0.0), SEMITIC_MASK, 1000, rng_for(0, "null"))
    assert result.ci_low <= 0 <= result.ci_high
    assert result.p_value > 0.05


def test_did_needs_both_groups():
    with pytest.raises(ValueError, match="Semitic and control"):
        did_test(planted_diffs(0.1)[:, :3], [True] * 3, 10, rng_for(0))


def test_correlation():
    x = np.arange(10, dtype=float)
    perfect = correlation(x, 2 * x + 1, 200, rng_for(0))
    assert perfect.pearson == pytest.approx(1) and perfect.spearman == pytest.approx(1)
    assert perfect.pearson_low == pytest.approx(1)
    few = correlation([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], 200, rng_for(0))
    assert math.isnan(few.pearson) and few.n == 3
    rng = np.random.default_rng(1)
    noise = correlation(rng.normal(size=40), rng.normal(size=40), 500, rng_for(0))
    assert noise.pearson_low < 0 < noise.pearson_high


def test_ols_recovers_the_semitic_coefficient():
    """Cells whose log-odds gain differs by model (not by base accuracy) plus 0.4 for Semitic
    targets, which start 1 logit lower: the Semitic term of `logit_gain ~ semitic +
    same_script + C(model)` finds the 0.4; the base term is a separate fit."""
    rng = np.random.default_rng(0)
    rows = []
    for model, gain in (("a", 0.2), ("b", 0.5), ("c", 0.9)):
        for lang in range(8):
            semitic = lang < 4
            rows.append(
                {
                    "model": model,
                    "lang": f"l{lang}",
                    "logit_base": -1.0 * semitic + rng.normal(0, 0.3),
                    "semitic": semitic,
                    "same_script": lang in (0, 5),
                    "logit_gain": gain + 0.4 * semitic + rng.normal(0, 0.05),
                }
            )
    terms = {t.term: t for t in ols_transfer(pd.DataFrame(rows))}
    assert terms["semitic"].ci_low <= 0.4 <= terms["semitic"].ci_high
    assert terms["semitic"].p_value < 0.001
    assert terms["semitic"].formula == "logit_gain ~ semitic + same_script + C(model)"
    assert terms["logit_base"].formula == "logit_gain ~ logit_base + C(model)"
    too_few = ols_transfer(pd.DataFrame(rows[:3]))
    assert math.isnan(too_few[0].estimate) and too_few[0].note.startswith("not fitted")


def mixed_items(n_models: int, effect: float, n_items: int = 60, seed: int = 0) -> pd.DataFrame:
    """Binary outcomes from a logistic model with a planted treated × Semitic interaction."""
    rng = np.random.default_rng(seed)
    item = rng.normal(0, 0.8, n_items)
    frames = []
    for m in range(n_models):
        for lang in range(6):
            semitic = int(lang < 3)
            for treated in (0, 1):
                eta = -0.2 + 0.2 * m + item + 0.3 * treated + effect * treated * semitic
                correct = rng.random(n_items) < 1 / (1 + np.exp(-eta))
                frames.append(
                    pd.DataFrame(
                        {
                            "correct": correct.astype(int),
                            "treated": treated,
                            "semitic": semitic,
                            "item": [f"q{i}" for i in range(n_items)],
                            "model": f"m{m}",
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def test_mixed_model_recovers_a_planted_interaction():
    term = mixed_transfer(mixed_items(3, 1.0), "finetuned")
    assert term.term == "finetuned:semitic"
    assert term.formula.endswith("C(model):finetuned + finetuned:semitic; random: item")
    assert term.ci_low <= 1.0 <= term.ci_high and term.ci_low > 0


def test_mixed_model_lets_each_model_have_its_own_treatment_effect():
    term = mixed_transfer(mixed_items(2, 0.0), "cot")
    assert "C(model) + C(model):cot" in term.formula
    assert term.ci_low <= 0 <= term.ci_high


# --- each statistic against the library that provides the method -----------------------------


def test_wilson_interval_is_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    from xlt.analysis.metrics import wilson_interval

    for k, n in [(0, 16), (3, 16), (16, 16), (45, 100)]:
        expected = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-12)


def test_mcnemar_is_scipys_binomial_test():
    for gained, lost in [(0, 3), (5, 1), (7, 7), (20, 9)]:
        expected = sps.binomtest(min(gained, lost), gained + lost, 0.5).pvalue
        assert mcnemar_exact(gained, lost) == pytest.approx(expected, abs=1e-12)


def test_paired_bootstrap_draws_what_scipy_draws():
    diff = np.random.default_rng(3).integers(-1, 2, 60).astype(float)
    ours = paired_bootstrap_interval(diff, 2000, np.random.default_rng(7), 0.9)
    theirs = sps.bootstrap(
        (diff,),
        np.mean,
        n_resamples=2000,
        method="percentile",
        confidence_level=0.9,
        random_state=np.random.default_rng(7),
    ).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=1e-12)


def test_sign_flip_is_scipys_paired_permutation_test():
    diff = np.random.default_rng(5).integers(-1, 2, 80).astype(float) + 0.15
    ours = sign_flip_p(diff, 20000, np.random.default_rng(0))
    theirs = sps.permutation_test(
        (diff,),
        np.mean,
        permutation_type="samples",
        n_resamples=20000,
        random_state=np.random.default_rng(1),
    ).pvalue
    assert ours == pytest.approx(theirs, abs=0.01)  # both Monte Carlo: within sampling error


def test_correlation_intervals_are_scipys_paired_bootstrap():
    rng = np.random.default_rng(2)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    ours = correlation(x, y, 1000, np.random.default_rng(4))
    theirs = sps.bootstrap(
        (x, y),
        lambda a, b, axis: _pearson(a, b, axis),
        paired=True,
        n_resamples=1000,
        method="percentile",
        random_state=np.random.default_rng(4),
    ).confidence_interval
    assert (ours.pearson_low, ours.pearson_high) == pytest.approx(
        (theirs.low, theirs.high), abs=1e-12
    )
    assert ours.pearson == pytest.approx(sps.pearsonr(x, y).statistic)
    assert ours.spearman == pytest.approx(sps.spearmanr(x, y).statistic)


def _pearson(a, b, axis):
    a = a - a.mean(axis=axis, keepdims=True)
    b = b - b.mean(axis=axis, keepdims=True)
    return (a * b).sum(axis=axis) / np.sqrt((a**2).sum(axis=axis) * (b**2).sum(axis=axis))
