"""Language-level inference: validity under between-language heterogeneity, power with enough
languages, feasibility of the randomization test, and pins to statsmodels and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from xlt.analysis import language_level as ll
from xlt.analysis.power import Design, reject_item_bootstrap, simulate


def studies(design: Design, replicates: int, seed: int) -> np.ndarray:
    return simulate(design, replicates, np.random.default_rng(seed))


def heterogeneous_meta(k: int = 12, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Gains with clear between-language spread (τ² well above 0) and unequal variances."""
    rng = np.random.default_rng(seed)
    variances = rng.uniform(0.0005, 0.003, k)
    gains = rng.normal(0.1, 0.08, k) + rng.normal(0.0, np.sqrt(variances))
    return gains, variances


# ---------------------------------------------------------------------------------------------
# Behaviour on simulated studies.


def test_planted_effect_is_found_with_4_semitic_and_12_controls():
    design = Design(n_semitic=4, n_control=12, effect=0.8, sd_lang=0.3)
    diffs = studies(design, 20, seed=11)
    results = [ll.language_level_test(d, design.semitic) for d in diffs]
    meta = sum(r.p_value <= 0.05 for r in results)
    randomization = sum(r.randomization.p_value <= 0.05 for r in results)
    assert meta >= 15, f"meta-regression rejected {meta}/20"
    assert randomization >= 15, f"randomization rejected {randomization}/20"
    assert all(r.estimate > 0 and r.k_semitic == 4 and r.k_control == 12 for r in results)
    assert all(r.randomization.exact and r.randomization.n_relabellings == 1820 for r in results)


def test_no_semitic_effect_with_heterogeneous_gains_rejects_at_nominal_rate():
    """The contrast: the item bootstrap, conditional on the chosen languages, calls ordinary
    between-language differences in gain a Semitic effect; the language-level tests do not.

    80 replicates: at a true rate of 0.05, 9 or more rejections happen with probability 0.02.
    """
    design = Design(n_semitic=4, n_control=12, effect=0.0, sd_lang=0.3)
    diffs = studies(design, 80, seed=5)
    results = [ll.language_level_test(d, design.semitic) for d in diffs]
    meta = sum(r.p_value <= 0.05 for r in results)
    randomization = sum(r.randomization.p_value <= 0.05 for r in results)
    rng = np.random.default_rng(1)
    bootstrap = int(reject_item_bootstrap(diffs, design.semitic, 0.05, rng).sum())
    assert meta <= 8, f"meta-regression rejected {meta}/80 with no effect"
    assert randomization <= 8, f"randomization rejected {randomization}/80 with no effect"
    assert bootstrap >= 20, f"item bootstrap rejected only {bootstrap}/80"
    assert bootstrap >= 3 * max(meta, randomization, 1)
    assert np.median([r.tau2 for r in results]) > 0


def test_three_plus_three_randomization_cannot_reject():
    feasible = ll.can_reject(3, 3, 0.05)
    assert feasible.smallest_p == pytest.approx(0.1)
    assert feasible.n_relabellings == 20
    assert not feasible.randomization_can_reject
    assert feasible.t_can_reject and feasible.t_df == 4
    assert ll.can_reject(3, 4).randomization_can_reject
    assert ll.can_reject(3, 3, alternative="greater").smallest_p == pytest.approx(0.05)
    assert not ll.can_reject(1, 1).t_can_reject


def test_three_plus_three_smallest_p_is_attained():
    """Gains ordered perfectly by family reach exactly the smallest p and no lower."""
    gains = np.array([0.30, 0.31, 0.29, 0.0, 0.02, 0.01])
    semitic = np.array([True, True, True, False, False, False])
    result = ll.randomization_test(gains, semitic)
    assert result.exact and result.n_relabellings == 20
    assert result.p_value == pytest.approx(0.1) == result.smallest_p


def test_meta_regression_recovers_planted_slope():
    rng = np.random.default_rng(8)
    k, slope = 40, 0.15
    distance = rng.uniform(0, 1, k)
    base = rng.uniform(0.3, 0.8, k)
    variances = rng.uniform(0.0004, 0.002, k)
    gains = (
        0.02
        + slope * distance
        - 0.1 * base
        + rng.normal(0, 0.03, k)
        + rng.normal(0, np.sqrt(variances))
    )
    X = np.column_stack([distance, base])
    fit = ll.meta_regression(gains, variances, X, ["distance", "base_accuracy"])
    term = fit.term("distance")
    assert term.ci_low < slope < term.ci_high
    assert term.estimate == pytest.approx(slope, abs=3 * term.se)
    assert term.p_value < 0.01 and term.df == k - 3
    assert list(fit.frame().index) == ["intercept", "distance", "base_accuracy"]


def test_meta_regression_interval_covers_slope_at_nominal_rate():
    rng = np.random.default_rng(9)
    R, k, slope = 400, 10, 0.1
    x = rng.uniform(0, 1, k)
    X = np.column_stack([np.ones(k), x])
    v = rng.uniform(0.0005, 0.002, (R, k))
    y = slope * x + rng.normal(0, 0.05, (R, k)) + rng.normal(0, np.sqrt(v))
    fit = ll.fit_meta_batch(y, v, X)
    crit = stats.t.isf(0.025, fit.df)
    covered = np.abs(fit.beta[:, 1] - slope) <= crit * fit.se[:, 1]
    assert 0.91 <= covered.mean() <= 0.99


def test_missing_model_language_cells_are_filled_additively():
    """With additive cell means, dropping a cell leaves every language's gain unchanged."""
    rng = np.random.default_rng(2)
    lang, model = rng.normal(0.1, 0.05, 5), rng.normal(0.0, 0.1, 4)
    noise = rng.normal(0, 0.3, (1, 5, 50))
    diffs = lang[None, :, None] + model[:, None, None] + noise
    full = ll.language_gains(diffs)
    diffs[1, 2] = np.nan
    diffs[3, 0] = np.nan
    partial = ll.language_gains(diffs)
    np.testing.assert_allclose(partial.gains, full.gains, atol=1e-12)
    assert list(partial.n_models) == [3, 4, 3, 4, 4]
    naive = np.nanmean(diffs, axis=(0, 2))
    assert not np.allclose(naive, full.gains)


def test_bad_inputs_are_refused():
    diffs = np.zeros((2, 3, 10))
    with pytest.raises(ValueError, match="both Semitic and control"):
        ll.language_level_test(diffs, [True, True, True])
    diffs[0, 1, 4] = np.nan
    with pytest.raises(ValueError, match="some NaN items"):
        ll.language_gains(diffs)
    with pytest.raises(ValueError, match="residual df"):
        ll.meta_regression([0.1, 0.2], [0.01, 0.01], np.array([[0.0], [1.0]]))


# ---------------------------------------------------------------------------------------------
# Pins to statsmodels and scipy.


@pytest.mark.parametrize(("ours", "theirs"), [("dl", "chi2"), ("pm", "iterated")])
def test_tau2_and_hksj_match_statsmodels_combine_effects(ours, theirs):
    gains, variances = heterogeneous_meta()
    fit = ll.meta_regression(gains, variances, method=ours)
    ref = combine_effects(gains, variances, method_re=theirs)
    assert ref.tau2 > 0
    assert fit.tau2 == pytest.approx(ref.tau2, rel=1e-5)
    term = fit.term("intercept")
    assert term.estimate == pytest.approx(ref.mean_effect_re, rel=1e-6)
    assert term.se**2 == pytest.approx(ref.var_hksj_re, rel=1e-5)


def test_reml_with_equal_variances_matches_ols_closed_form():
    """Equal sampling variances v: REML total variance is the OLS residual mean square, so
    τ² = max(0, scale − v) and the coefficients are the OLS ones."""
    rng = np.random.default_rng(4)
    k, v = 14, 0.001
    X = np.column_stack([rng.normal(size=k), rng.uniform(size=k)])
    y = 0.05 + X @ [0.03, -0.1] + rng.normal(0, 0.06, k)
    fit = ll.meta_regression(y, np.full(k, v), X)
    ols = sm.OLS(y, sm.add_constant(X)).fit()
    assert fit.tau2 == pytest.approx(max(0.0, ols.scale - v), rel=1e-6)
    np.testing.assert_allclose([t.estimate for t in fit.terms], ols.params, rtol=1e-6)
    np.testing.assert_allclose([t.se for t in fit.terms], ols.bse, rtol=1e-5)


def test_reml_fisher_scoring_matches_direct_maximisation():
    gains, variances = heterogeneous_meta(k=15, seed=6)
    X = np.column_stack([np.ones(15), np.arange(15) % 2])
    tau2 = ll.fit_meta_batch(gains[None], variances[None], X).tau2[0]
    direct = ll._tau2_reml_scalar(gains, variances, X)
    assert tau2 == pytest.approx(direct, rel=1e-5)
    at_ours = ll.reml_loglik(tau2, gains, variances, X)
    assert at_ours >= ll.reml_loglik(direct, gains, variances, X) - 1e-9


def test_semitic_hksj_test_is_students_t_test_when_variances_are_equal():
    gains, _ = heterogeneous_meta(k=9, seed=7)
    semitic = np.arange(9) < 4
    fit = ll.meta_regression(gains, np.full(9, 0.001), semitic.astype(float), ["semitic"])
    ref = stats.ttest_ind(gains[semitic], gains[~semitic], equal_var=True)
    assert fit.term("semitic").t == pytest.approx(ref.statistic, rel=1e-6)
    assert fit.term("semitic").p_value == pytest.approx(ref.pvalue, rel=1e-6)


def test_randomization_matches_scipy_permutation_test():
    gains, _ = heterogeneous_meta(k=10, seed=10)
    semitic = np.arange(10) < 3
    ours = ll.randomization_test(gains, semitic, alternative="greater")
    ref = stats.permutation_test(
        (gains[semitic], gains[~semitic]),
        lambda a, b: stats.ttest_ind(a, b, equal_var=False).statistic,
        permutation_type="independent",
        n_resamples=np.inf,
        alternative="greater",
    )
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    welch = stats.ttest_ind(gains[semitic], gains[~semitic], equal_var=False).statistic
    assert ours.statistic == pytest.approx(welch, rel=1e-9)


def test_identical_gains_give_no_randomization_p_rather_than_a_tiny_one():
    from xlt.analysis.language_level import randomization_test

    result = randomization_test(np.zeros(6), [True, True, True, False, False, False])
    assert np.isnan(result.p_value) and result.smallest_p == pytest.approx(0.1)
