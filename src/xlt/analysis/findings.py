"""`findings.md`: the study's answer in words, written from the tables and nothing else.

Every number in the text is read from transfer.csv, ft_vs_cot.csv, deltas_seed_mean.csv or
scores.csv and only formatted here (proportions as percentage points), so the prose cannot
drift from the tables. The verdict of a test is a rule, stated in the text: evidence when the
item-bootstrap interval excludes 0 and the permutation p-value is below alpha, no evidence
when neither holds, inconclusive when they disagree.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

MINUS = "\u2212"
SCALE_TITLES = {
    "loglik": "format-free accuracy (label log-likelihood)",
    "gen": "generative accuracy",
}


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


def verdict(estimate: float, low: float, high: float, p: float, alpha: float) -> str:
    """The verdict rule: interval and permutation test must agree before anything is claimed."""
    excludes_zero = low > 0 or high < 0
    significant = p < alpha
    if excludes_zero and significant:
        if estimate > 0:
            return "evidence of Semitic-specific transfer"
        return "evidence that Semitic targets gain less than controls"
    if not excludes_zero and not significant:
        return "no evidence"
    return "inconclusive (the item bootstrap and the language permutation disagree)"


def _finite(row: pd.Series, *columns: str) -> bool:
    return all(isinstance(row[c], int | float) and math.isfinite(row[c]) for c in columns)


def did_sentence(row: pd.Series, label: str, alpha: float) -> str:
    """One DiD row in words, e.g. 'Semitic-specific transfer (pooled): +0.8 pp [...] — ...'."""
    if not _finite(row, "estimate", "ci_low", "ci_high", "p_value"):
        return f"{label}: not tested ({row['note']})."
    return (
        f"{label}: {pp(row['estimate'])} {interval(row['ci_low'], row['ci_high'])}, "
        f"permutation {p_text(row['p_value'])} — "
        f"{verdict(row['estimate'], row['ci_low'], row['ci_high'], row['p_value'], alpha)}. "
        f"Mean gain: Semitic {pp(row['mean_delta_semitic'])}, "
        f"controls {pp(row['mean_delta_control'])}."
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
        value = f"{_num(row['estimate'], 2)} pp per pp of base accuracy{span}"
    else:
        span = f" {interval(row['ci_low'], row['ci_high'])}" if bounded else ""
        value = f"{pp(row['estimate'])}{span}"
    test = f", {p_text(row['p_value'])}" if _finite(row, "p_value") else ""
    return f"{row['term']}: {value}{test}"


def _langs(text: Any) -> str:
    return ", ".join(str(text).split(";")) if isinstance(text, str) and text else "none"


def _contrast_title(row: pd.Series) -> str:
    if row["contrast"] == "ft":
        return f"Fine-tuning on {row['source']}"
    return "Chain-of-thought prompting (base weights)"


def contrast_section(frame: pd.DataFrame, alpha: float) -> list[str]:
    """The lines of one contrast × scale: pooled, bands, models, regression, mixed model."""
    first = frame.iloc[0]
    name = "fine-tuning" if first["contrast"] == "ft" else "CoT"
    lines = [f"### {_contrast_title(first)} — {SCALE_TITLES[first['scale']]}", ""]
    did = frame[frame["method"] == "did"]
    pooled = did[did["level"] == "pooled"]
    if not pooled.empty:
        row = pooled.iloc[0]
        seeds = f"{int(row['n_seeds'])} seed(s) per adapter, " if row["contrast"] == "ft" else ""
        lines.append(
            f"Semitic targets: {_langs(row['semitic_langs'])}; controls: "
            f"{_langs(row['control_langs'])}; excluded (source languages): "
            f"{_langs(row['excluded_langs'])}. {int(row['n_items'])} questions, "
            f"{seeds}{int(row['n_models'])} model(s)."
        )
        lines += ["", f"- **{did_sentence(row, 'Semitic-specific transfer (pooled)', alpha)}**"]
    models = did[did["level"] == "model"]
    for row in did[did["level"] == "band"].to_dict("records"):
        row = pd.Series(row)
        members = str(row["models"]).split(";") if isinstance(row["models"], str) else []
        label = f"{row.unit} band ({', '.join(members) or 'no models'})"
        lines.append(f"- {did_sentence(row, label, alpha)}")
        if len(members) > 1:
            for member in models[models["unit"].isin(members)].to_dict("records"):
                member = pd.Series(member)
                lines.append(f"  - {did_sentence(member, str(member.unit), alpha)}")
    fitted = frame[(frame["level"] == "pooled") & (frame["method"] != "did")]
    for method, terms in fitted.groupby("method", sort=False):
        what = "Regression of the cell delta" if method == "ols" else "Item-level mixed model"
        parts = "; ".join(model_sentence(t) for _, t in terms.iterrows())
        notes = sorted({str(n).rstrip(".") for n in terms["note"] if isinstance(n, str) and n})
        noted = f" ({'; '.join(notes)})" if notes and _finite(terms.iloc[0], "estimate") else ""
        lines.append(f"- {what} (`{terms.iloc[0]['formula']}`): {parts}{noted}.")
    if not fitted.empty:
        lines.append("- Per-band regressions and mixed models: transfer.csv (level = band).")
    slope = frame[
        (frame["level"] == "pooled")
        & (frame["method"] == "ols")
        & (frame["term"] == "base_accuracy")
    ]
    if not slope.empty and _finite(slope.iloc[0], "estimate", "ci_low", "ci_high"):
        s = slope.iloc[0]
        if s["ci_high"] < 0:
            lines.append(
                f"- The {name} gain falls as base accuracy rises (slope < 0); part or all of "
                "that can be regression to the mean (see below)."
            )
        elif s["ci_low"] > 0:
            lines.append(f"- The {name} gain rises with base accuracy (slope > 0).")
        else:
            lines.append(f"- The {name} gain shows no clear relation to base accuracy.")
    return [*lines, ""]


def correlation_lines(ft_vs_cot: pd.DataFrame) -> list[str]:
    """The FT-gain vs CoT-gain correlations in words (or why there are none)."""
    lines = ["## Does fine-tuning help where CoT helps?", ""]
    if ft_vs_cot.empty or ft_vs_cot["pearson_r"].isna().all():
        notes = sorted({str(n) for n in ft_vs_cot.get("note", pd.Series()).dropna() if n})
        why = "; ".join(notes) if notes else "no fine-tuned and cot cells"
        return [*lines, f"Not measured in this run: {why}.", ""]
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


def setup_lines(scores: pd.DataFrame, transfer: pd.DataFrame) -> list[str]:
    """Models with their bands and base accuracy, and the band rule."""
    lines = ["## Setup", ""]
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
        lines.append(f"- Bands: {transfer['band_rule'].iloc[0]}.")
    promptings = ", ".join(sorted(scores["prompting"].unique()))
    lines.append(f"- Prompting conditions evaluated: {promptings}.")
    return [*lines, ""]


def caveat_lines(transfer: pd.DataFrame, alpha: float) -> list[str]:
    """What the numbers cannot say: the smallest attainable p-value, what is resampled."""
    lines = ["## Reading these numbers", ""]
    pooled = transfer[(transfer["method"] == "did") & (transfer["level"] == "pooled")]
    for row in pooled.drop_duplicates(["n_semitic", "n_control"]).itertuples(index=False):
        if math.isfinite(row.smallest_p):
            note = (
                " — so no result can reach significance at this alpha"
                if row.smallest_p >= alpha
                else ""
            )
            lines.append(
                f"- With {int(row.n_semitic)} Semitic and {int(row.n_control)} control "
                f"languages the permutation test has a smallest attainable p of "
                f"{row.smallest_p:.3g}{note}."
            )
    lines += [
        "- Intervals resample question ids (the same ids in every language, since Belebele "
        "is parallel); they do not include variation over seeds or over the choice of "
        "languages, which the permutation test addresses.",
        "- The slope of a cell's delta on its base accuracy is biased downwards: the base "
        "accuracy's sampling error enters the delta with the opposite sign (regression to the "
        "mean), so a negative slope alone does not show that weak baselines gain more.",
        f"- Verdicts: evidence needs the 95% interval to exclude 0 and permutation p < {alpha:g}; "
        "no evidence when neither holds; inconclusive otherwise.",
        "",
    ]
    return lines


def findings_markdown(
    transfer: pd.DataFrame,
    ft_vs_cot: pd.DataFrame,
    scores: pd.DataFrame,
    alpha: float = 0.05,
) -> str:
    """The whole findings.md text."""
    lines = [
        "# Findings: language-family transfer or task-format alignment?",
        "",
        "Generated from `results/tables/` (transfer.csv, ft_vs_cot.csv, scores.csv); every "
        "number below is in those tables. Differences are in percentage points (pp) of "
        "accuracy; intervals are 95%.",
        "",
    ]
    lines += setup_lines(scores, transfer)
    lines += ["## Is there Semitic-specific transfer?", ""]
    if transfer.empty:
        lines += ["No fine-tuned or CoT cells: nothing to compare with the base model.", ""]
    order = {"loglik": 0, "gen": 1}
    keys = transfer[["contrast", "source", "scale"]].drop_duplicates()
    keys = keys.assign(
        _c=keys["contrast"].map({"ft": 0, "cot": 1}), _s=keys["scale"].map(order)
    ).sort_values(["_c", "source", "_s"])
    for key in keys.itertuples(index=False):
        same_source = (
            transfer["source"] == key.source
            if isinstance(key.source, str)
            else transfer["source"].isna()
        )
        frame = transfer[
            (transfer["contrast"] == key.contrast) & same_source & (transfer["scale"] == key.scale)
        ]
        lines += contrast_section(frame, alpha)
    lines += correlation_lines(ft_vs_cot)
    lines += caveat_lines(transfer, alpha)
    return "\n".join(lines)
