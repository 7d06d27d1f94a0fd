"""Paired deltas per model × language: fine-tuned or CoT minus base, item by item.

Belebele is parallel and every cell of a language holds the same test items, so a treated cell
and its base/direct reference are compared on the items they share: the delta, an item
bootstrap interval, McNemar's exact test (one adapter) or a sign-flip randomisation test of the
seed-averaged difference (several seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from xlt.analysis.cells import (
    LANGUAGE_COLUMNS,
    SCALES,
    ItemIndex,
    adapters_by_source,
    language_columns,
)
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.stats import mcnemar_exact, paired_bootstrap_interval, rng_for, sign_flip_p
from xlt.languages import language
from xlt.study import StudyFacts, Weights


def paired_stats(
    reference: pd.Series,
    treated: Sequence[pd.Series],
    settings: AnalysisSettings,
    key: Sequence[object],
) -> dict[str, Any]:
    """Reference vs treated accuracy on the items they share, their difference, an item
    bootstrap interval, and a test: McNemar's exact test for one treated cell, a sign-flip
    randomisation test of the seed-averaged difference for several.
    """
    shared = reference.index
    for cell in treated:
        shared = shared.intersection(cell.index)
    if shared.empty:
        raise ValueError(
            f"cells {list(map(str, key))} share no item ids; were they evaluated on the same split?"
        )
    ref = reference.loc[shared].to_numpy()
    matrix = np.vstack([cell.loc[shared].to_numpy() for cell in treated])
    diff = matrix.mean(axis=0) - ref
    rng = rng_for(settings.seed, *key)
    low, high = paired_bootstrap_interval(diff, settings.n_bootstrap, rng, settings.ci_level)
    stats: dict[str, Any] = {
        "n": len(shared),
        "reference_accuracy": float(ref.mean()),
        "treated_accuracy": float(matrix.mean()),
        "delta": float(matrix.mean()) - float(ref.mean()),  # = mean(diff), by construction
        "ci_low": low,
        "ci_high": high,
    }
    if len(treated) == 1:
        gained = int(((ref == 0) & (matrix[0] == 1)).sum())
        lost = int(((ref == 1) & (matrix[0] == 0)).sum())
        stats.update(n_gained=gained, n_lost=lost, p_value=mcnemar_exact(gained, lost))
        stats["test"] = "mcnemar_exact"
    else:
        per_seed = matrix.mean(axis=1) - ref.mean()
        stats.update(
            delta_sd=float(per_seed.std(ddof=1)),
            delta_min=float(per_seed.min()),
            delta_max=float(per_seed.max()),
            p_value=sign_flip_p(diff, settings.n_permutations, rng),
            test="sign_flip",
        )
    return stats


def _cot_columns(
    index: ItemIndex, model: str, lang: str, scale: str, settings: AnalysisSettings
) -> dict[str, Any]:
    """CoT delta columns of a row (base/cot − base/direct), empty where there is no cot cell."""
    base = index.get(model, "base", "direct", lang, scale)
    cot = index.get(model, "base", "cot", lang, scale)
    if base is None or cot is None:
        return {}
    stats = paired_stats(base, [cot], settings, ("cot", model, lang, scale))
    return {
        "cot_accuracy": stats["treated_accuracy"],
        "cot_delta": stats["delta"],
        "cot_ci_low": stats["ci_low"],
        "cot_ci_high": stats["ci_high"],
        "cot_n_gained": stats["n_gained"],
        "cot_n_lost": stats["n_lost"],
        "cot_p_value": stats["p_value"],
        "cot_file": index.file(model, "base", "cot", lang),
    }


COT_COLUMNS = [
    "cot_accuracy",
    "cot_delta",
    "cot_ci_low",
    "cot_ci_high",
    "cot_n_gained",
    "cot_n_lost",
    "cot_p_value",
]
ROW_PREFIX = [
    "model",
    "size_b",
    "architecture",
    "source",
    "lang",
    *LANGUAGE_COLUMNS,
    "is_source",
    "same_script",
    "scale",
]
DELTA_COLUMNS = [
    *ROW_PREFIX[:4],
    "seed",
    "weights",
    *ROW_PREFIX[4:],
    "n",
    "base_accuracy",
    "ft_accuracy",
    "delta",
    "ci_low",
    "ci_high",
    "n_gained",
    "n_lost",
    "p_value",
    "test",
    *COT_COLUMNS,
    "base_file",
    "ft_file",
    "cot_file",
]
SEED_MEAN_COLUMNS = [
    *ROW_PREFIX[:4],
    "n_seeds",
    "seeds",
    *ROW_PREFIX[4:],
    "n",
    "base_accuracy",
    "ft_accuracy",
    "delta",
    "delta_sd",
    "delta_min",
    "delta_max",
    "ci_low",
    "ci_high",
    "p_value",
    "test",
    *COT_COLUMNS,
    "base_file",
    "ft_files",
    "cot_file",
]


def _row_prefix(
    study: StudyFacts, model: str, source: str | None, lang: str, scale: str
) -> dict[str, Any]:
    same_script = bool(source) and language(lang).script in study.source_scripts(source)
    in_source = lang in (study.source_langs(source) if source else study.source_langs())
    return {
        "model": model,
        **{k: v for k, v in study.model_columns(model).items() if k != "active_b"},
        "source": source,
        "lang": lang,
        **language_columns(lang),
        "is_source": in_source,
        "same_script": same_script,
        "scale": scale,
    }


def _delta_rows(
    items: pd.DataFrame, study: StudyFacts, settings: AnalysisSettings, seed_mean: bool
) -> list[dict[str, Any]]:
    index = ItemIndex(items)
    rows = []
    models = list(dict.fromkeys(k[0] for k in index.cells()))
    for model in models:
        langs = list(dict.fromkeys(k[3] for k in index.cells() if k[0] == model))
        adapters = adapters_by_source(index, model)
        for scale in index.scales():
            for lang in langs:
                base = index.get(model, "base", "direct", lang, scale)
                if base is None:
                    continue
                cot = _cot_columns(index, model, lang, scale, settings)
                base_file = index.file(model, "base", "direct", lang)
                groups = [(source, [w]) for source, ws in adapters.items() for w in ws]
                if seed_mean:
                    groups = list(adapters.items())
                for source, weights in groups:
                    found = [(w, index.get(model, w, "direct", lang, scale)) for w in weights]
                    found = [(w, v) for w, v in found if v is not None]
                    if not found:
                        continue
                    names = [w for w, _ in found]
                    stats = paired_stats(
                        base, [v for _, v in found], settings, ("ft", model, lang, scale, *names)
                    )
                    row = {
                        **_row_prefix(study, model, source, lang, scale),
                        **stats,
                        "base_accuracy": stats["reference_accuracy"],
                        "ft_accuracy": stats["treated_accuracy"],
                        **cot,
                        "base_file": base_file,
                    }
                    files = [index.file(model, w, "direct", lang) for w in names]
                    seeds = [Weights.parse(w).seed for w in names]
                    if seed_mean:
                        row.update(n_seeds=len(names), seeds=";".join(map(str, seeds)))
                        row["ft_files"] = ";".join(files)
                    else:
                        row.update(seed=seeds[0], weights=names[0], ft_file=files[0])
                    rows.append(row)
                if not adapters and cot:
                    base_acc = float(base.mean())
                    row = {**_row_prefix(study, model, None, lang, scale), **cot}
                    rows.append({**row, "n": len(base), "base_accuracy": base_acc})
                    rows[-1]["base_file"] = base_file
    return rows


def _sorted(frame: pd.DataFrame, columns: list[str], seed_column: str) -> pd.DataFrame:
    """Rows by model, source, seed and scale; languages as the figures show them: source
    languages, then Semitic targets, then controls."""
    frame = frame.reindex(columns=columns)
    scale_rank = frame["scale"].map({s: i for i, s in enumerate(SCALES)})
    semitic = np.where(frame["group"] == "semitic", 1, 2)
    lang_rank = np.where(frame["is_source"].fillna(False).astype(bool), 0, semitic)
    keyed = frame.assign(_scale=scale_rank, _lang=lang_rank)
    order = ["model", "source", seed_column, "_scale", "_lang", "lang"]
    keyed = keyed.sort_values(order, ignore_index=True, na_position="first")
    return keyed.drop(columns=["_scale", "_lang"])


def deltas_table(
    items: pd.DataFrame, study: StudyFacts | None = None, settings: AnalysisSettings | None = None
) -> pd.DataFrame:
    """Per model × source × seed × language × scale: the fine-tuning delta (ft/direct −
    base/direct) with its item-bootstrap interval and McNemar's exact test, the base accuracy
    beside it, and the CoT delta (base/cot − base/direct) of the same model and language.
    """
    study, settings = study or StudyFacts(), settings or AnalysisSettings()
    rows = _delta_rows(items, study, settings, seed_mean=False)
    frame = _sorted(pd.DataFrame(rows), DELTA_COLUMNS, "seed")
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def seed_mean_table(
    items: pd.DataFrame, study: StudyFacts | None = None, settings: AnalysisSettings | None = None
) -> pd.DataFrame:
    """Like `deltas_table` with the seeds of each source averaged: the mean delta, its spread
    over seeds (sd, min, max), an item-bootstrap interval of the seed-averaged difference, and
    a sign-flip randomisation p-value (McNemar's test needs a single treated cell).
    """
    rows = _delta_rows(items, study or StudyFacts(), settings or AnalysisSettings(), seed_mean=True)
    return _sorted(pd.DataFrame(rows), SEED_MEAN_COLUMNS, "n_seeds")
