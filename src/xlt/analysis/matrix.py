"""The source × target matrix: the fine-tuning gain of every target under every source.

One row per fine-tuning source × scale × evaluated language: the gain (fine-tuned minus
base/direct accuracy, seeds averaged, averaged over the models), an item-bootstrap interval,
and the files it came from. Source languages stay in (flagged `is_source`): the matrix
describes, it does not test.

With a Semitic source (e.g. Arabic) and a non-Semitic one (e.g. English), the Semitic-specific
effect is the interaction (Semitic source − other source) × (Semitic target − control): fine-
tuning on any source can teach the task format, but only family transfer should favour the
Semitic targets of the Semitic source. An `interaction` row per pair and scale gives it with
language as the unit (`xlt.analysis.language_level`), in percentage points (`mean_delta`,
descriptive: where the sources' general gains differ, headroom alone makes one) and in log-odds
(`logit_*`, the test of Semitic-specific transfer); with one source the row says the
interaction needs two. Every source language of the study is left out of the interaction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xlt.analysis.cells import ItemIndex, adapters_by_source, language_columns
from xlt.analysis.language_level import item_contrasts
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.stats import paired_bootstrap_interval, rng_for
from xlt.analysis.transfer import (
    Contrast,
    build_unit,
    interaction_pairs,
    is_semitic_source,
    language_question,
)
from xlt.study import StudyFacts

MATRIX_COLUMNS = [
    "kind",
    "source",
    "reference",
    "scale",
    "lang",
    "language",
    "family",
    "genus",
    "script",
    "group",
    "is_source",
    "n_models",
    "n_items",
    "n_seeds",
    "base_accuracy",
    "mean_delta",
    "ci_low",
    "ci_high",
    "question",
    "p_value",
    "p_randomization",
    "smallest_p",
    "logit_estimate",
    "logit_ci_low",
    "logit_ci_high",
    "logit_p_value",
    "logit_p_randomization",
    "n_semitic",
    "n_control",
    "note",
    "predictions_files",
]


def _per_item(diffs: np.ndarray) -> np.ndarray:
    """Model-averaged per-item differences (languages × items); languages a model lacks are
    filled by the additive model of `item_contrasts`, or skipped where that is not defined."""
    try:
        return item_contrasts(diffs)
    except ValueError:
        return np.nanmean(diffs, axis=0)


def _cell_rows(
    index: ItemIndex, study: StudyFacts, source: str, scale: str, settings: AnalysisSettings
) -> list[dict[str, Any]]:
    models = list(dict.fromkeys(k[0] for k in index.cells()))
    unit = build_unit(index, study, Contrast("ft", source, frozenset()), models, scale)
    if unit is None:
        return []
    per_item = _per_item(unit.diffs)
    base = unit.cells.groupby("lang")["base_accuracy"].mean()
    observed = (~np.isnan(unit.diffs).all(axis=-1)).sum(axis=0)
    rows = []
    for j, lang in enumerate(unit.langs):
        rng = rng_for(settings.seed, "matrix", source, scale, lang)
        low, high = paired_bootstrap_interval(
            per_item[j], settings.n_bootstrap, rng, settings.ci_level
        )
        rows.append(
            {
                "kind": "cell",
                "source": source,
                "reference": "base/direct",
                "scale": scale,
                "lang": lang,
                **language_columns(lang),
                "is_source": lang in study.source_langs(source),
                "n_models": int(observed[j]),
                "n_items": len(unit.ids),
                "n_seeds": unit.n_seeds,
                "base_accuracy": float(base[lang]),
                "mean_delta": float(per_item[j].mean()),
                "ci_low": low,
                "ci_high": high,
                "predictions_files": ";".join(dict.fromkeys(unit.lang_files.get(lang, []))),
            }
        )
    return rows


def _interaction_row(
    index: ItemIndex,
    study: StudyFacts,
    pair: tuple[str, str],
    scale: str,
    settings: AnalysisSettings,
) -> dict[str, Any]:
    a, b = pair
    excluded = frozenset(study.source_langs())
    contrast = Contrast("interaction", a, excluded, reference_source=b)
    models = list(dict.fromkeys(k[0] for k in index.cells()))
    row = {
        "kind": "interaction",
        "source": a,
        "reference": b,
        "scale": scale,
        "question": language_question(contrast),
    }
    unit = build_unit(index, study, contrast, models, scale, settings.chance)
    if unit is None or unit.semitic.all() or not unit.semitic.any() or len(unit.langs) < 3:
        return {**row, "note": "not tested: needs Semitic and control targets under both sources"}
    rng = rng_for(settings.seed, "matrix", "interaction", a, b, scale)
    logit_rng = rng_for(settings.seed, "matrix", "interaction", a, b, scale, "log-odds")
    try:
        result = unit.language_test(settings, rng)
        logit = unit.language_test(settings, logit_rng, "log-odds")
    except ValueError as exc:
        return {**row, "note": f"not tested: {exc}"}
    return {
        **row,
        "n_models": len(unit.models),
        "n_items": len(unit.ids),
        "n_seeds": unit.n_seeds,
        "mean_delta": result.estimate,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "p_randomization": result.randomization.p_value,
        "smallest_p": result.randomization.smallest_p,
        "logit_estimate": logit.estimate,
        "logit_ci_low": logit.ci_low,
        "logit_ci_high": logit.ci_high,
        "logit_p_value": logit.p_value,
        "logit_p_randomization": logit.randomization.p_value,
        "n_semitic": result.k_semitic,
        "n_control": result.k_control,
        "note": f"({a} − {b}) × (Semitic − control) gain, languages random, every language "
        f"weighing the same: in percentage points (mean_delta, descriptive: headroom alone can "
        f"make one) and in log-odds (logit_*, the Semitic-specific test), HKSJ meta-regression "
        f"estimate, interval and p on {result.df} df, p_randomization over language labels; "
        f"excluded (every source language of the study): {', '.join(sorted(excluded))}",
        "predictions_files": ";".join(dict.fromkeys(unit.files)),
    }


def _no_interaction(study: StudyFacts, sources: list[str], scale: str) -> dict[str, Any]:
    kinds = ", ".join(
        f"{s} ({'Semitic' if is_semitic_source(study, s) else 'not Semitic'})" for s in sources
    )
    return {
        "kind": "interaction",
        "source": ";".join(sources),
        "scale": scale,
        "note": "needs two sources, one Semitic and one not (e.g. sources: {arabic: [arb_Arab], "
        f"english: [eng_Latn]}}); this study fine-tuned on {kinds}",
    }


def transfer_matrix_table(
    items: pd.DataFrame, study: StudyFacts | None = None, settings: AnalysisSettings | None = None
) -> pd.DataFrame:
    """Rows source × scale × language (`kind = cell`) and, per scale, the source × target
    interaction of every (Semitic source, non-Semitic source) pair (`kind = interaction`), or a
    row saying it needs two sources."""
    study, settings = study or StudyFacts(), settings or AnalysisSettings()
    index = ItemIndex(items)
    sources = list(adapters_by_source(index))
    rows: list[dict[str, Any]] = []
    for scale in index.scales():
        for source in sources:
            rows += _cell_rows(index, study, source, scale, settings)
        pairs = interaction_pairs(study, sources)
        rows += [_interaction_row(index, study, pair, scale, settings) for pair in pairs]
        if sources and not pairs:
            rows.append(_no_interaction(study, sources, scale))
    frame = pd.DataFrame(rows).reindex(columns=MATRIX_COLUMNS)
    frame["is_source"] = frame["is_source"].astype("boolean")
    return frame
