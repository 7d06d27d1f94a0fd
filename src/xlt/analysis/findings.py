"""`findings.md`: the study's answer in words, written from the tables and nothing else.

Every number in the text is read from transfer.csv, ft_vs_cot.csv, scores.csv (and, when
given, typology.csv) and only formatted here (proportions as percentage points), so the prose
cannot drift from the tables.

The headline of each contrast is the language-level answer: do Semitic languages, as a
family, gain more than other languages in log-odds? Its verdict comes from the randomization
test over language labels on per-language log-odds gains (`language_randomization_logit`),
which needs only that languages be exchangeable; the meta-regression (`language_meta_logit`)
gives the estimate and interval. Log-odds, because a gain the model makes everywhere is the
same number of log-odds for a language that starts low as for one that starts high, but not the
same number of percentage points (headroom); the percentage-point rows (`language_meta`,
`language_randomization`) are quoted as descriptive. Only the source × target interaction,
under its own heading, can be called Semitic-specific transfer. When the design cannot
reject at all (its smallest attainable p exceeds alpha, or there are too few languages), the
text says so and why, instead of calling the result inconclusive. Item-level results (the
item-bootstrap DiD, OLS, mixed model) are quoted as conditional on the chosen languages. Every
p-value printed comes with the question it answers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import pandas as pd

from xlt.analysis.metrics import percent

MINUS = "\u2212"
SCALE_TITLES = {
    "loglik": "format-free accuracy (label log-likelihood)",
    "gen": "generative accuracy",
}
LANGUAGE_Q = "do Semitic languages gain more than other languages, in log-odds? (languages random)"
# The rows that give the verdict (log-odds) and the descriptive percentage-point rows.
VERDICT_METHODS = ("language_randomization_logit", "language_meta_logit")
POINTS_METHODS = ("language_randomization", "language_meta")
CONDITIONAL_Q = "do these Semitic targets gain more than these controls, for these languages?"


def _num(value: float, digits: int = 1, sign: bool = True) -> str:
    """A number with a real minus sign (and a plus sign when `sign`)."""
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return text.replace("-", MINUS)


def pp(value: float) -> str:
    """A proportion difference in percentage points, e.g. +0.8 pp."""
    return f"{_num(100 * value)} pp"


def interval(low: float, high: float, scale: float = 100.0, digits: int = 1) -> str:
    """An interval, e.g. [−2.1, 3.6]."""
    return f"[{_num(scale * low, digits, sign=False)}, {_num(scale * high, digits, sign=False)}]"


def p_text(p: float) -> str:
    """A p-value to two significant digits (p < 0.001 below that)."""
    if not math.isfinite(p):
        return "p not defined"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _finite(row: pd.Series | dict, *columns: str) -> bool:
    return all(
        isinstance(row[c], numbers.Real) and not isinstance(row[c], bool) and math.isfinite(row[c])
        for c in columns
    )


def _count(row: pd.Series, column: str) -> int:
    return int(row[column]) if _finite(row, column) else 0


def cannot_reject_reason(
    n_semitic: int,
    n_control: int,
    smallest_p: float,
    alpha: float,
    n_relabellings: int | None = None,
    exact: bool = True,
) -> str:
    """Why the language-level test cannot reject, in words. `n_relabellings` and `exact` come
    from the row: a Monte Carlo test's floor is set by its draws, not by the languages."""
    if not exact and n_relabellings:
        return (
            f"the randomization test drew {n_relabellings} relabellings, so its smallest "
            f"attainable p is {smallest_p:.2g} > α = {alpha:g}: raise analysis.n_permutations"
        )
    relabellings = n_relabellings or math.comb(n_semitic + n_control, n_semitic)
    return (
        f"with {n_semitic} Semitic + {n_control} control languages there are only "
        f"{relabellings} ways to label the languages, so the randomization test's smallest "
        f"attainable p is {smallest_p:.2g} > α = {alpha:g}: no result, however large, could "
        "reach significance. More languages, not more items or seeds, would fix this"
    )


def gain_phrase(row: pd.Series | dict) -> str:
    """What a contrast's gain is, in words: "gain from fine-tuning on arabic", "CoT gain"."""
    if row["contrast"] == "cot":
        return "CoT gain"
    gain = f"gain from fine-tuning on {row['source']}"
    reference = row.get("reference")
    if row["contrast"] == "interaction" and isinstance(reference, str):
        other = reference.removeprefix("fine-tuned on ")
        if reference != "base/direct":
            gain += f" rather than on {other}"
    return gain


def language_verdict(
    estimate: float,
    p: float,
    smallest_p: float,
    alpha: float,
    n_semitic: int,
    n_control: int,
    gain: str = "gain",
    interaction: bool = False,
    why_not: str | None = None,
) -> str:
    """The headline rule, from the randomization test over language labels on log-odds gains.
    Only the source × target interaction is called Semitic-specific transfer: a larger gain
    from one treatment can also come from script or format, which a second, non-Semitic
    source differences out; headroom is held fixed by the log-odds scale.
    `why_not`: the reason the design cannot reject, when the caller knows it better."""
    if smallest_p > alpha + 1e-12:
        reason = why_not or cannot_reject_reason(n_semitic, n_control, smallest_p, alpha)
        return "the design cannot answer this at the language level: " + reason
    significant = p <= alpha + 1e-12
    if interaction:
        what = (
            f"Semitic languages have a larger {gain}, in log-odds, than other languages"
            if estimate > 0 or not significant
            else f"Semitic languages have a smaller {gain}, in log-odds, than other languages"
        )
        if significant and estimate > 0:
            return f"Semitic-specific transfer: at the language level, {what}"
        if significant:
            return f"no Semitic-specific transfer: at the language level, {what}"
        return f"no evidence at the language level of Semitic-specific transfer ({what})"
    if significant:
        direction = "larger" if estimate > 0 else "smaller"
        return (
            f"evidence at the language level that Semitic languages have a {direction} {gain}, "
            "in log-odds, than other languages"
        )
    return (
        f"no evidence at the language level that Semitic languages have a larger {gain}, in "
        "log-odds, than other languages"
    )


def _langs(text: Any) -> str:
    return ", ".join(str(text).split(";")) if isinstance(text, str) and text else "none"


def _contrast_title(row: pd.Series) -> str:
    if row["contrast"] == "ft":
        return f"Fine-tuning on {row['source']}"
    if row["contrast"] == "interaction":
        if not isinstance(row.get("reference"), str) or row["reference"] == "base/direct":
            return "Source × target interaction"
        other = str(row["reference"]).removeprefix("fine-tuned on ")
        return f"Source × target interaction: fine-tuning on {row['source']} rather than {other}"
    return "Chain-of-thought prompting (base weights)"


def _rows(frame: pd.DataFrame, level: str, method: str) -> pd.DataFrame:
    return frame[(frame["level"] == level) & (frame["method"] == method)]


def _language_rows(
    frame: pd.DataFrame, level: str, unit: str, methods: tuple[str, str] = VERDICT_METHODS
) -> tuple[pd.Series, pd.Series]:
    """The (randomization, meta-regression) rows of one unit (by default the log-odds rows of
    the verdict); the first may have no p."""
    rows = frame[(frame["level"] == level) & (frame["unit"] == unit)]
    random = rows[rows["method"] == methods[0]]
    meta = rows[rows["method"] == methods[1]]
    empty = pd.Series({"p_value": math.nan, "note": "no language-level rows"})
    return (
        random.iloc[0] if not random.empty else empty,
        meta.iloc[0] if not meta.empty else empty,
    )


def _why_not(row: pd.Series, alpha: float) -> str:
    """Why a randomization row cannot reject, from its own counts."""
    return cannot_reject_reason(
        _count(row, "n_semitic"),
        _count(row, "n_control"),
        row["smallest_p"],
        alpha,
        _count(row, "n_relabellings") or None,
        bool(row.get("exact", True)),
    )


def _not_tested(random: pd.Series, meta: pd.Series) -> str:
    """Why a unit has no language-level p: every gain equal, or the rows' own note."""
    note = random.get("note")
    if isinstance(note, str) and note.startswith("not tested"):
        return note.removeprefix("not tested: ")
    if _finite(random, "estimate"):
        return "every language has the same gain, so there is nothing to rank"
    return str(meta.get("note", "no language-level rows"))


def language_lines(frame: pd.DataFrame, level: str, unit: str, alpha: float) -> list[str]:
    """The language-level verdict and its numbers for one unit (pooled, a band or a model)."""
    r, m = _language_rows(frame, level, unit)
    if not _finite(r, "p_value"):
        return [f"not tested at the language level ({_not_tested(r, m)})"]
    verdict = language_verdict(
        r["estimate"],
        r["p_value"],
        r["smallest_p"],
        alpha,
        _count(r, "n_semitic"),
        _count(r, "n_control"),
        gain=gain_phrase(r),
        interaction=r["contrast"] == "interaction",
        why_not=_why_not(r, alpha),
    )
    details = (
        f"log-odds gains: randomization over language labels {p_text(r['p_value'])} (smallest "
        f"attainable p {r['smallest_p']:.2g}); meta-regression estimate "
        f"{_num(m['estimate'], 2)} log-odds {interval(m['ci_low'], m['ci_high'], 1, 2)}, HKSJ "
        f"t {p_text(m['p_value'])} on {_count(m, 'df')} df (t-based: assumes roughly normal "
        "language effects; every language weighs the same)"
    )
    return [verdict, details, *points_lines(frame, level, unit)]


def points_lines(frame: pd.DataFrame, level: str, unit: str) -> list[str]:
    """The percentage-point difference of a unit, language level, named as descriptive."""
    r, m = _language_rows(frame, level, unit, POINTS_METHODS)
    if not _finite(m, "estimate", "ci_low", "ci_high") or not _finite(r, "p_value"):
        return []
    name = (
        "the source × target interaction in percentage points"
        if r.get("contrast") == "interaction"
        else "the Semitic − control difference in percentage points"
    )
    return [
        f"{name} (descriptive: headroom alone can make one, so no verdict rests on it): "
        f"{pp(m['estimate'])} {interval(m['ci_low'], m['ci_high'])} (unweighted: every "
        f"language weighs the same), randomization over language labels {p_text(r['p_value'])}"
    ]


def language_short(frame: pd.DataFrame, level: str, unit: str, alpha: float) -> str:
    """The language-level verdict of a band or model in a few words, with its p."""
    r, m = _language_rows(frame, level, unit)
    if not _finite(r, "p_value"):
        return f"language level: not tested ({_not_tested(r, m)})"
    if r["smallest_p"] > alpha + 1e-12:
        verdict = f"cannot reject (smallest attainable p {r['smallest_p']:.2g} > α)"
    elif r["p_value"] <= alpha + 1e-12:
        direction = "larger" if r["estimate"] > 0 else "smaller"
        verdict = (
            f"evidence of a {direction} Semitic gain in log-odds, randomization "
            f"{p_text(r['p_value'])}"
        )
    else:
        verdict = f"no evidence, randomization {p_text(r['p_value'])}"
    return f"language level (same question, this unit): {verdict}"


def conditional_sentence(row: pd.Series, short: bool = False) -> str:
    """The item-bootstrap DiD of a unit, labelled as conditional on its languages (`short`:
    for bands and models, after the pooled line has stated the question)."""
    if not _finite(row, "estimate", "ci_low", "ci_high", "p_value"):
        return f"item level: not tested ({row['note']})"
    values = (
        f"{pp(row['estimate'])} {interval(row['ci_low'], row['ci_high'])}, bootstrap "
        f"{p_text(row['p_value'])}"
    )
    if short:
        return f"item level, conditional on these languages (same question): {values}"
    excludes = row["ci_low"] > 0 or row["ci_high"] < 0
    reading = "the interval excludes 0" if excludes else "the interval includes 0"
    return (
        f"item level, conditional on these {_count(row, 'n_semitic')} + "
        f"{_count(row, 'n_control')} languages ({CONDITIONAL_Q}): {values} — {reading} for "
        "these languages only, which does not carry over to other Semitic or control languages"
    )


def model_sentence(row: pd.Series) -> str:
    """One regression or mixed-model term in words."""
    if not _finite(row, "estimate"):
        return str(row["note"]).rstrip(".")
    bounded = _finite(row, "ci_low", "ci_high")
    if row["units"] == "log-odds":
        span = f" {interval(row['ci_low'], row['ci_high'], 1, 2)}" if bounded else ""
        value = f"{_num(row['estimate'], 2)} log-odds{span}"
    elif row["units"] == "slope":
        span = f" {interval(row['ci_low'], row['ci_high'], 1, 2)}" if bounded else ""
        value = f"{_num(row['estimate'], 2)} log-odds per log-odds of base accuracy{span}"
    else:
        span = f" {interval(row['ci_low'], row['ci_high'])}" if bounded else ""
        value = f"{pp(row['estimate'])}{span}"
    test = f", {p_text(row['p_value'])}" if _finite(row, "p_value") else ""
    question = f" [{row['question']}]" if isinstance(row.get("question"), str) else ""
    return f"{row['term']}: {value}{test}{question}"


def _language_set(row: pd.Series | dict) -> tuple[str, str, str]:
    return (str(row["semitic_langs"]), str(row["control_langs"]), str(row["excluded_langs"]))


def languages_sentence(row: pd.Series | dict) -> str:
    """The Semitic targets, controls and excluded source languages of a row, in words."""
    return (
        f"Semitic targets: {_langs(row['semitic_langs'])}; controls: "
        f"{_langs(row['control_langs'])}; excluded (every source language of the study): "
        f"{_langs(row['excluded_langs'])}"
    )


def _setup_sentence(row: pd.Series, study_set: tuple[str, str, str] | None = None) -> str:
    """The contrast's languages (only where they differ from the study's set, named once in
    the setup), questions, seeds and models."""
    seeds = f"{_count(row, 'n_seeds')} seed(s) per adapter, " if row["contrast"] != "cot" else ""
    counts = f"{_count(row, 'n_semitic')} Semitic targets + {_count(row, 'n_control')} controls"
    if study_set is None or _language_set(row) != study_set:
        counts = languages_sentence(row)
    else:
        counts += " (the study's languages, see Setup)"
    return (
        f"{counts}. {_count(row, 'n_items')} questions, {seeds}{_count(row, 'n_models')} model(s)."
    )


def contrast_section(
    frame: pd.DataFrame, alpha: float, study_set: tuple[str, str, str] | None = None
) -> list[str]:
    """The lines of one contrast × scale: the language-level headline, the conditional
    item-level result, bands and models, regression and mixed model."""
    first = frame.iloc[0]
    lines = [f"### {_contrast_title(first)} — {SCALE_TITLES[first['scale']]}", ""]
    did = frame[frame["method"] == "did"]
    pooled = _rows(frame, "pooled", "did")
    if pooled.empty or not _finite(pooled.iloc[0], "n_items"):
        note = (pooled if not pooled.empty else frame).iloc[0]["note"]
        return [*lines, f"Not tested: {str(note).removeprefix('not tested: ')}.", ""]
    row = pooled.iloc[0]
    lines += [_setup_sentence(row, study_set), ""]
    asked = _rows(frame, "pooled", VERDICT_METHODS[0])["question"].dropna()
    question = asked.iloc[0] if not asked.empty else LANGUAGE_Q
    headline, *details = language_lines(frame, "pooled", "all", alpha)
    lines.append(f"- **Language level (the headline; question: {question}): {headline}.**")
    lines += [f"  - {d}." for d in details]
    conditional = conditional_sentence(row)
    lines.append(f"- {conditional[0].upper()}{conditional[1:]}.")
    models = did[did["level"] == "model"]
    for band in did[did["level"] == "band"].to_dict("records"):
        band = pd.Series(band)
        members = str(band["models"]).split(";") if isinstance(band["models"], str) else []
        label = f"{band.unit} band ({', '.join(members) or 'no models'})"
        if not members:
            lines.append(f"- {label}: {band['note']}.")
            continue
        verdict = language_short(frame, "band", band.unit, alpha)
        lines.append(f"- {label}: {verdict}; {conditional_sentence(band, short=True)}.")
        if len(members) > 1:
            for member in models[models["unit"].isin(members)].to_dict("records"):
                member = pd.Series(member)
                conditional = conditional_sentence(member, short=True)
                lines.append(f"  - {member.unit}: {conditional}.")
    fitted = frame[(frame["level"] == "pooled") & frame["method"].isin(["ols", "mixed_logit"])]
    for method, terms in fitted.groupby("method", sort=False):
        what = (
            "Regression of the cell's log-odds gain (languages fixed)"
            if method == "ols"
            else "Item-level mixed model (languages fixed)"
        )
        formulas = " and ".join(f"`{f}`" for f in dict.fromkeys(terms["formula"].dropna()))
        parts = "; ".join(model_sentence(t) for _, t in terms.iterrows())
        notes = sorted({str(n).rstrip(".") for n in terms["note"] if isinstance(n, str) and n})
        noted = f" ({'; '.join(notes)})" if notes and _finite(terms.iloc[0], "estimate") else ""
        lines.append(f"- {what} ({formulas}): {parts}{noted}.")
    if not fitted.empty:
        lines.append("- Per-band regressions and mixed models: transfer.csv (level = band).")
    lines += _slope_lines(frame)
    return [*lines, ""]


def _slope_lines(frame: pd.DataFrame) -> list[str]:
    slope = frame[
        (frame["level"] == "pooled") & (frame["method"] == "ols") & (frame["term"] == "logit_base")
    ]
    if slope.empty or not _finite(slope.iloc[0], "estimate", "ci_low", "ci_high"):
        return []
    s = slope.iloc[0]
    name = "fine-tuning" if s["contrast"] == "ft" else "CoT"
    if s["ci_high"] < 0:
        return [
            f"- The {name} gain in log-odds falls as base accuracy rises (slope < 0) across "
            "these cells; "
            "part or all of that can be regression to the mean (see below)."
        ]
    if s["ci_low"] > 0:
        return [
            f"- The {name} gain in log-odds rises with base accuracy (slope > 0) across these "
            "cells."
        ]
    return [
        f"- The {name} gain in log-odds shows no clear relation to base accuracy across these "
        "cells."
    ]


def correlation_lines(ft_vs_cot: pd.DataFrame) -> list[str]:
    """The FT-gain vs CoT-gain correlations in words (or why there are none)."""
    lines = ["## Does fine-tuning help where CoT helps?", ""]
    if ft_vs_cot.empty or ft_vs_cot["pearson_r"].isna().all():
        notes = sorted({str(n) for n in ft_vs_cot.get("note", pd.Series()).dropna() if n})
        why = "; ".join(notes) if notes else "no fine-tuned and cot cells"
        return [*lines, f"Not measured in this run: {why}.", ""]
    lines += [
        "Question: across these cells (or models), is the fine-tuning gain larger where the "
        "CoT gain is? (cells and models as the units, languages fixed; the cell-level "
        "p-values treat cells as independent, though cells share models and languages)",
        "",
    ]
    for row in ft_vs_cot.itertuples(index=False):
        over = "model × language cells" if row.level == "cells" else "models (mean gains)"
        if not math.isfinite(row.pearson_r):
            lines.append(f"- {row.source}, {row.scale}, over {over}: {row.note}.")
            continue
        pearson = interval(row.pearson_ci_low, row.pearson_ci_high, 1, 2)
        spearman = interval(row.spearman_ci_low, row.spearman_ci_high, 1, 2)
        lines.append(
            f"- {row.source}, {row.scale}, over {row.n} {over}: Pearson r = "
            f"{_num(row.pearson_r, 2, False)} {pearson} ({p_text(row.pearson_p)}), "
            f"Spearman ρ = {_num(row.spearman_rho, 2, False)} {spearman} "
            f"({p_text(row.spearman_p)})."
        )
    return [*lines, ""]


def typology_lines(typology: pd.DataFrame | None) -> list[str]:
    """The distance slopes of the primary typological distance, with their question."""
    if typology is None or typology.empty:
        return []
    lines = ["## Does transfer follow typological distance?", ""]
    primary = typology[typology["primary"].astype(bool) & (typology["term"] == "distance")]
    for row in primary.to_dict("records"):
        row = pd.Series(row)
        head = f"- {row['source']}, {row['scale']}, {row['distance']} distance"
        if not _finite(row, "estimate"):
            lines.append(f"{head}: {row['note']}.")
            continue
        lines.append(
            f"{head} ({_count(row, 'k')} languages; question: {row['question']}): "
            f"{_num(10 * row['estimate'], 1)} pp per 0.1 of distance "
            f"{interval(row['ci_low'] / 10, row['ci_high'] / 10)}, HKSJ t "
            f"{p_text(row['p_value'])} on {_count(row, 'df')} df."
        )
    lines += [
        "- Other distances (phonological, inventory, genetic, geographic) are in typology.csv, "
        "marked secondary: exploratory, not corrected for multiplicity.",
        "",
    ]
    return lines


SECTION_HEADINGS = {
    "ft": "## Does fine-tuning on a source help Semitic languages more than other languages?",
    "cot": "## Does chain-of-thought prompting help Semitic languages more than other languages?",
    "interaction": "## Is there Semitic-specific transfer?",
}


def study_languages(transfer: pd.DataFrame) -> tuple[str, str, str] | None:
    """The study's Semitic targets, controls and excluded languages, from the pooled rows of
    its contrasts (the most common set, should a contrast lack some cells)."""
    if transfer.empty or "semitic_langs" not in transfer:
        return None
    rows = transfer[(transfer["level"] == "pooled") & (transfer["method"] == "did")]
    rows = rows[rows["semitic_langs"].notna() & rows["control_langs"].notna()]
    if rows.empty:
        return None
    sets = [_language_set(row) for row in rows.to_dict("records")]
    return max(dict.fromkeys(sets), key=sets.count)


def setup_lines(
    scores: pd.DataFrame,
    transfer: pd.DataFrame,
    study_set: tuple[str, str, str] | None = None,
) -> list[str]:
    """Models with their bands and base accuracy, the band rule, and the study's languages."""
    lines = ["## Setup", ""]
    if study_set is not None:
        semitic, control, excluded = study_set
        lines.append(
            "- Languages, the same in every contrast: "
            + languages_sentence(
                {"semitic_langs": semitic, "control_langs": control, "excluded_langs": excluded}
            )
            + "."
        )
    base = scores[(scores["weights"] == "base") & (scores["prompting"] == "direct")]
    targets = base[~base["is_source"].astype(bool)]
    accuracy = targets.groupby("model", sort=False)["accuracy_loglik"].mean()
    bands = transfer[transfer["level"] == "model"].drop_duplicates("unit").set_index("unit")["band"]
    for model, acc in accuracy.items():
        band = bands.get(model, "?")
        lines.append(
            f"- {model}: mean base accuracy over targets {100 * acc:.1f}% (format-free), "
            f"{band} band."
        )
    if not transfer.empty:
        lines.append(f"- Bands: {transfer['band_rule'].dropna().iloc[0]}.")
    promptings = ", ".join(sorted(scores["prompting"].unique()))
    lines.append(f"- Prompting conditions evaluated: {promptings}.")
    return [*lines, ""]


def caveat_lines(transfer: pd.DataFrame, alpha: float) -> list[str]:
    """What the numbers can and cannot say: the two questions, the smallest attainable p."""
    lines = [
        "## Reading these numbers",
        "",
        f"- Two questions are answered. Language level: {LANGUAGE_Q} The languages are a "
        "sample, so they are the units: per-language gains (each model's, averaged over "
        "models, paired by question) enter a random-effects meta-regression (REML τ², "
        "Hartung–Knapp–Sidik–Jonkman t, every language weighing the same) and a randomization "
        "test over the Semitic/control labels of the languages (Welch t), which gives the "
        "verdict.",
        "- The verdict is on log-odds gains, logit(treated accuracy) − logit(base accuracy): "
        "a language that starts lower gains a different number of percentage points from the "
        "same improvement in the model (headroom), but the same number of log-odds, so "
        "headroom alone cannot produce a log-odds difference. Percentage-point differences "
        "are given as descriptive quantities only. Semitic-specific transfer is claimed only "
        "from the source × target interaction (a Semitic source against a non-Semitic one), "
        "which also differences out what any fine-tuning teaches (format, task).",
        f"- Conditional: {CONDITIONAL_Q} The item bootstrap, the regression of cell log-odds "
        "gains and the mixed "
        "model hold the chosen languages fixed, so ordinary differences between languages "
        "in how much they gain count as a Semitic effect there; they describe these "
        "languages and do not support a claim about the families.",
    ]
    random = transfer[(transfer["method"] == "language_randomization")]
    random = random[random["level"] == "pooled"]
    for row in random.drop_duplicates(["n_semitic", "n_control"]).to_dict("records"):
        row = pd.Series(row)
        if not _finite(row, "smallest_p"):
            continue
        n_sem, n_ctl = _count(row, "n_semitic"), _count(row, "n_control")
        if row["smallest_p"] > alpha + 1e-12:
            why = _why_not(row, alpha)
            lines.append(f"- The language-level test cannot reject in this design: {why}.")
        else:
            lines.append(
                f"- With {n_sem} Semitic and {n_ctl} control languages the randomization "
                f"test's smallest attainable p is {row['smallest_p']:.3g} (≤ α = {alpha:g})."
            )
    lines += [
        "- Intervals of the item level resample question ids (the same ids in every "
        "language, since Belebele is parallel); they do not include variation over seeds "
        "or over the choice of languages.",
        "- The slope of a cell's log-odds gain on its base accuracy (log-odds) is biased "
        "downwards: the base accuracy's sampling error enters the gain with the opposite sign "
        "(regression to the mean), so a negative slope alone does not show that weak "
        "baselines gain more; for the same reason the Semitic term is fitted without it.",
        f"- Verdicts: evidence at the language level needs the randomization p ≤ α = {alpha:g}; "
        "where the design's smallest attainable p exceeds α the text says the design cannot "
        "answer, rather than 'no evidence'.",
        "",
    ]
    return lines


def _sections(transfer: pd.DataFrame) -> list[pd.DataFrame]:
    """transfer.csv split by contrast, source, reference and scale, in reading order."""
    keys = transfer[["contrast", "source", "reference", "scale"]].drop_duplicates()
    keys = keys.assign(
        _c=keys["contrast"].map({"ft": 0, "cot": 1, "interaction": 2}),
        _s=keys["scale"].map({"loglik": 0, "gen": 1}),
    ).sort_values(["_c", "source", "_s"])
    frames = []
    for key in keys.itertuples(index=False):
        match = (transfer["contrast"] == key.contrast) & (transfer["scale"] == key.scale)
        for column in ("source", "reference"):
            value = getattr(key, column)
            same = transfer[column] == value if isinstance(value, str) else transfer[column].isna()
            match &= same
        frames.append(transfer[match])
    return frames


def level_percent(scores: pd.DataFrame) -> str:
    """The interval level of the tables, e.g. "95%" (read from scores.csv's ci_level)."""
    levels = scores["ci_level"].dropna().unique() if "ci_level" in scores else []
    return percent(float(levels[0])) if len(levels) == 1 else "at analysis.ci_level"


def toy_notice(models: Sequence[str]) -> list[str]:
    """A warning that opens findings.md when the study's models are the demo's toy models."""
    if not models:
        return []
    return [
        f"> **These are toy models ({', '.join(models)}), built in seconds for the demo: they "
        "cannot read.** Every number below only shows that each stage of the pipeline runs "
        "(splitting, fine-tuning, evaluation, statistics); none says anything about languages. "
        "For real pretrained models on the same data: `snakemake --cores 2 --configfile "
        "config/small-real.yaml` (README, 'A small study with real models').",
        "",
    ]


def findings_markdown(
    transfer: pd.DataFrame,
    ft_vs_cot: pd.DataFrame,
    scores: pd.DataFrame,
    alpha: float = 0.05,
    typology: pd.DataFrame | None = None,
    toy_models: Sequence[str] = (),
    tables_dir: str = "results/tables",
) -> str:
    """The whole findings.md text. `toy_models`: models built for the demo, which cannot read;
    when there are any, the text opens by saying the numbers check the pipeline only."""
    lines = [
        "# Findings: language-family transfer or task-format alignment?",
        "",
        *toy_notice(toy_models),
        f"Generated from `{tables_dir}/` (transfer.csv, ft_vs_cot.csv, scores.csv"
        + (", typology.csv" if typology is not None else "")
        + "); every number below is in those tables. Differences are in percentage points "
        f"(pp) of accuracy; intervals are {level_percent(scores)}. Each p-value is given with "
        "the question it answers.",
        "",
    ]
    study_set = study_languages(transfer)
    lines += setup_lines(scores, transfer, study_set)
    if transfer.empty:
        lines += ["No fine-tuned or CoT cells: nothing to compare with the base model.", ""]
    heading = None
    for frame in _sections(transfer):
        contrast = frame.iloc[0]["contrast"]
        if SECTION_HEADINGS[contrast] != heading:
            heading = SECTION_HEADINGS[contrast]
            lines += [heading, ""]
        lines += contrast_section(frame, alpha, study_set)
    lines += typology_lines(typology)
    lines += correlation_lines(ft_vs_cot)
    lines += caveat_lines(transfer, alpha)
    return "\n".join(lines)
