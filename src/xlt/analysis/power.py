"""Power of Semitic-versus-control transfer tests, by simulating Belebele-like studies.

A study here is: models × languages × parallel items, each model evaluated before (reference)
and after fine-tuning (treated, `n_seeds` seeds). The simulation model, on the logit scale:

    reference  η[m,l,i] = base_logit + a[m] − b[l] − d[i] − e[l,i] + c[m,l]
    treated    η[m,l,i] + global_gain + effect·semitic[l] + u[l] + g[m] + s[m,l,seed]

with model ability a ~ N(0, sd_model), language difficulty b ~ N(0, sd_lang_base), an item
difficulty d ~ N(0, sd_item) shared by all languages (items are parallel) plus a language-
specific part e ~ N(0, sd_item_lang), a model × language base interaction c ~ N(0,
sd_model_lang), the language random gain u ~ N(0, sd_lang) (languages differ in gain for reasons
other than family), a model random gain g ~ N(0, sd_model_gain) and seed noise s ~ N(0, sd_seed).
P(correct) = chance + (1 − chance)·σ(η) for 4-option multiple choice; correctness is Bernoulli.

Four tests are compared (`TESTS`): the item-bootstrap DiD interval (conditional on the chosen
languages, as the analysis reports it), a language-label permutation test of the difference of
mean gains (unstudentised; for comparison only, the analysis does not report it), and the two
language-level tests of `xlt.analysis.language_level` (HKSJ random-effects meta-regression and
the studentised randomization test, which give findings.md its verdict). Every random draw
is made before the effect enters, so runs with the same seed share their noise (common random
numbers): power is then monotone in the effect up to test discreteness, which the bisection in
`minimum_detectable_effect` relies on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from xlt.analysis.language_level import (
    can_reject,
    fit_meta_batch,
    logit_contrasts,
    randomization_p,
    relabellings,
    semitic_design,
    smallest_p,
    welch_t,
)

PAPER_SEMITIC = 3
PAPER_CONTROL = 3
# Exact enumeration of labellings up to this many inside simulations, else Monte Carlo.
SIM_MAX_RELABELLINGS = 5_000
SIM_N_PERM = 999
N_BOOT = 1_000


@dataclass(frozen=True)
class Design:
    """A study design and the simulation's nuisance parameters (logit scale).

    `effect` is the Semitic-specific gain and `sd_lang` the between-language spread of gain, both
    in logits; `alpha` is the test level. For the source × target interaction
    (`simulate_interaction`) the Semitic source has the general gain `global_gain` and the
    non-Semitic one `other_gain`; `headroom` is how many logits lower the Semitic targets
    start (0: language difficulty unrelated to family).
    """

    n_models: int = 7
    n_items: int = 100
    n_semitic: int = 3
    n_control: int = 3
    n_seeds: int = 1
    sd_lang: float = 0.3
    effect: float = 0.0
    alpha: float = 0.05
    global_gain: float = 0.3
    base_logit: float = 0.0
    sd_model: float = 0.5
    sd_lang_base: float = 0.7
    sd_item: float = 1.0
    sd_item_lang: float = 0.5
    sd_model_lang: float = 0.3
    sd_model_gain: float = 0.1
    sd_seed: float = 0.1
    chance: float = 0.25
    other_gain: float = 0.1
    headroom: float = 0.0

    @property
    def n_languages(self) -> int:
        """Semitic plus control languages."""
        return self.n_semitic + self.n_control

    @property
    def semitic(self) -> np.ndarray:
        """The Semitic mask: the first `n_semitic` languages."""
        return np.arange(self.n_languages) < self.n_semitic

    def with_(self, **changes: float) -> Design:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class TestPower:
    """Rejection counts of one test over simulated replicates, without and with the effect."""

    test: str
    label: str
    conditional: bool
    replicates: int
    rejections_null: int
    rejections_effect: int
    smallest_p: float
    can_reject: bool

    @property
    def false_positive_rate(self) -> float:
        """Rejections per replicate with no Semitic effect (the size of the test)."""
        return self.rejections_null / self.replicates

    @property
    def power(self) -> float:
        """Rejections per replicate with the design's Semitic effect."""
        return self.rejections_effect / self.replicates


@dataclass(frozen=True)
class PowerResults:
    """Power and false-positive rates of each test for one design."""

    design: Design
    effect_points: float
    tests: tuple[TestPower, ...]

    def test(self, name: str) -> TestPower:
        """The result of test `name`."""
        for result in self.tests:
            if result.test == name:
                return result
        raise KeyError(f"no test {name!r}; tests are {[t.test for t in self.tests]}")


@dataclass(frozen=True)
class DetectableEffect:
    """The smallest Semitic effect a test detects with the target power (inf if none ≤ max)."""

    test: str
    logits: float
    points: float
    power: float
    target: float
    replicates: int


@dataclass(frozen=True)
class FewestControls:
    """The fewest control languages (with the design's Semitic count) that allow a rejection.

    `randomization` and `t_test`: the language-level tests can reject at alpha at all (smallest
    attainable p ≤ alpha; df ≥ 1). `powered`: power of `test` reaches `target` at `effect`
    logits. None where no count up to the search limit does.
    """

    n_semitic: int
    alpha: float
    randomization: int | None
    t_test: int | None
    powered: int | None
    test: str
    effect: float
    target: float
    achieved_power: float


# ---------------------------------------------------------------------------------------------
# Simulation.


def _p_correct(logit: np.ndarray, chance: float) -> np.ndarray:
    return chance + (1.0 - chance) / (1.0 + np.exp(-logit))


def simulate(
    design: Design, replicates: int, rng: np.random.Generator, effect: float | None = None
) -> np.ndarray:
    """Item-level differences (replicates, models, languages, items): seed-averaged treated minus
    reference correctness. `effect` overrides the design's (same draws: common random numbers)."""
    effect = design.effect if effect is None else effect
    R, M, L, n_items = replicates, design.n_models, design.n_languages, design.n_items
    normal = rng.standard_normal
    a = design.sd_model * normal((R, M, 1, 1))
    b = design.sd_lang_base * normal((R, 1, L, 1))
    d = design.sd_item * normal((R, 1, 1, n_items))
    e = design.sd_item_lang * normal((R, 1, L, n_items))
    c = design.sd_model_lang * normal((R, M, L, 1))
    u = design.sd_lang * normal((R, 1, L, 1))
    g = design.sd_model_gain * normal((R, M, 1, 1))
    s = design.sd_seed * normal((design.n_seeds, R, M, L, 1))
    uniform_ref = rng.random((R, M, L, n_items), dtype=np.float32)
    uniform_ft = rng.random((design.n_seeds, R, M, L, n_items), dtype=np.float32)

    semitic = design.semitic[None, None, :, None]
    reference = design.base_logit + a - b - d - e + c - design.headroom * semitic
    gain = design.global_gain + effect * semitic + u + g
    correct_ref = uniform_ref < _p_correct(reference, design.chance)
    correct_ft = uniform_ft < _p_correct(reference + gain + s, design.chance)
    return correct_ft.mean(axis=0) - correct_ref


def simulate_interaction(
    design: Design,
    replicates: int,
    rng: np.random.Generator,
    effect: float | None = None,
    chunk: int = 50,
) -> np.ndarray:
    """Per-item pseudo-values of the log-odds gain of fine-tuning on a Semitic source rather
    than on a non-Semitic one (replicates, models, languages, items), `logit_contrasts` of the
    two fine-tuned cells as the analysis computes them: their Semitic-minus-control difference
    is the source × target interaction in log-odds.

    Both sources start from the same base cell (as in `simulate`, with `headroom`); the
    Semitic source adds global_gain + effect·semitic + u_A[l] + g_A[m], the other other_gain +
    u_B[l] + g_B[m], each language and model with its own random gain for each source, and
    seed noise per adapter. Draws are made before the effect enters (common random numbers),
    `chunk` replicates at a time."""
    effect = design.effect if effect is None else effect
    M, L, n_items, S = design.n_models, design.n_languages, design.n_items, design.n_seeds
    semitic = design.semitic[None, None, :, None]
    normal = rng.standard_normal
    out = np.empty((replicates, M, L, n_items))
    for start in range(0, replicates, chunk):
        R = min(chunk, replicates - start)
        a = design.sd_model * normal((R, M, 1, 1))
        b = design.sd_lang_base * normal((R, 1, L, 1))
        d = design.sd_item * normal((R, 1, 1, n_items))
        e = design.sd_item_lang * normal((R, 1, L, n_items))
        c = design.sd_model_lang * normal((R, M, L, 1))
        reference = design.base_logit + a - b - d - e + c - design.headroom * semitic
        cells = []
        for gain, planted in ((design.global_gain, effect), (design.other_gain, 0.0)):
            u = design.sd_lang * normal((R, 1, L, 1))
            g = design.sd_model_gain * normal((R, M, 1, 1))
            s = design.sd_seed * normal((S, R, M, L, 1))
            uniform = rng.random((S, R, M, L, n_items), dtype=np.float32)
            shift = gain + planted * semitic + u + g + s
            cells.append((uniform < _p_correct(reference + shift, design.chance)).mean(axis=0))
        out[start : start + R] = logit_contrasts(*cells, chance=design.chance)
    return out


def effect_points(
    design: Design, effect: float | None = None, n_draws: int = 200_000, seed: int = 12345
) -> float:
    """The Semitic effect in percentage points: the expected rise in a Semitic language's
    fine-tuned accuracy that `effect` logits cause, everything else as in the design."""
    effect = design.effect if effect is None else effect
    rng = np.random.default_rng(seed)
    sds = [
        design.sd_model,
        design.sd_lang_base,
        design.sd_item,
        design.sd_item_lang,
        design.sd_model_lang,
        design.sd_lang,
        design.sd_model_gain,
        design.sd_seed,
    ]
    spread = math.sqrt(sum(sd**2 for sd in sds))
    logit = design.base_logit + design.global_gain + spread * rng.standard_normal(n_draws)
    shift = _p_correct(logit + effect, design.chance) - _p_correct(logit, design.chance)
    return float(100.0 * shift.mean())


# ---------------------------------------------------------------------------------------------
# The tests, each on a batch of replicates; each returns a boolean rejection per replicate.


def _languages(diffs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(per-item model-averaged differences, gains, item variances of the gains)."""
    contrasts = diffs.mean(axis=1)
    n_items = contrasts.shape[-1]
    return contrasts, contrasts.mean(axis=-1), contrasts.var(axis=-1, ddof=1) / n_items


def reject_item_bootstrap(
    diffs: np.ndarray,
    semitic: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
    n_boot: int = N_BOOT,
    chunk: int = 16,
) -> np.ndarray:
    """The current conditional test: the item-bootstrap percentile interval of the DiD (same
    question ids in every language and model) excludes 0. The DiD is linear in the items, so
    each replicate is reduced to its per-item DiD before resampling."""
    contrasts, _, _ = _languages(diffs)
    per_item = contrasts[:, semitic].mean(axis=1) - contrasts[:, ~semitic].mean(axis=1)
    R, n_items = per_item.shape
    reject = np.zeros(R, dtype=bool)
    for start in range(0, R, chunk):
        block = per_item[start : start + chunk]
        draws = rng.integers(0, n_items, size=(len(block), n_boot, n_items))
        boot = np.take_along_axis(block[:, None, :], draws, axis=2).mean(axis=2)
        low, high = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0], axis=1)
        reject[start : start + chunk] = (low > 0) | (high < 0)
    return reject


def _masks(semitic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return relabellings(semitic, SIM_MAX_RELABELLINGS, SIM_N_PERM, rng)[0]


def reject_permutation(
    diffs: np.ndarray, semitic: np.ndarray, alpha: float, rng: np.random.Generator
) -> np.ndarray:
    """A language-label permutation test of |DiD| (difference of mean gains, unstudentised)."""
    _, gains, _ = _languages(diffs)
    masks = _masks(semitic, rng)
    weights = masks / masks.sum(axis=1, keepdims=True) - ~masks / (~masks).sum(axis=1)[:, None]
    return randomization_p(gains @ weights.T) <= alpha + 1e-12


def reject_meta(
    diffs: np.ndarray, semitic: np.ndarray, alpha: float, rng: np.random.Generator
) -> np.ndarray:
    """Language-level HKSJ random-effects meta-regression: Semitic coefficient p ≤ alpha."""
    _, gains, variances = _languages(diffs)
    fit = fit_meta_batch(gains, variances, semitic_design(semitic))
    return fit.p_values()[:, 1] <= alpha


def reject_randomization(
    diffs: np.ndarray, semitic: np.ndarray, alpha: float, rng: np.random.Generator
) -> np.ndarray:
    """Language-level randomization test (Welch's t over relabellings): p ≤ alpha."""
    _, gains, _ = _languages(diffs)
    return randomization_p(welch_t(gains, _masks(semitic, rng))) <= alpha + 1e-12


RejectFn = Callable[[np.ndarray, np.ndarray, float, np.random.Generator], np.ndarray]

# name → (label, conditional on the chosen languages?, rejection function)
TESTS: dict[str, tuple[str, bool, RejectFn]] = {
    "item_bootstrap": ("item-bootstrap DiD CI", True, reject_item_bootstrap),
    "permutation": ("language permutation of DiD", False, reject_permutation),
    "meta": ("language-level meta-regression (HKSJ)", False, reject_meta),
    "randomization": ("language-level randomization (Welch t)", False, reject_randomization),
}
LANGUAGE_LEVEL = ("meta", "randomization")


def _smallest_p(test: str, design: Design) -> float:
    """The smallest p a test can give in this design (NaN for the bootstrap interval; the t
    test can give any p > 0 once it has a residual degree of freedom)."""
    if test in ("permutation", "randomization"):
        floor, _, _ = smallest_p(
            design.n_semitic, design.n_control, "two-sided", SIM_MAX_RELABELLINGS, SIM_N_PERM
        )
        return floor
    if test == "meta":
        return 0.0 if design.n_languages > 2 else math.nan
    return math.nan


def rejections(
    design: Design,
    effect: float,
    replicates: int,
    seed: int = 0,
    tests: Sequence[str] = tuple(TESTS),
) -> dict[str, np.ndarray]:
    """Per-replicate rejections of each test on studies simulated with `effect` logits."""
    rng = np.random.default_rng(seed)
    diffs = simulate(design, replicates, rng, effect)
    semitic = design.semitic
    out = {}
    for name in tests:
        test_rng = np.random.default_rng([seed, list(TESTS).index(name)])
        out[name] = TESTS[name][2](diffs, semitic, design.alpha, test_rng)
    return out


def power(
    design: Design, replicates: int = 200, seed: int = 0, tests: Sequence[str] = tuple(TESTS)
) -> PowerResults:
    """Rejection counts of each test under the design's effect and under effect 0 (same
    `sd_lang`, same draws), over `replicates` simulated studies."""
    null = rejections(design, 0.0, replicates, seed, tests)
    planted = rejections(design, design.effect, replicates, seed, tests)
    results = []
    for name in tests:
        label, conditional, _ = TESTS[name]
        floor = _smallest_p(name, design)
        results.append(
            TestPower(
                name,
                label,
                conditional,
                replicates,
                int(null[name].sum()),
                int(planted[name].sum()),
                floor,
                _can_reject(name, design),
            )
        )
    return PowerResults(design, effect_points(design), tuple(results))


def _can_reject(test: str, design: Design) -> bool:
    if test == "item_bootstrap":
        return True
    feasible = can_reject(
        design.n_semitic,
        design.n_control,
        design.alpha,
        max_relabellings=SIM_MAX_RELABELLINGS,
        n_perm=SIM_N_PERM,
    )
    return feasible.t_can_reject if test == "meta" else feasible.randomization_can_reject


def _power_at(design: Design, effect: float, test: str, replicates: int, seed: int) -> float:
    if test in INTERACTION_TESTS:
        return float(interaction_rejections(design, effect, replicates, seed)[test].mean())
    return float(rejections(design, effect, replicates, seed, (test,))[test].mean())


# The test of Semitic-specific transfer: the source × target interaction in log-odds, with
# language as the unit (findings.md's verdict: the randomization test).
INTERACTION_TESTS: dict[str, tuple[str, RejectFn]] = {
    "interaction_randomization": (
        "Semitic-specific: randomization (Welch t) of log-odds interaction",
        reject_randomization,
    ),
    "interaction_meta": (
        "Semitic-specific: meta-regression (HKSJ) of log-odds interaction",
        reject_meta,
    ),
}


def interaction_rejections(
    design: Design, effect: float, replicates: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per-replicate rejections of the Semitic-specific (log-odds interaction) tests on
    two-source studies simulated with a Semitic-specific `effect` in logits."""
    rng = np.random.default_rng([seed, 101])
    diffs = simulate_interaction(design, replicates, rng, effect)
    out = {}
    for k, (name, (_, reject)) in enumerate(INTERACTION_TESTS.items()):
        out[name] = reject(diffs, design.semitic, design.alpha, np.random.default_rng([seed, k]))
    return out


def interaction_power(design: Design, replicates: int = 200, seed: int = 0) -> PowerResults:
    """False-positive rate (no Semitic-specific effect; the sources' general gains differ)
    and power (the design's effect) of the Semitic-specific tests."""
    null = interaction_rejections(design, 0.0, replicates, seed)
    planted = interaction_rejections(design, design.effect, replicates, seed)
    results = []
    for name, (label, _) in INTERACTION_TESTS.items():
        base = name.removeprefix("interaction_")
        results.append(
            TestPower(
                name,
                label,
                False,
                replicates,
                int(null[name].sum()),
                int(planted[name].sum()),
                _smallest_p(base, design),
                _can_reject(base, design),
            )
        )
    return PowerResults(design, effect_points(design), tuple(results))


# ---------------------------------------------------------------------------------------------
# Planning.


def minimum_detectable_effect(
    design: Design,
    power: float = 0.8,
    *,
    test: str = "meta",
    replicates: int = 200,
    seed: int = 0,
    max_effect: float = 3.0,
    tol: float = 0.01,
) -> DetectableEffect:
    """The smallest Semitic effect (logits, and points) at which `test` reaches `power`,
    by bisection on the effect with common random numbers. inf if not reached by `max_effect`
    or if the test cannot reject in this design at all."""
    if not _can_reject(test.removeprefix("interaction_"), design):
        return DetectableEffect(test, math.inf, math.inf, 0.0, power, replicates)
    top = _power_at(design, max_effect, test, replicates, seed)
    if top < power:
        return DetectableEffect(test, math.inf, math.inf, top, power, replicates)
    low, high, at_high = 0.0, max_effect, top
    while high - low > tol:
        mid = 0.5 * (low + high)
        achieved = _power_at(design, mid, test, replicates, seed)
        if achieved >= power:
            high, at_high = mid, achieved
        else:
            low = mid
    return DetectableEffect(test, high, effect_points(design, high), at_high, power, replicates)


def fewest_controls(
    design: Design,
    power: float = 0.8,
    effect: float | None = None,
    *,
    test: str = "meta",
    max_controls: int = 40,
    replicates: int = 200,
    seed: int = 0,
) -> FewestControls:
    """The fewest control languages, with the design's Semitic count, for which the
    language-level tests can reject at alpha at all, and for which `test` has `power` at
    `effect` logits (default: the design's). The powered count is found by doubling then
    bisection, which assumes power grows with the number of controls."""
    effect = design.effect if effect is None else effect
    exact = 10**18  # the design's own exact test, whatever the simulation's Monte Carlo cap
    counts = range(1, max_controls + 1)
    feasible = [
        can_reject(design.n_semitic, n, design.alpha, max_relabellings=exact) for n in counts
    ]
    first_random = next((f.n_control for f in feasible if f.randomization_can_reject), None)
    first_t = next((f.n_control for f in feasible if f.t_can_reject), None)
    start = first_t if test == "meta" else first_random

    def achieved(n: int) -> float:
        return _power_at(design.with_(n_control=n), effect, test, replicates, seed)

    powered, best = _doubling_search(achieved, start, max_controls, power)
    return FewestControls(
        design.n_semitic, design.alpha, first_random, first_t, powered, test, effect, power, best
    )


def _doubling_search(
    achieved: Callable[[int], float], start: int | None, stop: int, target: float
) -> tuple[int | None, float]:
    """Smallest n in [start, stop] with achieved(n) ≥ target (assuming it grows with n)."""
    if start is None:
        return None, 0.0
    failed, n = start - 1, start
    while True:
        value = achieved(n)
        if value >= target:
            break
        if n >= stop:
            return None, value
        failed, n = n, min(stop, 2 * n)
    while n - failed > 1:
        mid = (failed + n) // 2
        mid_value = achieved(mid)
        if mid_value >= target:
            n, value = mid, mid_value
        else:
            failed = mid
    return n, value


# ---------------------------------------------------------------------------------------------
# Report.


def _count(k: int, n: int) -> str:
    return f"{k}/{n} ({k / n:.3f})"


def feasibility_sentence(n_semitic: int, n_control: int, alpha: float) -> str:
    """In words: can the language-level randomization test reject at `alpha` with these counts?"""
    f = can_reject(n_semitic, n_control, alpha, max_relabellings=10**18)
    mirror = ", which pair up as mirror images" if n_semitic == n_control else ""
    where = f"With {n_semitic} Semitic + {n_control} control languages"
    facts = (
        f"its smallest attainable p is {f.smallest_p:.3g} ({f.n_relabellings} relabellings{mirror})"
    )
    if f.randomization_can_reject:
        return (
            f"{where} the language-level randomization test can reject at α = {alpha:g}: {facts}."
        )
    return f"{where} the language-level randomization test cannot reject at α = {alpha:g}: {facts}."


def _table(d: Design, results: PowerResults) -> str:
    """The tests' false positives, power, smallest p and feasibility as a text table."""
    rows = [("test", "false positives (effect 0)", "power", "smallest p", "can reject")]
    for t in results.tests:
        label = t.label + (" *" if t.conditional else "")
        floor = "-" if math.isnan(t.smallest_p) else f"{t.smallest_p:.3g}"
        if t.test in ("meta", "interaction_meta"):
            df = d.n_languages - 2
            floor = f"→ 0 (t, df {df})" if df >= 1 else "- (t, df 0)"
        rows.append(
            (
                label,
                _count(t.rejections_null, t.replicates),
                _count(t.rejections_effect, t.replicates),
                floor,
                "yes" if t.can_reject else "NO",
            )
        )
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    table = "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
    return table


def format_report(design: Design, results: PowerResults) -> str:
    """A compact plain-text table of false-positive rates and power, and what the language-
    level randomization test can do with the design's and the paper's (3 + 3) languages."""
    d = design
    head = (
        f"Power of Semitic-vs-control tests: {d.n_models} models, {d.n_items} items, "
        f"{d.n_semitic} Semitic + {d.n_control} control languages, {d.n_seeds} seed(s)\n"
        f"between-language sd of gain {d.sd_lang:.2f} logits; Semitic effect {d.effect:.2f} "
        f"logits (≈ {results.effect_points:.1f} percentage points); alpha {d.alpha:g}"
    )
    table = _table(d, results)
    notes = [
        "* conditional on the chosen languages: treats them as fixed, so ordinary "
        "between-language differences in gain count as a Semitic effect.",
        feasibility_sentence(d.n_semitic, d.n_control, d.alpha),
    ]
    if (d.n_semitic, d.n_control) != (PAPER_SEMITIC, PAPER_CONTROL) or d.alpha != 0.05:
        paper = feasibility_sentence(PAPER_SEMITIC, PAPER_CONTROL, 0.05)
        notes.append("In the paper's design: " + paper[0].lower() + paper[1:])
    return "\n".join([head, "", table, "", *notes])


def format_interaction(design: Design, results: PowerResults) -> str:
    """The false-positive rate and power of the Semitic-specific tests (source × target
    interaction in log-odds) as a plain-text table with its setting."""
    d = design
    head = (
        "Semitic-specific transfer (findings.md's verdict): the source × target interaction "
        "in log-odds, language as the unit; a Semitic and a non-Semitic source with general "
        f"gains {d.global_gain:.2f} and {d.other_gain:.2f} logits, Semitic targets starting "
        f"{d.headroom:.2f} logits lower; Semitic-specific effect {d.effect:.2f} logits"
    )
    return "\n".join([head, "", _table(d, results)])
