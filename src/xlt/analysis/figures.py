"""Figures of the transfer study, drawn from the tables only (matplotlib, Agg backend).

Figures are built with matplotlib's object API (`Figure`, rendered by Agg on save), never
through pyplot's global state, so they work headless and in parallel jobs.

Each figure states what it shows in its own title and axis labels, so it can be read without
the text: which scale (format-free log-likelihood or generative), which contrast, which
languages were left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from xlt.analysis.metrics import percent, wilson_interval
from xlt.io import atomic_path

SCALE_NAMES = {
    "loglik": "format-free accuracy (label log-likelihood)",
    "gen": "generative accuracy (extracted answer)",
}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
CHANCE = 0.25


def save(fig: Figure, out: str | Path) -> None:
    """Write a figure as PNG atomically."""
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def new_figure(
    nrows: int, ncols: int, figsize: tuple[float, float], **kwargs
) -> tuple[Figure, np.ndarray]:
    """A figure and its axes grid (always 2-D), without pyplot."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def language_facts(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per language; `is_source` when it is the source of any fine-tuning (a table's
    `is_source` is per source: with two sources each is a target of the other)."""
    facts = frame.drop_duplicates("lang").set_index("lang")
    sources = frame.loc[frame["is_source"].fillna(False).astype(bool), "lang"]
    return facts.assign(is_source=facts.index.isin(set(sources)))


def language_order(frame: pd.DataFrame) -> list[str]:
    """Languages as the figures show them: source languages, then Semitic, then controls."""
    facts = language_facts(frame)
    rank = {
        lang: (0 if row.is_source else 1 if row.group == "semitic" else 2, lang)
        for lang, row in facts.iterrows()
    }
    return sorted(rank, key=rank.get)


def _panels(
    seed_means: pd.DataFrame, targets_only: bool = False
) -> list[tuple[str, str, pd.DataFrame, str]]:
    """(title, scale, frame, value column) of each contrast: one per source, and CoT.
    `targets_only`: without each source's own languages (and, for CoT, every source's)."""
    panels = []
    sources = set(language_facts(seed_means).query("is_source").index)
    for scale in ("loglik", "gen"):
        at_scale = seed_means[seed_means["scale"] == scale]
        for source, frame in at_scale[at_scale["source"].notna()].groupby("source", sort=True):
            if targets_only:
                frame = frame[~frame["is_source"].astype(bool)]
            if frame["delta"].notna().any():
                panels.append((f"fine-tuned on {source} − base", scale, frame, "delta"))
        cot = at_scale.drop_duplicates(["model", "lang"])
        if targets_only:
            cot = cot[~cot["lang"].isin(sources)]
        if "cot_delta" in cot and cot["cot_delta"].notna().any():
            panels.append(("CoT − direct (base weights)", scale, cot, "cot_delta"))
    return panels


def _group_spans(langs: Sequence[str], facts: pd.DataFrame) -> list[tuple[str, int, int]]:
    """(label, first column, last column) of the source / Semitic / control column groups."""

    def group(lang: str) -> str:
        row = facts.loc[lang]
        return "source" if row.is_source else "Semitic" if row.group == "semitic" else "control"

    spans: list[tuple[str, int, int]] = []
    for i, lang in enumerate(langs):
        label = group(lang)
        if spans and spans[-1][0] == label:
            spans[-1] = (label, spans[-1][1], i)
        else:
            spans.append((label, i, i))
    return spans


def delta_heatmap(seed_means: pd.DataFrame, out: str | Path, level: float = 0.95) -> None:
    """Models × languages heatmap of the seed-mean delta (pp), one panel per contrast and scale,
    columns grouped into source languages, Semitic targets and controls; * = interval excludes 0.
    """
    panels = _panels(seed_means)
    if not panels:
        raise ValueError("no deltas to draw: the tables have no fine-tuned or cot cells.")
    models = list(dict.fromkeys(seed_means["model"]))
    langs = language_order(seed_means)
    facts = language_facts(seed_means)
    width = max(6.0, 0.9 * len(langs) + 2.5)
    fig, axes = new_figure(
        len(panels), 1, figsize=(width, (0.55 * len(models) + 1.6) * len(panels))
    )
    for ax, (title, scale, frame, column) in zip(axes[:, 0], panels, strict=True):
        grid = np.full((len(models), len(langs)), np.nan)
        significant = np.zeros_like(grid, dtype=bool)
        low_col, high_col = (
            ("ci_low", "ci_high") if column == "delta" else ("cot_ci_low", "cot_ci_high")
        )
        for row in frame.itertuples(index=False):
            i, j = models.index(row.model), langs.index(row.lang)
            grid[i, j] = 100 * getattr(row, column)
            low, high = getattr(row, low_col), getattr(row, high_col)
            significant[i, j] = bool(low > 0 or high < 0)
        limit = max(1.0, float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0)
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            cmap="RdBu",
            norm=TwoSlopeNorm(0.0, -limit, limit),
            aspect="auto",
        )
        _annotate(ax, grid, significant, limit)
        ax.set_xticks(range(len(langs)), langs, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(models)), models, fontsize=8)
        spans = _group_spans(langs, facts)
        for _, first, _ in spans:
            if first > 0:
                ax.axvline(first - 0.5, color="black", linewidth=2)
        _label_groups(ax, spans)
        ax.set_title(
            f"{title}: Δ {SCALE_NAMES[scale]} (pp)\n"
            f"seeds averaged; * = item-bootstrap {percent(level)} interval excludes 0",
            fontsize=9,
            pad=22,
        )
        fig.colorbar(image, ax=ax, label="Δ accuracy (pp)", shrink=0.9)
    save(fig, out)


def _annotate(ax: Any, grid: np.ndarray, significant: np.ndarray, limit: float) -> None:
    """Write each finite cell's value (pp) into a heatmap, * where its interval excludes 0."""
    for i, j in zip(*np.nonzero(np.isfinite(grid)), strict=True):
        mark = "*" if significant[i, j] else ""
        ax.text(
            j,
            i,
            f"{grid[i, j]:+.1f}{mark}",
            ha="center",
            va="center",
            fontsize=8,
            color="white" if abs(grid[i, j]) > 0.6 * limit else "black",
        )


def _label_groups(ax: Any, spans: Sequence[tuple[str, int, int]]) -> None:
    """Name each group of columns (label, first, last) above the heatmap."""
    top = ax.get_xaxis_transform()
    for label, first, last in spans:
        ax.text(
            (first + last) / 2,
            1.02,
            label,
            transform=top,
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
        )


def _style_maps(frame: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """Colour per language family and marker per script, stable across panels."""
    colours = colormaps["tab10"]
    families = sorted(frame["family"].dropna().unique())
    scripts = sorted(frame["script"].dropna().unique())
    colour = {f: colours(i % 10) for i, f in enumerate(families)}
    marker = {s: MARKERS[i % len(MARKERS)] for i, s in enumerate(scripts)}
    return colour, marker


def base_vs_delta(seed_means: pd.DataFrame, out: str | Path) -> None:
    """Base accuracy vs delta per model × target language (sources excluded), coloured by
    family and shaped by script, with a least-squares line: do weak baselines gain more?
    """
    targets = seed_means[~seed_means["is_source"].astype(bool)]
    panels = _panels(seed_means, targets_only=True)
    if not panels:
        raise ValueError("no deltas to draw: the tables have no fine-tuned or cot cells.")
    colour, marker = _style_maps(targets)
    ncols = min(2, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(5.4 * ncols + 2.2, 4.4 * nrows))
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, scale, frame, column) in zip(axes.flat, panels, strict=False):
        x = 100 * frame["base_accuracy"].to_numpy(dtype=float)
        y = 100 * frame[column].to_numpy(dtype=float)
        labels: dict[tuple[float, float], list[str]] = {}
        for row, xi, yi in zip(frame.itertuples(index=False), x, y, strict=True):
            spot = (round(float(xi), 6), round(float(yi), 6))
            labels.setdefault(spot, []).append(row.lang.split("_")[0])
            shift = 0.25 * (len(labels[spot]) - 1)
            ax.scatter(
                xi + shift,
                yi,
                color=colour[row.family],
                marker=marker[row.script],
                s=46,
                edgecolor="black",
                linewidth=0.5,
                zorder=3,
            )
        for (xi, yi), codes in labels.items():
            text = ", ".join(dict.fromkeys(codes))
            ax.annotate(
                text,
                (xi, yi),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=6.5,
                color="dimgray",
            )
        keep = np.isfinite(x) & np.isfinite(y)
        if keep.sum() >= 3 and np.ptp(x[keep]) > 0:
            slope, intercept = np.polyfit(x[keep], y[keep], 1)
            xs = np.linspace(x[keep].min(), x[keep].max(), 10)
            ax.plot(
                xs,
                intercept + slope * xs,
                "--",
                color="gray",
                label=f"least squares, slope {slope:+.2f}",
            )
            ax.legend(loc="best", fontsize=7)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.axvline(100 * CHANCE, color="gray", linestyle=":", linewidth=0.8)
        ax.set_xlabel(f"base accuracy (%), {scale}")
        ax.set_ylabel("Δ accuracy (pp)")
        ax.set_title(f"{title}\n{SCALE_NAMES[scale]}", fontsize=9)
    family_handles = [
        Line2D([], [], marker="o", linestyle="", color=c, label=f) for f, c in colour.items()
    ]
    script_handles = [
        Line2D([], [], marker=m, linestyle="", color="gray", label=s) for s, m in marker.items()
    ]
    fig.legend(
        handles=family_handles + script_handles,
        loc="outside right center",
        fontsize=8,
        title="family (colour) / script (shape)",
        title_fontsize=8,
    )
    fig.suptitle(
        "Base accuracy vs gain per model × target language (sources excluded, dotted: chance)",
        fontsize=10,
    )
    save(fig, out)


def ft_vs_cot(seed_means: pd.DataFrame, correlations: pd.DataFrame, out: str | Path) -> None:
    """Fine-tuning gain vs CoT gain per model × target language, one colour per model, with the
    Pearson and Spearman correlations of the ft_vs_cot table in each panel's title.
    """
    paired = seed_means[
        seed_means["source"].notna()
        & ~seed_means["is_source"].astype(bool)
        & seed_means["delta"].notna()
        & seed_means["cot_delta"].notna()
    ]
    groups = list(paired.groupby(["source", "scale"], sort=True))
    if not groups:
        raise ValueError("no model × language cell has both a fine-tuning and a CoT delta.")
    models = list(dict.fromkeys(paired["model"]))
    colours = colormaps["tab10"]
    fig, axes = new_figure(1, len(groups), figsize=(5.0 * len(groups) + 1.8, 4.6))
    for ax, ((source, scale), frame) in zip(axes[0], groups, strict=True):
        for row in frame.itertuples(index=False):
            ax.scatter(
                100 * row.delta,
                100 * row.cot_delta,
                color=colours(models.index(row.model) % 10),
                marker="o" if row.group == "semitic" else "s",
                s=42,
                edgecolor="black",
                linewidth=0.5,
            )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.axvline(0, color="black", linewidth=0.8)
        stats = correlations[
            (correlations["source"] == source)
            & (correlations["scale"] == scale)
            & (correlations["level"] == "cells")
        ]
        summary = ""
        if not stats.empty and math.isfinite(stats["pearson_r"].iloc[0]):
            s = stats.iloc[0]
            summary = (
                f"\nr = {s.pearson_r:.2f} [{s.pearson_ci_low:.2f}, {s.pearson_ci_high:.2f}]"
                f", ρ = {s.spearman_rho:.2f}, n = {int(s.n)}"
            )
        ax.set_title(f"fine-tuned on {source} vs CoT, {scale}{summary}", fontsize=9)
        ax.set_xlabel("fine-tuning Δ (pp)")
        ax.set_ylabel("CoT Δ (pp)")
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colours(i % 10), label=m)
        for i, m in enumerate(models)
    ]
    handles += [
        Line2D([], [], marker="o", linestyle="", color="gray", label="Semitic"),
        Line2D([], [], marker="s", linestyle="", color="gray", label="control"),
    ]
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    save(fig, out)


def conditions(scores: pd.DataFrame) -> pd.Series:
    """Condition of each cell: base or ft-<source> (seeds pooled), and the prompting."""
    weights = np.where(scores["weights"] == "base", "base", "ft-" + scores["source"].astype(str))
    return pd.Series(weights, index=scores.index) + "/" + scores["prompting"]


def accuracy_bars(scores: pd.DataFrame, out: str | Path, level: float = 0.95) -> None:
    """Per-language accuracy with Wilson intervals for each condition, one panel per model and
    scale. A fine-tuned bar is the mean over seeds (dots: single seeds); its interval is over
    the items once (the seeds answer the same questions, so pooling them would narrow it)."""
    scores = scores.assign(condition=conditions(scores))
    models = list(dict.fromkeys(scores["model"]))
    scales = [s for s in ("loglik", "gen") if scores[f"accuracy_{s}"].notna().any()]
    langs = language_order(scores)
    conds = sorted(
        scores["condition"].unique(),
        key=lambda c: (not c.startswith("base/"), not c.endswith("/direct"), c),
    )
    colours = colormaps["tab10"]
    width = 0.8 / len(conds)
    panels = [(model, scale) for model in models for scale in scales]
    fig, axes = new_figure(
        len(panels),
        1,
        figsize=(max(8.0, 0.3 * len(langs) * len(conds) + 2.5), 2.6 * len(panels) + 0.8),
        sharey=True,
    )
    for ax, (model, scale) in zip(axes[:, 0], panels, strict=True):
        frame = scores[scores["model"] == model]
        for k, cond in enumerate(conds):
            xs, means, lows, highs = [], [], [], []
            for x, lang in enumerate(langs):
                cell = frame[(frame["condition"] == cond) & (frame["lang"] == lang)]
                cell = cell[cell[f"accuracy_{scale}"].notna()]
                if cell.empty:
                    continue
                mean = float(cell[f"accuracy_{scale}"].astype(float).mean())
                n = int(cell["n"].astype(float).min())
                low, high = wilson_interval(round(mean * n), n, level)
                xs.append(x + (k - (len(conds) - 1) / 2) * width)
                means.append(mean)
                lows.append(max(0.0, mean - low))
                highs.append(max(0.0, high - mean))
                if len(cell) > 1:
                    ax.scatter(
                        [xs[-1]] * len(cell),
                        cell[f"accuracy_{scale}"],
                        s=6,
                        color="black",
                        zorder=4,
                    )
            if xs:
                ax.bar(
                    xs,
                    means,
                    width,
                    yerr=[lows, highs],
                    capsize=2,
                    color=colours(k % 10),
                    label=cond,
                    error_kw={"linewidth": 0.8},
                )
        ax.axhline(CHANCE, color="gray", linestyle=":", linewidth=0.8)
        ax.set_xticks(range(len(langs)), langs, rotation=45, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(f"{model}: {SCALE_NAMES[scale]}", fontsize=9)
        ax.set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=min(len(conds), 6),
        fontsize=8,
    )
    fig.suptitle(
        f"Accuracy per language and condition ({percent(level)} Wilson intervals over the "
        "items; dotted: chance; "
        "languages: sources, Semitic, controls)",
        fontsize=9,
    )
    save(fig, out)


def _matrix_grid(
    cells: pd.DataFrame, matrix: pd.DataFrame, scale: str, langs: list[str]
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(row labels, gains in pp, significant, source-language cells) of one scale: a row per
    source and, per interaction pair, a row of per-language differences between the sources."""
    at_scale = cells[cells["scale"] == scale]
    sources = list(dict.fromkeys(at_scale["source"]))
    pairs = matrix[(matrix["kind"] == "interaction") & (matrix["scale"] == scale)]
    pairs = pairs[pairs["reference"].notna()]
    labels = [f"fine-tuned on {source}" for source in sources]
    labels += [f"{p.source} − {p.reference} (difference)" for p in pairs.itertuples()]
    grid = np.full((len(labels), len(langs)), np.nan)
    significant = np.zeros_like(grid, dtype=bool)
    own = np.zeros_like(grid, dtype=bool)
    for row in at_scale.itertuples(index=False):
        i, j = sources.index(row.source), langs.index(row.lang)
        grid[i, j] = 100 * row.mean_delta
        significant[i, j] = bool(row.ci_low > 0 or row.ci_high < 0)
        own[i, j] = bool(row.is_source)
    for k, pair in enumerate(pairs.itertuples(index=False)):
        if pair.source in sources and pair.reference in sources:
            a, b = sources.index(pair.source), sources.index(pair.reference)
            grid[len(sources) + k] = grid[a] - grid[b]
            own[len(sources) + k] = own[a] | own[b]
    return labels, grid, significant, own


def transfer_matrix(matrix: pd.DataFrame, out: str | Path, level: float = 0.95) -> None:
    """Source × target heatmap of the fine-tuning gain (pp, models and seeds averaged), one
    panel per scale, targets grouped into Semitic and controls; a source's own languages are
    hatched; * = item-bootstrap interval excludes 0. With a Semitic and a non-Semitic
    source, a difference row shows the interaction: a Semitic block warmer than the controls."""
    cells = matrix[matrix["kind"] == "cell"]
    if cells.empty:
        raise ValueError("no fine-tuned cells: the matrix needs at least one source.")
    facts = cells.drop_duplicates("lang").set_index("lang")
    langs = sorted(facts.index, key=lambda lang: (facts.loc[lang, "group"] != "semitic", lang))
    scales = [s for s in ("loglik", "gen") if s in set(cells["scale"])]
    n_rows = len(_matrix_grid(cells, matrix, scales[0], langs)[0])
    width = max(6.0, 0.8 * len(langs) + 3.0)
    fig, axes = new_figure(len(scales), 1, figsize=(width, (0.6 * n_rows + 1.9) * len(scales)))
    for ax, scale in zip(axes[:, 0], scales, strict=True):
        labels, grid, significant, own = _matrix_grid(cells, matrix, scale, langs)
        limit = max(1.0, float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0)
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            cmap="RdBu",
            norm=TwoSlopeNorm(0.0, -limit, limit),
            aspect="auto",
        )
        for i, j in zip(*np.nonzero(own), strict=True):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", lw=0))
        _annotate(ax, grid, significant, limit)
        ax.set_xticks(range(len(langs)), langs, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        semitic = sum(facts.loc[lang, "group"] == "semitic" for lang in langs)
        if 0 < semitic < len(langs):
            ax.axvline(semitic - 0.5, color="black", linewidth=2)
        spans = [("Semitic", 0, semitic - 1), ("control", semitic, len(langs) - 1)]
        _label_groups(ax, [span for span in spans if span[2] >= span[1]])
        ax.set_title(
            f"Source × target: Δ {SCALE_NAMES[scale]} (pp) vs base, models and seeds averaged\n"
            "hatched: the source's own languages; * = item-bootstrap "
            f"{percent(level)} interval excludes 0",
            fontsize=9,
            pad=22,
        )
        fig.colorbar(image, ax=ax, label="Δ accuracy (pp)", shrink=0.9)
    save(fig, out)
