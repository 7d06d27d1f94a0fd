"""The central test: does fine-tuning (or CoT) help Semitic targets more than controls?

Difference in differences (mean delta over Semitic targets minus mean over controls, source
languages excluded) per model, per baseline band and pooled, with a question-id bootstrap
interval and a language-label permutation p-value; for bands and the pool also an OLS of the
cell deltas and an item-level logistic mixed model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xlt.analysis.bands import model_bands
from xlt.analysis.cells import ItemIndex, adapters_by_source
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.stats import did_test, mixed_transfer, ols_transfer, rng_for
from xlt.languages import language
from xlt.study import StudyFacts


@dataclass(frozen=True)
class Contrast:
    """A treatment compared with base/direct: fine-tuning on a source, or CoT prompting."""

    name: str
    source: str | None
    excluded: frozenset[str]

    def treated(self, index: ItemIndex, model: str) -> list[tuple[str, str]]:
        """(weights, prompting) of the treated cells of a model (the seeds of an adapter)."""
        if self.name == "cot":
            return [("base", "cot")]
        return [(w, "direct") for w in adapters_by_source(index, model).get(self.source, [])]

    @property
    def term(self) -> str:
        return "finetuned" if self.name == "ft" else "cot"


def contrasts(index: ItemIndex, study: StudyFacts) -> list[Contrast]:
    """Every contrast the files allow: one per fine-tuning source, and CoT if cot cells exist.

    A source's own languages are excluded from its tests; CoT has no source, so every
    source language of the study is excluded from its tests instead.
    """
    found = [
        Contrast("ft", source, frozenset(study.source_langs(source)))
        for source in adapters_by_source(index)
    ]
    if any(k[1] == "base" and k[2] == "cot" for k in index.cells()):
        found.append(Contrast("cot", None, frozenset(study.source_langs())))
    return found


@dataclass
class Unit:
    """The item-level differences of a set of models under one contrast and scale."""

    models: list[str]
    langs: list[str]
    semitic: np.ndarray
    diffs: np.ndarray
    ids: list[str]
    n_seeds: int
    cells: pd.DataFrame
    files: list[str]

    def items(self, index: ItemIndex, contrast: Contrast, scale: str) -> pd.DataFrame:
        """Long item table for the mixed model: correct, treated, semitic, item, model."""
        frames = []
        for model in self.models:
            for lang, semitic in zip(self.langs, self.semitic, strict=True):
                ref = index.get(model, "base", "direct", lang, scale)
                if ref is None:
                    continue
                cells = [(0, ref)] + [
                    (1, index.get(model, w, p, lang, scale))
                    for w, p in contrast.treated(index, model)
                ]
                for treated, vector in cells:
                    if vector is None:
                        continue
                    frames.append(
                        pd.DataFrame(
                            {
                                "correct": vector.loc[self.ids].to_numpy(),
                                "treated": treated,
                                "semitic": int(semitic),
                                "item": self.ids,
                                "model": model,
                            }
                        )
                    )
        return pd.concat(frames, ignore_index=True)


def build_unit(
    index: ItemIndex,
    study: StudyFacts,
    contrast: Contrast,
    models: Sequence[str],
    scale: str,
) -> Unit | None:
    """Differences (models × target languages × shared item ids), seed-averaged; None if empty.

    Targets are the languages with a base/direct cell and a treated cell on this scale, minus
    the contrast's excluded languages; the ids are those every used cell shares.
    """
    used: dict[tuple[str, str], tuple[pd.Series, list[pd.Series]]] = {}
    files: list[str] = []
    for model in models:
        treated = contrast.treated(index, model)
        for m, w, p, lang in index.cells():
            if (m, w, p) != (model, "base", "direct") or lang in contrast.excluded:
                continue
            ref = index.get(model, "base", "direct", lang, scale)
            vectors = [index.get(model, tw, tp, lang, scale) for tw, tp in treated]
            present = [(cell, v) for cell, v in zip(treated, vectors, strict=True) if v is not None]
            if ref is None or not present:
                continue
            used[(model, lang)] = (ref, [v for _, v in present])
            files.append(index.file(model, "base", "direct", lang))
            files.extend(index.file(model, tw, tp, lang) for (tw, tp), _ in present)
    if not used:
        return None
    ids = None
    for ref, vectors in used.values():
        for vector in [ref, *vectors]:
            ids = vector.index if ids is None else ids.intersection(vector.index)
    ids = list(ids)
    order = list(dict.fromkeys(lang for _, lang in used))
    langs = sorted(order, key=lambda code: (not language(code).is_semitic, order.index(code)))
    unit_models = [m for m in models if any(k[0] == m for k in used)]
    diffs = np.full((len(unit_models), len(langs), len(ids)), np.nan)
    rows = []
    for (model, lang), (ref, vectors) in used.items():
        ref_values = ref.loc[ids].to_numpy()
        treated_mean = np.mean([v.loc[ids].to_numpy() for v in vectors], axis=0)
        diffs[unit_models.index(model), langs.index(lang)] = treated_mean - ref_values
        rows.append(
            {
                "model": model,
                "lang": lang,
                "delta": float((treated_mean - ref_values).mean()) if ids else math.nan,
                "base_accuracy": float(ref_values.mean()) if ids else math.nan,
                "semitic": language(lang).is_semitic,
                "same_script": bool(contrast.source)
                and language(lang).script in study.source_scripts(contrast.source),
            }
        )
    semitic = np.array([language(lang).is_semitic for lang in langs])
    n_seeds = max(len(v) for _, v in used.values())
    return Unit(unit_models, langs, semitic, diffs, ids, n_seeds, pd.DataFrame(rows), files)


TRANSFER_COLUMNS = [
    "source",
    "contrast",
    "scale",
    "level",
    "unit",
    "band",
    "band_rule",
    "method",
    "term",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "units",
    "test",
    "smallest_p",
    "mean_delta_semitic",
    "mean_delta_control",
    "n_models",
    "models",
    "n_semitic",
    "n_control",
    "semitic_langs",
    "control_langs",
    "excluded_langs",
    "n_items",
    "n_seeds",
    "formula",
    "n_obs",
    "note",
    "predictions_files",
]


def _unit_columns(unit: Unit, contrast: Contrast) -> dict[str, Any]:
    semitic = [lang for lang, s in zip(unit.langs, unit.semitic, strict=True) if s]
    control = [lang for lang, s in zip(unit.langs, unit.semitic, strict=True) if not s]
    return {
        "n_models": len(unit.models),
        "models": ";".join(unit.models),
        "n_semitic": len(semitic),
        "n_control": len(control),
        "semitic_langs": ";".join(semitic),
        "control_langs": ";".join(control),
        "excluded_langs": ";".join(sorted(contrast.excluded)),
        "n_items": len(unit.ids),
        "n_seeds": unit.n_seeds,
        "predictions_files": ";".join(dict.fromkeys(unit.files)),
    }


def _did_row(
    unit: Unit, contrast: Contrast, scale: str, level: str, name: str, settings: AnalysisSettings
) -> dict[str, Any]:
    row = {"method": "did", "term": "semitic - control", "units": "accuracy"}
    if unit.semitic.all() or not unit.semitic.any() or not unit.ids:
        n_sem = int(unit.semitic.sum())
        row["note"] = (
            f"not tested: needs Semitic and control targets and shared items "
            f"({n_sem} Semitic, {len(unit.langs) - n_sem} control, {len(unit.ids)} items)"
        )
        return row
    rng = rng_for(settings.seed, "did", contrast.name, contrast.source, scale, level, name)
    result = did_test(
        unit.diffs,
        unit.semitic,
        settings.n_bootstrap,
        settings.n_permutations,
        rng,
        settings.ci_level,
    )
    kind = "exact" if result.exact else "random"
    row.update(
        estimate=result.estimate,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        p_value=result.p_value,
        test=f"permutation of Semitic/control labels over languages ({kind}, "
        f"{result.n_labellings} labellings); interval: bootstrap over question ids",
        smallest_p=result.smallest_p,
        mean_delta_semitic=result.mean_semitic,
        mean_delta_control=result.mean_control,
    )
    return row


def _model_rows(
    unit: Unit, index: ItemIndex, contrast: Contrast, scale: str, settings: AnalysisSettings
) -> list[dict[str, Any]]:
    rows = []
    for term in ols_transfer(unit.cells, settings.ci_level):
        rows.append(
            {
                "method": "ols",
                "term": term.term,
                "units": "slope" if term.term == "base_accuracy" else "accuracy",
                "test": "OLS t-test over model × language cells",
                **_term_columns(term),
            }
        )
    if unit.ids and settings.mixed_model:
        term = mixed_transfer(
            unit.items(index, contrast, scale),
            contrast.term,
            settings.ci_level,
            settings.mixed_min_models,
            settings.seed,
        )
        rows.append(
            {
                "method": "mixed_logit",
                "term": term.term,
                "units": "log-odds",
                "test": "BinomialBayesMixedGLM: VB variances, conditional mode + Laplace sd",
                **_term_columns(term),
            }
        )
    return rows


def _term_columns(term) -> dict[str, Any]:
    return {
        "estimate": term.estimate,
        "ci_low": term.ci_low,
        "ci_high": term.ci_high,
        "p_value": term.p_value,
        "formula": term.formula,
        "n_obs": term.n_obs,
        "note": term.note,
    }


def transfer_table(
    items: pd.DataFrame,
    scores: pd.DataFrame,
    study: StudyFacts | None = None,
    settings: AnalysisSettings | None = None,
) -> pd.DataFrame:
    """The central test, per model, per baseline band and pooled, for every contrast and scale.

    Difference in differences (mean delta over Semitic targets − mean over controls, source
    languages excluded) with a question-id bootstrap interval and a language-label permutation
    p-value; for bands and the pool also an OLS of the cell deltas and an item-level logistic
    mixed model. A unit that cannot be tested gets a row whose note says why.
    """
    study, settings = study or StudyFacts(), settings or AnalysisSettings()
    index = ItemIndex(items)
    bands = model_bands(scores, study, settings)
    models = list(dict.fromkeys(k[0] for k in index.cells()))
    rows = []
    for contrast in contrasts(index, study):
        for scale in index.scales():
            units = [("model", m, bands.band.get(m), [m]) for m in models]
            units += [("band", b, b, bands.models(b)) for b in ("weak", "strong")]
            units.append(("pooled", "all", None, models))
            for level, name, band, members in units:
                base = {
                    "source": contrast.source,
                    "contrast": contrast.name,
                    "scale": scale,
                    "level": level,
                    "unit": name,
                    "band": band,
                    "band_rule": bands.rule,
                }
                unit = build_unit(index, study, contrast, members, scale) if members else None
                if unit is None:
                    note = "no models in this band" if not members else "no treated cells"
                    rows.append({**base, "method": "did", "note": note, "n_models": 0})
                    continue
                found = [_did_row(unit, contrast, scale, level, name, settings)]
                if level != "model":
                    found += _model_rows(unit, index, contrast, scale, settings)
                rows.extend({**base, **_unit_columns(unit, contrast), **r} for r in found)
    return pd.DataFrame(rows).reindex(columns=TRANSFER_COLUMNS)
