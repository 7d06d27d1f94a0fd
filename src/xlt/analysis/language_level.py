"""Language-level inference: is the fine-tuning gain larger for Semitic languages as a family?

The languages of a study are a sample from the languages one wants to generalise to, so a claim
about the family must treat language as a random factor; item-level tests that hold the chosen
languages fixed mistake ordinary between-language differences in gain for a family effect (the
"language-as-fixed-effect fallacy", Clark 1973; Barr, Levy, Scheepers & Tily 2013). We use the
two-stage summary-statistics approach: each language is reduced to its item-paired gain averaged
over the study's models, with its sampling variance from items, and the gains enter a
random-effects meta-regression with a Semitic indicator, τ² by REML (Viechtbauer 2005;
Raudenbush 2009) and Hartung–Knapp–Sidik–Jonkman t inference on k − p df (Hartung & Knapp 2001;
Sidik & Jonkman 2002; IntHout, Ioannidis & Borm 2014), which stays near nominal with few units
and, with equal sampling variances, is exactly Student's two-sample t-test on per-language gains.
Alongside it we report Fisher's randomization test over language labels (Fisher 1935), which
needs only exchangeability of languages under the null; its statistic is Welch's t so it stays
asymptotically valid when the groups differ in spread (Janssen 1997; Chung & Romano 2013), but
it has only C(k, k_semitic) relabellings: with 3 + 3 languages its smallest two-sided p is 0.1.

The estimand is the difference between the expected gain of a Semitic target language and of a
control language, in the population of languages the study's languages stand for, averaged over
the study's models (models are fixed). The gain is whatever per-item values `diffs` holds:
treated minus reference correctness (a gain in proportion units), or the pseudo-values of
`logit_contrasts` (a gain in log-odds of the accuracy above chance, the scale on which the
analysis judges Semitic-specific transfer, since there headroom alone makes no difference).
Parallel items make the languages' sampling errors positively correlated, which the
meta-regression ignores; for a Semitic-minus-control contrast that makes it slightly
conservative, and with τ² much larger than the item variances it hardly matters.

Everything here takes plain arrays: `diffs` of shape (models, languages, items), treated minus
reference correctness (seed-averaged), NaN where a model lacks a language, and a boolean
`semitic` mask over languages. The batch functions (`fit_meta_batch`, `welch_t`) work on many
data sets at once and back the power simulations in `xlt.analysis.power`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

Alternative = Literal["two-sided", "greater", "less"]
Tau2Method = Literal["reml", "pm", "dl"]
Weighting = Literal["inverse_variance", "equal"]

# Exact enumeration up to this many relabellings, otherwise Monte Carlo.
MAX_RELABELLINGS = 20_000
N_PERM = 9_999
# Floor on sampling variances so that a language with the same result on every item does not
# get an infinite weight when τ² is 0.
MIN_VARIANCE = 1e-12


@dataclass(frozen=True)
class LanguageGains:
    """Per-language gains averaged over models and their item-sampling variances.

    `gains[l]` is the model-averaged mean of treated minus reference correctness of language l;
    `variances[l]` is the variance of that mean from resampling items; `n_models[l]` is how many
    models were observed on the language (the others are filled by an additive model).
    """

    gains: np.ndarray
    variances: np.ndarray
    n_items: int
    n_models: np.ndarray


@dataclass(frozen=True)
class Term:
    """One coefficient of a meta-regression with its HKSJ standard error, interval and t-test."""

    name: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    t: float
    p_value: float
    df: int


@dataclass(frozen=True)
class MetaRegression:
    """A random-effects meta-regression over languages (one row per language)."""

    terms: tuple[Term, ...]
    tau2: float
    scale: float
    k: int
    df: int
    method: str
    level: float
    modified_hk: bool

    def term(self, name: str) -> Term:
        """The term called `name`."""
        for term in self.terms:
            if term.name == name:
                return term
        raise KeyError(f"no term {name!r}; terms are {[t.name for t in self.terms]}")

    def frame(self) -> pd.DataFrame:
        """The term table as a DataFrame indexed by term name."""
        rows = [vars(term) for term in self.terms]
        return pd.DataFrame(rows).set_index("name")


@dataclass(frozen=True)
class Randomization:
    """Fisher's randomization test over Semitic/control labels of the languages.

    `statistic` is Welch's t of Semitic minus control gains (the plain difference in means when a
    group has a single language). `smallest_p` is the smallest p-value this design can give:
    1/N for N relabellings, 2/N two-sided with equal group sizes (each relabelling has a mirror
    with the same |t|), 1/(n_perm + 1) with Monte Carlo relabellings.
    """

    statistic: float
    p_value: float
    n_relabellings: int
    exact: bool
    smallest_p: float
    alternative: str


@dataclass(frozen=True)
class LanguageLevel:
    """The language-level Semitic-minus-control gain with its HKSJ interval and both tests.

    `estimate`, `se`, `ci_*`, `p_value` and `df` come from the random-effects meta-regression
    (gains on an intercept and a Semitic indicator); `mean_semitic` and `mean_control` are its
    fitted group means; `randomization` is the exact (or Monte Carlo) label randomization test.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: int
    tau2: float
    k_semitic: int
    k_control: int
    mean_semitic: float
    mean_control: float
    level: float
    randomization: Randomization
    gains: LanguageGains


@dataclass(frozen=True)
class Feasibility:
    """Whether a design with these language counts can reject at `alpha` at all.

    The randomization test can reject only if its smallest attainable p is at most `alpha`; the
    t-based meta-regression test needs at least one residual degree of freedom.
    """

    n_semitic: int
    n_control: int
    alpha: float
    alternative: str
    n_relabellings: int
    smallest_p: float
    randomization_can_reject: bool
    t_df: int
    t_can_reject: bool


@dataclass(frozen=True)
class BatchFit:
    """Meta-regressions of many data sets on one design matrix (leading axis: data sets)."""

    beta: np.ndarray
    se: np.ndarray
    tau2: np.ndarray
    scale: np.ndarray
    df: int

    def p_values(self, alternative: Alternative = "two-sided") -> np.ndarray:
        """p-values of every coefficient (data sets × terms) from the t distribution on `df`
        (NaN where a coefficient has no standard error: gains identical in every language, or
        within each group, where the HKSJ scale is 0 and a t statistic would be infinite)."""
        se = np.where(self.se > 0, self.se, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _t_p(self.beta / se, self.df, alternative)


# ---------------------------------------------------------------------------------------------
# Stage 1: one gain and one sampling variance per language.


def item_contrasts(diffs: np.ndarray) -> np.ndarray:
    """Per-item model-averaged differences (..., languages, items) from (..., models, languages,
    items); where models lack languages, each language's items are combined with the weights
    that estimate its gain averaged over all the study's models under an additive
    model × language model of the cell means, so a missing cell does not shift the language's
    gain by that model's overall level."""
    diffs = np.asarray(diffs, dtype=float)
    if diffs.ndim < 3:
        raise ValueError(f"diffs must be (models, languages, items), got shape {diffs.shape}")
    if not np.isnan(diffs).any():
        return diffs.mean(axis=-3)
    if diffs.ndim != 3:
        raise ValueError("missing cells are supported for one data set at a time")
    weights = _cell_weights(_observed_cells(diffs))
    return np.einsum("lmk,mki->li", weights, np.nan_to_num(diffs))


def _observed_cells(diffs: np.ndarray) -> np.ndarray:
    """(models, languages) mask of observed cells; a cell must be all-NaN or all-finite."""
    missing = np.isnan(diffs)
    observed = ~missing.all(axis=-1)
    if (missing.any(axis=-1) & observed).any():
        raise ValueError("a (model, language) cell has some NaN items: items must be parallel")
    if not observed.any(axis=0).all():
        raise ValueError("some language has no model with results")
    return observed


def _cell_weights(observed: np.ndarray) -> np.ndarray:
    """(languages, models, languages) weights w[l] with gain_l = Σ w[l] * cell means.

    Least squares on the observed cell means with language effects and sum-to-zero model
    effects; the language effect is then that language's gain averaged over all models.
    """
    n_models, n_langs = observed.shape
    cells = np.argwhere(observed)
    design = np.zeros((len(cells), n_langs + n_models - 1))
    design[np.arange(len(cells)), cells[:, 1]] = 1.0
    for row, (m, _) in enumerate(cells):
        if m < n_models - 1:
            design[row, n_langs + m] = 1.0
        elif n_models > 1:
            design[row, n_langs:] = -1.0
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise ValueError("models and languages are not connected: per-language gains averaged")
    rows = np.linalg.pinv(design)[:n_langs]
    weights = np.zeros((n_langs, n_models, n_langs))
    weights[:, cells[:, 0], cells[:, 1]] = rows
    return weights


def language_gains(diffs: np.ndarray) -> LanguageGains:
    """Per-language gains (model-averaged, item-paired) and their variances from items."""
    diffs = np.asarray(diffs, dtype=float)
    contrasts = item_contrasts(diffs)
    n_items = contrasts.shape[-1]
    if n_items < 2:
        raise ValueError("at least two items are needed for a sampling variance")
    gains = contrasts.mean(axis=-1)
    variances = np.maximum(contrasts.var(axis=-1, ddof=1) / n_items, MIN_VARIANCE)
    n_models = (~np.isnan(diffs).all(axis=-1)).sum(axis=-2)
    return LanguageGains(gains, variances, n_items, n_models)


def logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 − p))."""
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def corrected_accuracy(correct: np.ndarray) -> np.ndarray:
    """Accuracy over the last axis with the continuity correction (k + ½) / (n + 1), so that
    a cell with every item right (or wrong) has a finite log-odds."""
    correct = np.asarray(correct, dtype=float)
    n = correct.shape[-1]
    return (correct.sum(axis=-1) + 0.5) / (n + 1)


def above_chance(accuracy: np.ndarray, chance: float, n_items: int) -> np.ndarray:
    """(accuracy − chance)/(1 − chance), the share of items answered above guessing, kept at
    least ½/(n + 1) from 0 and 1 so that its log-odds stay finite (a model at or below chance
    counts as barely above it)."""
    floor = 0.5 / (n_items + 1)
    return np.clip((accuracy - chance) / (1.0 - chance), floor, 1.0 - floor)


def logit_contrasts(treated: np.ndarray, reference: np.ndarray, chance: float = 0.0) -> np.ndarray:
    """Per-item pseudo-values of the log-odds gain of a cell: same shape as the inputs (…,
    items), treated and reference correctness paired by item (seed-averaged values allowed).

    The cell's log-odds gain is logit(q₁) − logit(q₀), where q = (p − chance)/(1 − chance) is
    the continuity-corrected accuracy p = (k + ½)/(n + 1) above guessing (`above_chance`;
    chance 1/4 for four options). With a guessing floor, P(right) = chance + (1 − chance)·σ(η),
    q is the mean of σ(η) over items, so a shift of η that is the same in every language gives
    (nearly) the same log-odds gain whatever a language's base accuracy: headroom is held fixed.
    Without the correction the floor compresses the gains of languages near chance. Each
    item's value is the gain plus its linearised (delta-method) influence,
    (t_i − t̄)/((1 − chance) q₁(1 − q₁)) − (r_i − r̄)/((1 − chance) q₀(1 − q₀)): the values
    average exactly to the gain, and their variance over items divided by n is the
    delta-method variance of the gain with the pairing of items kept, so the language-level
    machinery (`language_gains`, the meta-regression, the randomization test) runs on them
    unchanged. NaN cells stay NaN.
    """
    treated = np.asarray(treated, dtype=float)
    reference = np.asarray(reference, dtype=float)
    n = treated.shape[-1]
    q1 = above_chance(corrected_accuracy(treated), chance, n)[..., None]
    q0 = above_chance(corrected_accuracy(reference), chance, n)[..., None]
    influence = (treated - treated.mean(axis=-1, keepdims=True)) / (
        (1.0 - chance) * q1 * (1 - q1)
    ) - (reference - reference.mean(axis=-1, keepdims=True)) / ((1.0 - chance) * q0 * (1 - q0))
    return logit(q1) - logit(q0) + influence


# ---------------------------------------------------------------------------------------------
# Stage 2: random-effects meta-regression (vectorised over data sets).


def _gram(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """X' W X for each data set (weights w: data sets × k)."""
    return np.einsum("kp,rk,kq->rpq", X, w, X)


def _projection(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """P = W − W X (X' W X)⁻¹ X' W for each data set: its quadratic form gives the weighted
    residual sum of squares, and its trace is the REML/DL normaliser."""
    wx = w[:, :, None] * X[None]
    inner = np.linalg.solve(_gram(w, X), np.swapaxes(wx, 1, 2))
    eye = np.eye(X.shape[0])[None] * w[:, :, None]
    return eye - wx @ inner


def _quad(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.einsum("rk,rkj,rj->r", y, P, y)


def _tau2_dl(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> np.ndarray:
    """DerSimonian–Laird moment estimator generalised to meta-regression (Raudenbush 2009)."""
    P0 = _projection(1.0 / v, X)
    q = _quad(P0, y)
    return np.maximum(0.0, (q - (X.shape[0] - X.shape[1])) / np.trace(P0, axis1=1, axis2=2))


def _tau2_pm(y: np.ndarray, v: np.ndarray, X: np.ndarray, iterations: int = 200) -> np.ndarray:
    """Paule–Mandel: τ² with generalised Q equal to its expectation k − p (by bisection; Q falls
    as τ² grows). At τ² = RSS_ols/(k − p) Q is at most k − p, which bounds the root."""
    df = X.shape[0] - X.shape[1]
    ols = np.linalg.lstsq(X, y.T, rcond=None)[0].T
    high = np.maximum(((y - ols @ X.T) ** 2).sum(axis=1) / df, MIN_VARIANCE)
    low = np.zeros(len(y))
    at_zero = _quad(_projection(1.0 / v, X), y) <= df
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        above = _quad(_projection(1.0 / (v + mid[:, None]), X), y) > df
        low = np.where(above, mid, low)
        high = np.where(above, high, mid)
    return np.where(at_zero, 0.0, 0.5 * (low + high))


def reml_loglik(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Restricted log-likelihood of τ² for one data set (up to a constant)."""
    w = 1.0 / (v + tau2)
    gram = X.T @ (w[:, None] * X)
    P = _projection(w[None], X)[0]
    return -0.5 * (np.sum(np.log(v + tau2)) + np.linalg.slogdet(gram)[1] + y @ P @ y)


def _tau2_reml(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, iterations: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """REML τ² by Fisher scoring from the DL estimate, truncated at 0 (as metafor does); data
    sets that do not converge are refitted by bounded scalar optimisation."""
    tau2 = _tau2_dl(y, v, X)
    converged = np.zeros(len(y), dtype=bool)
    for _ in range(iterations):
        P = _projection(1.0 / (v + tau2[:, None]), X)
        Py = np.einsum("rkj,rj->rk", P, y)
        score = (Py**2).sum(axis=1) - np.trace(P, axis1=1, axis2=2)
        info = (P * P).sum(axis=(1, 2))
        new = np.maximum(0.0, tau2 + score / info)
        converged = np.abs(new - tau2) <= tol * (1.0 + tau2)
        tau2 = new
        if converged.all():
            break
    for r in np.flatnonzero(~converged):
        tau2[r] = _tau2_reml_scalar(y[r], v[r], X)
    return tau2


def _tau2_reml_scalar(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """REML τ² for one data set by bounded optimisation, comparing with the boundary at 0."""
    df = X.shape[0] - X.shape[1]
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    upper = max(10.0 * ((y - X @ ols) ** 2).sum() / df, 10.0 * float(v.max()))
    fit = optimize.minimize_scalar(
        lambda t: -reml_loglik(t, y, v, X),
        bounds=(0.0, upper),
        method="bounded",
        options={"xatol": 1e-10 * upper},
    )
    best = float(fit.x)
    return 0.0 if reml_loglik(0.0, y, v, X) >= reml_loglik(best, y, v, X) else best


TAU2_ESTIMATORS = {"reml": _tau2_reml, "pm": _tau2_pm, "dl": _tau2_dl}


def fit_meta_batch(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    method: Tau2Method = "reml",
    modified_hk: bool = False,
) -> BatchFit:
    """Random-effects meta-regressions of many data sets (rows of `y`, `v`) on one design `X`.

    HKSJ: the coefficient covariance is (X'WX)⁻¹ scaled by the weighted residual mean square
    q = Σ w r² / (k − p), with t on k − p df; `modified_hk` floors q at 1 (Röver, Knapp &
    Friede 2015), more conservative when τ² is estimated as 0 with unequal variances.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    v = np.maximum(np.atleast_2d(np.asarray(v, dtype=float)), MIN_VARIANCE)
    X = np.asarray(X, dtype=float)
    k, p = X.shape
    if y.shape[1] != k or v.shape != y.shape:
        raise ValueError(f"gains {y.shape}, variances {v.shape} and X {X.shape} do not match")
    if k <= p:
        raise ValueError(f"{k} languages cannot fit {p} coefficients with a residual df")
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the design matrix is rank deficient (a covariate is constant?)")
    tau2 = TAU2_ESTIMATORS[method](y, v, X)
    w = 1.0 / (v + tau2[:, None])
    gram_inv = np.linalg.inv(_gram(w, X))
    beta = np.einsum("rpq,kq,rk,rk->rp", gram_inv, X, w, y)
    resid = y - beta @ X.T
    scale = (w * resid**2).sum(axis=1) / (k - p)
    if modified_hk:
        scale = np.maximum(scale, 1.0)
    se = np.sqrt(scale[:, None] * np.diagonal(gram_inv, axis1=1, axis2=2))
    return BatchFit(beta, se, tau2, scale, k - p)


def _t_p(t: np.ndarray, df: int, alternative: Alternative) -> np.ndarray:
    if alternative == "two-sided":
        return 2.0 * sps.t.sf(np.abs(t), df)
    if alternative == "greater":
        return sps.t.sf(t, df)
    if alternative == "less":
        return sps.t.cdf(t, df)
    raise ValueError(f"alternative must be two-sided, greater or less, not {alternative!r}")


def meta_regression(
    gains: Sequence[float] | np.ndarray,
    variances: Sequence[float] | np.ndarray,
    X: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    *,
    intercept: bool = True,
    method: Tau2Method = "reml",
    level: float = 0.95,
    modified_hk: bool = False,
) -> MetaRegression:
    """Random-effects meta-regression of per-language `gains` on covariates `X` (languages ×
    covariates, e.g. base accuracy and typological distance), language as the unit.

    An intercept is added unless `intercept` is False; `names` name the columns of `X`.
    """
    gains = np.asarray(gains, dtype=float)
    k = gains.size
    X = np.empty((k, 0)) if X is None else np.asarray(X, dtype=float).reshape(k, -1)
    names = list(names) if names is not None else [f"x{j}" for j in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} names for {X.shape[1]} covariates")
    if intercept:
        X = np.column_stack([np.ones(k), X])
        names = ["intercept", *names]
    if not (np.isfinite(gains).all() and np.isfinite(X).all()):
        raise ValueError("gains and covariates must be finite")
    fit = fit_meta_batch(
        gains[None], np.asarray(variances, dtype=float)[None], X, method, modified_hk
    )
    crit = sps.t.isf((1.0 - level) / 2.0, fit.df)
    beta, se, p = fit.beta[0], fit.se[0], fit.p_values()[0]
    terms = tuple(
        Term(
            n,
            float(b),
            float(s),
            float(b - crit * s),
            float(b + crit * s),
            float(b / s),
            float(pv),
            fit.df,
        )
        for n, b, s, pv in zip(names, beta, se, p, strict=True)
    )
    return MetaRegression(
        terms, float(fit.tau2[0]), float(fit.scale[0]), k, fit.df, method, level, modified_hk
    )


# ---------------------------------------------------------------------------------------------
# Randomization over language labels.


def relabellings(
    semitic: Sequence[bool] | np.ndarray,
    max_relabellings: int = MAX_RELABELLINGS,
    n_perm: int = N_PERM,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, bool]:
    """(masks, exact): every labelling with as many Semitic languages as `semitic` (the observed
    one first) when there are at most `max_relabellings`, else it and `n_perm` random ones."""
    observed = np.asarray(semitic, dtype=bool)
    n, k = observed.size, int(observed.sum())
    if math.comb(n, k) <= max_relabellings:
        masks = np.zeros((math.comb(n, k), n), dtype=bool)
        for row, chosen in enumerate(itertools.combinations(range(n), k)):
            masks[row, list(chosen)] = True
        same = (masks == observed).all(axis=1)
        return np.vstack([observed[None], masks[~same]]), True
    rng = rng if rng is not None else np.random.default_rng(0)
    shuffled = rng.permuted(np.tile(observed, (n_perm, 1)), axis=1)
    return np.vstack([observed[None], shuffled]), False


def welch_t(gains: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Welch's t of group True minus group False for every data set and mask (data sets ×
    masks); the plain difference in means where a group has a single language."""
    gains = np.atleast_2d(np.asarray(gains, dtype=float))
    masks = np.atleast_2d(np.asarray(masks, dtype=bool))
    ones = masks.astype(float).T
    n1, n0 = ones.sum(axis=0), (1.0 - ones).sum(axis=0)
    s1, s0 = gains @ ones, gains @ (1.0 - ones)
    q1, q0 = (gains**2) @ ones, (gains**2) @ (1.0 - ones)
    m1, m0 = s1 / n1, s0 / n0
    diff = m1 - m0
    if n1.min() < 2 or n0.min() < 2:
        return diff
    var1 = np.maximum(q1 - n1 * m1**2, 0.0) / (n1 - 1)
    var0 = np.maximum(q0 - n0 * m0**2, 0.0) / (n0 - 1)
    se = np.sqrt(var1 / n1 + var0 / n0)
    # All gains equal within both groups: t is ±∞ (or 0 if the means agree too).
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, diff / se, np.sign(diff) * np.inf)


def randomization_p(null: np.ndarray, alternative: Alternative = "two-sided") -> np.ndarray:
    """p-values from statistics over relabellings (data sets × masks, observed in column 0)."""
    null = np.atleast_2d(null)
    observed = null[:, :1]
    # Relative tolerance so that relabellings tied with the observed one in exact arithmetic
    # count as at least as extreme despite rounding.
    tol = 1e-9 * np.maximum(1.0, np.abs(np.where(np.isfinite(observed), observed, 0.0)))
    if alternative == "two-sided":
        extreme = np.abs(null) >= np.abs(observed) - tol
    elif alternative == "greater":
        extreme = null >= observed - tol
    elif alternative == "less":
        extreme = null <= observed + tol
    else:
        raise ValueError(f"alternative must be two-sided, greater or less, not {alternative!r}")
    # An undefined observed statistic (no variation at all: every gain the same) tests nothing.
    return np.where(np.isfinite(observed[:, 0]), extreme.mean(axis=1), np.nan)


def smallest_p(
    n_semitic: int,
    n_control: int,
    alternative: Alternative = "two-sided",
    max_relabellings: int = MAX_RELABELLINGS,
    n_perm: int = N_PERM,
) -> tuple[float, int, bool]:
    """(smallest attainable p, number of relabellings, exact) of the randomization test."""
    total = math.comb(n_semitic + n_control, n_semitic)
    if total > max_relabellings:
        return 1.0 / (n_perm + 1), n_perm + 1, False
    mirrored = alternative == "two-sided" and n_semitic == n_control
    return (2.0 if mirrored else 1.0) / total, total, True


def randomization_test(
    gains: Sequence[float] | np.ndarray,
    semitic: Sequence[bool] | np.ndarray,
    *,
    alternative: Alternative = "two-sided",
    max_relabellings: int = MAX_RELABELLINGS,
    n_perm: int = N_PERM,
    rng: np.random.Generator | None = None,
) -> Randomization:
    """Fisher's randomization test of equal Semitic and control gains (Welch's t statistic)."""
    mask = _check_mask(semitic, len(gains))
    masks, exact = relabellings(mask, max_relabellings, n_perm, rng)
    null = welch_t(np.asarray(gains, dtype=float)[None], masks)
    p = float(randomization_p(null, alternative)[0])
    floor, count, _ = smallest_p(
        int(mask.sum()), int((~mask).sum()), alternative, max_relabellings, n_perm
    )
    return Randomization(float(null[0, 0]), p, count, exact, floor, alternative)


def _check_mask(semitic: Sequence[bool] | np.ndarray, n_langs: int) -> np.ndarray:
    mask = np.asarray(semitic, dtype=bool)
    if mask.shape != (n_langs,):
        raise ValueError(f"semitic mask has shape {mask.shape}, expected ({n_langs},)")
    if mask.all() or not mask.any():
        raise ValueError("a comparison needs both Semitic and control languages")
    return mask


# ---------------------------------------------------------------------------------------------
# The study's test and its feasibility.


def semitic_design(semitic: Sequence[bool] | np.ndarray) -> np.ndarray:
    """The design matrix [1, semitic] of the Semitic-minus-control meta-regression."""
    mask = np.asarray(semitic, dtype=bool)
    return np.column_stack([np.ones(mask.size), mask.astype(float)])


def language_level_test(
    diffs: np.ndarray,
    semitic: Sequence[bool] | np.ndarray,
    *,
    level: float = 0.95,
    method: Tau2Method = "reml",
    modified_hk: bool = False,
    alternative: Alternative = "two-sided",
    max_relabellings: int = MAX_RELABELLINGS,
    n_perm: int = N_PERM,
    rng: np.random.Generator | None = None,
    weights: Weighting = "inverse_variance",
) -> LanguageLevel:
    """Semitic minus control gain with language as the unit of inference.

    `diffs`: (models, languages, items) treated minus reference correctness (or per-item
    pseudo-values of any gain, e.g. `logit_contrasts`), NaN where a model lacks a language;
    `semitic`: boolean mask over languages. The interval and `p_value` are the HKSJ
    meta-regression's (two-sided interval; `alternative` applies to both p-values).

    `weights`: "inverse_variance" weighs language l by 1/(v_l + τ²); "equal" gives every
    language the mean item variance, so every language weighs the same and the estimate is the
    unweighted difference of the Semitic and control mean gains. Use "equal" where a language's
    sampling variance depends on its own gain (accuracy gains: the variance grows with the
    share of items that change), which would shrink inverse-variance estimates towards the
    languages that gain least.
    """
    diffs = np.asarray(diffs, dtype=float)
    mask = _check_mask(semitic, diffs.shape[1])
    stage1 = language_gains(diffs)
    X = semitic_design(mask)
    variances = stage1.variances
    if weights == "equal":
        variances = np.full_like(variances, variances.mean())
    elif weights != "inverse_variance":
        raise ValueError(f"weights must be inverse_variance or equal, not {weights!r}")
    fit = fit_meta_batch(stage1.gains[None], variances[None], X, method, modified_hk)
    estimate, se = float(fit.beta[0, 1]), float(fit.se[0, 1])
    # No spread around the group means leaves no standard error: no interval, like no p.
    crit = sps.t.isf((1.0 - level) / 2.0, fit.df) if se > 0 else math.nan
    random = randomization_test(
        stage1.gains,
        mask,
        alternative=alternative,
        max_relabellings=max_relabellings,
        n_perm=n_perm,
        rng=rng,
    )
    return LanguageLevel(
        estimate=estimate,
        se=se,
        ci_low=estimate - crit * se,
        ci_high=estimate + crit * se,
        p_value=float(fit.p_values(alternative)[0, 1]),
        df=fit.df,
        tau2=float(fit.tau2[0]),
        k_semitic=int(mask.sum()),
        k_control=int((~mask).sum()),
        mean_semitic=float(fit.beta[0, 0] + fit.beta[0, 1]),
        mean_control=float(fit.beta[0, 0]),
        level=level,
        randomization=random,
        gains=stage1,
    )


def can_reject(
    n_semitic: int,
    n_control: int,
    alpha: float = 0.05,
    *,
    alternative: Alternative = "two-sided",
    n_covariates: int = 0,
    max_relabellings: int = MAX_RELABELLINGS,
    n_perm: int = N_PERM,
) -> Feasibility:
    """Can a design with these language counts reject at `alpha` at all?

    Randomization: only if its smallest attainable p ≤ alpha (3 + 3 two-sided: 2/20 = 0.1, no).
    HKSJ t-test: only with df = k − 2 − n_covariates ≥ 1.
    """
    if n_semitic < 1 or n_control < 1:
        raise ValueError("a comparison needs at least one Semitic and one control language")
    floor, count, _ = smallest_p(n_semitic, n_control, alternative, max_relabellings, n_perm)
    df = n_semitic + n_control - 2 - n_covariates
    return Feasibility(
        n_semitic, n_control, alpha, alternative, count, floor, floor <= alpha + 1e-12, df, df >= 1
    )
