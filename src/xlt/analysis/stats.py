"""Statistics of the transfer study: paired tests, item bootstraps, language permutations, models.

Everything here takes arrays and returns numbers, knows nothing of files, and is seeded through
an explicit `numpy.random.Generator`, so every interval in the tables is reproducible. Belebele
is parallel, so the resampling unit is the question id, shared by every language and model: a
bootstrap draw picks the same ids everywhere, which keeps the correlation between languages.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps


def rng_for(seed: int, *key: object) -> np.random.Generator:
    """A generator seeded by `seed` and a stable hash of `key`.

    Each table row gets its own stream, so its interval does not depend on which other rows
    exist: adding a language to a study leaves every other row's numbers unchanged.
    """
    digest = zlib.crc32("\x1f".join(str(k) for k in key).encode("utf-8"))
    return np.random.default_rng([seed, digest])


def mcnemar_exact(n_gained: int, n_lost: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs (statsmodels' `mcnemar`,
    exact: a binomial test at 1/2).

    `n_gained`: items wrong before and right after; `n_lost`: right before and wrong after.
    """
    if n_gained + n_lost == 0:
        return 1.0
    from statsmodels.stats.contingency_tables import mcnemar

    return float(mcnemar([[0, n_gained], [n_lost, 0]], exact=True).pvalue)


def bootstrap_counts(n_items: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_items) counts: how often each item is drawn in each bootstrap resample."""
    draws = rng.integers(0, n_items, size=(n_boot, n_items))
    flat = (np.arange(n_boot)[:, None] * n_items + draws).ravel()
    return np.bincount(flat, minlength=n_boot * n_items).reshape(n_boot, n_items)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap samples (NaN samples ignored)."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (math.nan, math.nan)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return (float(low), float(high))


def paired_bootstrap_interval(
    diff: np.ndarray, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> tuple[float, float]:
    """Interval of the mean of per-item differences, resampling items (paired by id)."""
    diff = np.asarray(diff, dtype=float)
    if diff.size == 0:
        return (math.nan, math.nan)
    counts = bootstrap_counts(diff.size, n_boot, rng)
    return percentile_interval(counts @ diff / diff.size, level)


def sign_flip_p(diff: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided paired randomisation p-value of mean(diff) = 0: flip each item's sign at random.

    Used for seed-averaged differences, where McNemar's discordant-pair count is not defined.
    The observed statistic counts as one of the draws, so p is never 0.
    """
    diff = np.asarray(diff, dtype=float)
    if diff.size == 0:
        return math.nan
    observed = abs(diff.mean())
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_perm, diff.size))
    draws = np.abs(signs @ diff / diff.size)
    return float((1 + np.sum(draws >= observed - 1e-12)) / (n_perm + 1))


def did_from_deltas(deltas: np.ndarray, semitic: np.ndarray) -> np.ndarray:
    """Difference in differences from per-language deltas.

    `deltas` has languages on its last axis (e.g. models × languages, or draws × models ×
    languages); `semitic` is a boolean mask over languages, or a stack of masks (labellings ×
    languages, then the result gains a leading labellings axis). Each model's DiD is the mean
    delta over Semitic languages minus the mean over controls; models are then averaged (NaN
    cells, languages a model lacks, are skipped).
    """
    deltas = np.asarray(deltas, dtype=float)
    masks = np.atleast_2d(np.asarray(semitic, dtype=bool))
    results = []
    for mask in masks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sem = np.nanmean(deltas[..., mask], axis=-1)
            ctl = np.nanmean(deltas[..., ~mask], axis=-1)
            per_model = sem - ctl
            results.append(np.nanmean(per_model, axis=-1) if per_model.ndim else per_model)
    out = np.array(results)
    return out if np.asarray(semitic).ndim == 2 else out[0]


@dataclass(frozen=True)
class DiD:
    """A difference-in-differences estimate with its item-bootstrap interval and p.

    `p_value` is the item bootstrap's own two-sided p (items random, languages fixed): twice
    the smaller share of resampled DiDs on either side of 0, counting the observed one;
    `smallest_p` = 2 / (n_boot + 1) is the least it can be. It agrees with the percentile
    interval. Language-level questions are answered by `xlt.analysis.language_level`.
    """

    estimate: float
    mean_semitic: float
    mean_control: float
    ci_low: float
    ci_high: float
    p_value: float
    smallest_p: float


def did_test(
    diffs: np.ndarray,
    semitic: Sequence[bool],
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> DiD:
    """The conditional test on item-level differences `diffs` (models × languages × items).

    `diffs[m, l, i]` is treated minus reference correctness of item i (seed-averaged), NaN
    where a model lacks a language. The interval and p resample question ids, the same ids in
    every language and model, and hold the languages fixed.
    """
    diffs = np.asarray(diffs, dtype=float)
    mask = np.asarray(semitic, dtype=bool)
    if mask.all() or not mask.any():
        raise ValueError("a difference in differences needs Semitic and control languages.")
    deltas = diffs.mean(axis=-1)
    estimate = float(did_from_deltas(deltas, mask))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_sem = float(np.nanmean(np.nanmean(deltas[:, mask], axis=-1)))
        mean_ctl = float(np.nanmean(np.nanmean(deltas[:, ~mask], axis=-1)))
    n_items = diffs.shape[-1]
    counts = bootstrap_counts(n_items, n_boot, rng)
    boot_deltas = np.einsum("bi,mli->bml", counts, np.nan_to_num(diffs)) / n_items
    boot_deltas[:, np.isnan(deltas)] = np.nan
    boot = did_from_deltas(boot_deltas, mask)
    low, high = percentile_interval(boot, level)
    boot = boot[~np.isnan(boot)]
    tail = 1 + min(int((boot <= 0).sum()), int((boot >= 0).sum()))
    boot_p = min(1.0, 2.0 * tail / (boot.size + 1))
    return DiD(estimate, mean_sem, mean_ctl, low, high, boot_p, min(1.0, 2.0 / (boot.size + 1)))


@dataclass(frozen=True)
class Correlation:
    """Pearson and Spearman correlation with bootstrap intervals over the paired points."""

    n: int
    pearson: float
    pearson_low: float
    pearson_high: float
    pearson_p: float
    spearman: float
    spearman_low: float
    spearman_high: float
    spearman_p: float


def _safe_corr(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Pearson r, its p, Spearman rho, its p; NaN when fewer than 3 points or no variation."""
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return (math.nan, math.nan, math.nan, math.nan)
    pearson = sps.pearsonr(x, y)
    spearman = sps.spearmanr(x, y)
    return (
        float(pearson.statistic),
        float(pearson.pvalue),
        float(spearman.statistic),
        float(spearman.pvalue),
    )


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of two (draws × points) arrays; NaN where a row is constant."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    denom = np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (xc * yc).sum(axis=1) / denom, np.nan)


def correlation(
    x: Sequence[float],
    y: Sequence[float],
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
    min_points: int = 4,
) -> Correlation:
    """Correlation of paired points with intervals that resample the points.

    NaN with fewer than `min_points` points: below that a bootstrap of a correlation is
    degenerate (a resample of 3 points is often collinear or constant).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    r, r_p, rho, rho_p = _safe_corr(x, y) if x.size >= min_points else (math.nan,) * 4
    if math.isnan(r):
        return Correlation(x.size, r, math.nan, math.nan, r_p, rho, math.nan, math.nan, rho_p)
    draws = rng.integers(0, x.size, size=(n_boot, x.size))
    bx, by = x[draws], y[draws]
    pearson = _rowwise_pearson(bx, by)
    spearman = _rowwise_pearson(sps.rankdata(bx, axis=1), sps.rankdata(by, axis=1))
    r_low, r_high = percentile_interval(pearson, level)
    rho_low, rho_high = percentile_interval(spearman, level)
    return Correlation(x.size, r, r_low, r_high, r_p, rho, rho_low, rho_high, rho_p)


@dataclass(frozen=True)
class ModelTerm:
    """One coefficient of a fitted model, or the reason the model could not be fitted."""

    term: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    formula: str
    n_obs: int
    note: str = ""


def _ols_fit(data: pd.DataFrame, formula: str):
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        # A rank-deficient design is reported as "not fitted", not as a warning.
        warnings.simplefilter("ignore")
        return smf.ols(formula, data=data).fit()


def _ols_terms(
    data: pd.DataFrame, formula: str, terms: Sequence[str], level: float
) -> list[ModelTerm]:
    """The named terms of one OLS fit of `logit_gain`, or one row saying why it is not fitted."""
    first = terms[0]
    fit = _ols_fit(data, formula)
    if np.linalg.matrix_rank(fit.model.exog) < fit.model.exog.shape[1]:
        note = f"not fitted: the terms of {formula} are collinear in these {len(data)} cells"
        return [ModelTerm(first, *[math.nan] * 4, formula, len(data), note)]
    if fit.df_resid < 1 or not np.isfinite(fit.bse.get(first, np.nan)):
        note = f"not fitted: {len(data)} cells are too few for {formula}"
        return [ModelTerm(first, *[math.nan] * 4, formula, len(data), note)]
    ci = fit.conf_int(alpha=1 - level)
    n = int(fit.nobs)
    response = data["logit_gain"]
    exact = fit.ssr <= 1e-12 * max(1.0, float(((response - response.mean()) ** 2).sum()))
    out = []
    for term in terms:
        if term not in fit.params.index:
            continue
        if exact:  # no residual variance: the coefficient is exact, its test is undefined
            value = round(float(fit.params[term]), 9) + 0.0
            note = "exact fit: no residual variance, so no interval or test"
            out.append(ModelTerm(term, value, math.nan, math.nan, math.nan, formula, n, note))
            continue
        low, high = float(ci.loc[term, 0]), float(ci.loc[term, 1])
        p = float(fit.pvalues[term])
        out.append(ModelTerm(term, float(fit.params[term]), low, high, p, formula, n))
    return out


def ols_transfer(cells: pd.DataFrame, level: float = 0.95) -> list[ModelTerm]:
    """OLS of a cell's log-odds gain, each model with its own mean gain (`C(model)`).

    `cells` has one row per model × language with columns logit_gain (logit(treated) −
    logit(reference) accuracy, continuity-corrected), logit_base (logit of the reference
    accuracy), semitic, same_script, model. Two fits:

    - `logit_gain ~ semitic (+ same_script) (+ C(model))`: the Semitic term. On the log-odds
      scale a gain the model makes everywhere is the same whatever the language's base accuracy
      (headroom is held fixed by the scale), and `C(model)` lets the gain differ by model.
      A term in base accuracy is left out of this fit: its sampling error enters the gain with
      the opposite sign, and where Semitic targets start lower that error would bias the
      Semitic term (the same regression to the mean that biases the slope).
    - `logit_gain ~ logit_base (+ C(model))`: the base term, descriptive; biased downwards by
      regression to the mean.

    Terms that do not vary (one model, no same-script target) are left out and the formula
    says so. Returns the semitic, same_script and logit_base terms.
    """
    data = cells.assign(
        semitic=cells["semitic"].astype(float), same_script=cells["same_script"].astype(float)
    )
    model = " + C(model)" if cells["model"].nunique() > 1 else ""
    script = " + same_script" if cells["same_script"].nunique() > 1 else ""
    semitic_formula = f"logit_gain ~ semitic{script}{model}"
    if cells["semitic"].nunique() != 2:
        note = f"not fitted: {len(cells)} cells lack a Semitic/control contrast"
        return [ModelTerm("semitic", *[math.nan] * 4, semitic_formula, len(cells), note)]
    out = _ols_terms(data, semitic_formula, ["semitic", "same_script"], level)
    base_formula = f"logit_gain ~ logit_base{model}"
    if data["logit_base"].nunique() > 1:
        out += _ols_terms(data, base_formula, ["logit_base"], level)
    return out


def conditional_laplace(model, vb) -> tuple[np.ndarray, np.ndarray]:
    """Fixed effects at their posterior mode given the variance components of a VB fit, and
    their covariance from the Hessian there (Laplace). Not glmer's estimates: statsmodels puts
    a N(0, fe_p²) prior on the fixed effects (fe_p = 2 by default), and the variance
    components are VB posterior means.

    With the variance components fixed the log posterior is concave in the fixed and random
    effects, so the mode is unique and the optimiser converges from any start; the VB sds
    themselves are mean-field and understate the fixed effects' sd.
    """
    from scipy import optimize

    k, r = len(vb.fe_mean), len(vb.vcp_mean)
    full = np.concatenate([vb.fe_mean, vb.vcp_mean, vb.vc_mean])
    free = np.r_[0:k, k + r : full.size]

    def at(x: np.ndarray) -> np.ndarray:
        params = full.copy()
        params[free] = x
        return params

    def gradient(x: np.ndarray) -> np.ndarray:
        return -model.logposterior_grad(at(x))[free]

    result = optimize.minimize(
        lambda x: -model.logposterior(at(x)),
        full[free],
        jac=gradient,
        method="L-BFGS-B",
        options={"gtol": 1e-9, "ftol": 1e-15, "maxiter": 5000},
    )
    from statsmodels.tools.numdiff import approx_fprime

    x = result.x
    hessian = approx_fprime(x, gradient, centered=True)  # the Jacobian of the gradient
    covariance = np.linalg.inv((hessian + hessian.T) / 2)
    return x[:k], covariance[:k, :k]


def mixed_transfer(
    items: pd.DataFrame,
    treatment: str,
    level: float = 0.95,
    min_models: int = 3,
    seed: int = 0,
) -> ModelTerm:
    """Item-level logistic mixed model: correct ~ language + model + model × treated +
    treated × semitic, random item.

    `items` has columns correct (0/1), treated (0/1), semitic (0/1), item, model, lang. Each
    language has its own base level and each model its own base level and its own treatment
    effect (all fixed), so the interaction compares gains in log-odds, with headroom held fixed
    by the scale and the gain allowed to differ by model; a language's own gain still counts as
    Semitic effect (the term is conditional on the chosen languages). Fitted with
    statsmodels' BinomialBayesMixedGLM: variance components by variational Bayes (`fit_vb`,
    seeded), then the fixed effects at their conditional posterior mode with Laplace standard
    errors (`conditional_laplace`); `fit_map` was not reproducible here (item variance
    collapsing to 0). The interval is mode ± z·sd, the p-value its normal approximation.
    Models are fixed (their treatment effects differ), whatever their number; `min_models` is
    kept for the settings' sake. The term is the interaction: a DiD in log-odds.
    """
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    term = f"{treatment}:semitic"
    n_models = items["model"].nunique()
    fixed = "correct ~ C(lang)" if "lang" in items else "correct ~ semitic"
    if n_models > 1:
        fixed += " + C(model) + C(model):treated + treated:semitic"
    else:
        fixed += " + treated + treated:semitic"
    random = {"item": "0 + C(item)"}
    notes = []
    formula = f"{fixed.replace('treated', treatment)}; random: " + ", ".join(random)
    if items["semitic"].nunique() < 2 or items["treated"].nunique() < 2:
        return ModelTerm(term, *[math.nan] * 4, formula, len(items), "not fitted: no contrast")
    data = items.assign(correct=items["correct"].astype(float))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = BinomialBayesMixedGLM.from_formula(fixed, random, data)
            vb = model.fit_vb(fit_method="L-BFGS-B", rng=np.random.default_rng(seed))
            mode, covariance = conditional_laplace(model, vb)
    except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - depends on data
        return ModelTerm(term, *[math.nan] * 4, formula, len(items), f"not fitted: {exc}")
    collapsed = [n for n, v in zip(model.vcp_names, vb.vcp_mean, strict=True) if v < -5]
    if collapsed:
        notes.append(f"{', '.join(collapsed)} variance near 0")
    index = list(model.exog_names).index("treated:semitic")
    estimate, sd = float(mode[index]), float(np.sqrt(covariance[index, index]))
    z = sps.norm.ppf(0.5 + level / 2)
    p = float(2 * sps.norm.sf(abs(estimate / sd))) if sd > 0 else math.nan
    return ModelTerm(
        term,
        estimate,
        estimate - z * sd,
        estimate + z * sd,
        p,
        formula,
        len(items),
        "; ".join(notes),
    )
