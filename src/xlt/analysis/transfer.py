"""The central test: does fine-tuning (or CoT) help Semitic targets more than controls?

Two questions are answered, and every p-value row of the table names its own (`question`):

- Language-level (`language_meta`, `language_randomization`): do Semitic languages, as a family,
  gain more than other languages? The languages are a sample, so they are the unit of
  inference (`xlt.analysis.language_level`): a random-effects meta-regression of per-language
  gains (HKSJ t) and Fisher's randomization test over language labels, whose smallest
  attainable p the row states. This is the study's headline question.
- Conditional on the chosen languages (`did`, `ols`, `mixed_logit`): do these Semitic targets
  gain more than these controls? The item-bootstrap difference in differences resamples
  question ids only; the OLS of cell deltas and the item-level mixed model treat languages as
  fixed. Between-language differences in gain that have nothing to do with family count as a
  Semitic effect here, so these rows do not generalise beyond the languages studied.

The language-level rows come twice: on per-language gains in log-odds of the accuracy above
chance (`*_logit`; the estimand: Semitic minus control expected log-odds gain, languages
random, each model's gain averaged over models), which headroom alone cannot move and which
gives findings.md's verdict, and in percentage points (descriptive). For the source × target
interaction the log-odds row is the test of Semitic-specific transfer: the Semitic-minus-control
difference of logit(fine-tuned on the Semitic source) − logit(fine-tuned on the other source).
Every language weighs the same in the meta-regression (`WEIGHTING`).

Rows come per model, per baseline band and pooled, for every contrast (fine-tuning on each
source, CoT, and the source × target interaction when a Semitic and a non-Semitic source were
both fine-tuned) and scale. Every source language of the study is excluded from every
contrast, so all contrasts share one set of Semitic targets and controls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xlt.analysis.bands import model_bands
from xlt.analysis.cells import ItemIndex, adapters_by_source
from xlt.analysis.language_level import (
    LanguageLevel,
    above_chance,
    corrected_accuracy,
    language_level_test,
    logit,
    logit_contrasts,
)
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.stats import did_test, mixed_transfer, ols_transfer, rng_for
from xlt.languages import language
from xlt.study import BASE, StudyFacts

REFERENCE = "base/direct"


@dataclass(frozen=True)
class Contrast:
    """A treatment compared with a reference: fine-tuning on a source or CoT prompting against
    base/direct, or (`interaction`) fine-tuning on `source` against fine-tuning on
    `reference_source`, whose Semitic-minus-control difference is the source × target
    interaction."""

    name: str
    source: str | None
    excluded: frozenset[str]
    reference_source: str | None = None

    def treated(self, index: ItemIndex, model: str) -> list[tuple[str, str]]:
        """(weights, prompting) of the treated cells of a model (the seeds of an adapter)."""
        if self.name == "cot":
            return [(BASE, "cot")]
        return [(w, "direct") for w in adapters_by_source(index, model).get(self.source, [])]

    def reference(self, index: ItemIndex, model: str) -> list[tuple[str, str]]:
        """(weights, prompting) of the reference cells of a model, averaged like the treated."""
        if self.reference_source is None:
            return [(BASE, "direct")]
        found = adapters_by_source(index, model).get(self.reference_source, [])
        return [(w, "direct") for w in found]

    @property
    def term(self) -> str:
        return {"ft": "finetuned", "cot": "cot"}.get(self.name, "source")

    @property
    def reference_label(self) -> str:
        if self.reference_source is None:
            return REFERENCE
        return f"fine-tuned on {self.reference_source}"


def is_semitic_source(study: StudyFacts, source: str) -> bool:
    """Whether every language of a fine-tuning source is Semitic."""
    langs = study.source_langs(source)
    return bool(langs) and all(language(code).is_semitic for code in langs)


def interaction_pairs(study: StudyFacts, sources: Sequence[str]) -> list[tuple[str, str]]:
    """(Semitic source, non-Semitic source) pairs among the fine-tuned sources."""
    semitic = [s for s in sources if is_semitic_source(study, s)]
    others = [s for s in sources if not is_semitic_source(study, s)]
    return [(a, b) for a in semitic for b in others]


def contrasts(index: ItemIndex, study: StudyFacts) -> list[Contrast]:
    """Every contrast the files allow: one per fine-tuning source, CoT if cot cells exist, and
    one interaction per (Semitic source, non-Semitic source) pair.

    Every source language of the study (of every source, fine-tuned or declared) is excluded
    from every contrast, so that all contrasts compare the same Semitic targets with the same
    controls: a source language is never a target (fine-tuned on it) in one contrast and a
    control in another.
    """
    sources = list(adapters_by_source(index))
    excluded = study_excluded(index, study)
    found = [Contrast("ft", source, excluded) for source in sources]
    if any(k[1] == BASE and k[2] == "cot" for k in index.cells()):
        found.append(Contrast("cot", None, excluded))
    for a, b in interaction_pairs(study, sources):
        found.append(Contrast("interaction", a, excluded, reference_source=b))
    return found


def study_excluded(index: ItemIndex, study: StudyFacts) -> frozenset[str]:
    """The languages left out of every contrast: every source language of the study."""
    return frozenset(study.source_langs())


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
    lang_files: dict[str, list[str]] = field(default_factory=dict)
    logit_diffs: np.ndarray | None = None

    def language_test(
        self, settings: AnalysisSettings, rng: np.random.Generator, gain_scale: str = "accuracy"
    ) -> LanguageLevel:
        """The language-level tests of this unit (meta-regression and randomization) at the
        analysis' interval level and number of relabellings, on per-language gains in
        accuracy (`gain_scale` "accuracy") or in log-odds ("log-odds": each model's
        logit(treated) − logit(reference) accuracy, averaged over models). Every language
        weighs the same in the meta-regression (`WEIGHTING`)."""
        diffs = self.logit_diffs if gain_scale == "log-odds" else self.diffs
        return language_level_test(
            diffs,
            self.semitic,
            level=settings.ci_level,
            n_perm=settings.n_permutations,
            rng=rng,
            weights="equal",
        )

    def items(self, index: ItemIndex, contrast: Contrast, scale: str) -> pd.DataFrame:
        """Long item table for the mixed model: correct, treated, semitic, item, model, lang."""
        frames = []
        for model in self.models:
            for lang, semitic in zip(self.langs, self.semitic, strict=True):
                cells = [
                    (0, index.get(model, w, p, lang, scale))
                    for w, p in contrast.reference(index, model)
                ] + [
                    (1, index.get(model, w, p, lang, scale))
                    for w, p in contrast.treated(index, model)
                ]
                if all(vector is None for treated, vector in cells if not treated):
                    continue
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
                                "lang": lang,
                            }
                        )
                    )
        return pd.concat(frames, ignore_index=True)


def _present(
    index: ItemIndex, model: str, cells: list[tuple[str, str]], lang: str, scale: str
) -> list[tuple[tuple[str, str], pd.Series]]:
    found = [(cell, index.get(model, *cell, lang, scale)) for cell in cells]
    return [(cell, vector) for cell, vector in found if vector is not None]


def build_unit(
    index: ItemIndex,
    study: StudyFacts,
    contrast: Contrast,
    models: Sequence[str],
    scale: str,
    chance: float = 0.25,
) -> Unit | None:
    """Differences (models × target languages × shared item ids), seed-averaged; None if empty.

    Targets are the languages with a base/direct cell, a reference cell and a treated cell on
    this scale, minus the contrast's excluded languages; the ids are those every used cell
    shares. A contrast's reference cells (one, or the seeds of the reference source) are
    averaged like its treated cells. `chance`: guessing accuracy, for the log-odds gains
    (`logit_contrasts`).
    """
    used: dict[tuple[str, str], tuple[list[pd.Series], list[pd.Series]]] = {}
    files: list[str] = []
    lang_files: dict[str, list[str]] = {}
    for model in models:
        treated, reference = contrast.treated(index, model), contrast.reference(index, model)
        for m, w, p, lang in index.cells():
            if (m, w, p) != (model, BASE, "direct") or lang in contrast.excluded:
                continue
            refs = _present(index, model, reference, lang, scale)
            present = _present(index, model, treated, lang, scale)
            if not refs or not present:
                continue
            used[(model, lang)] = ([v for _, v in refs], [v for _, v in present])
            found = [index.file(model, cw, cp, lang) for (cw, cp), _ in refs + present]
            files.extend(found)
            lang_files.setdefault(lang, []).extend(found)
    if not used:
        return None
    ids = None
    for refs, vectors in used.values():
        for vector in [*refs, *vectors]:
            ids = vector.index if ids is None else ids.intersection(vector.index)
    ids = list(ids)
    order = list(dict.fromkeys(lang for _, lang in used))
    langs = sorted(order, key=lambda code: (not language(code).is_semitic, order.index(code)))
    unit_models = [m for m in models if any(k[0] == m for k in used)]
    diffs = np.full((len(unit_models), len(langs), len(ids)), np.nan)
    logit_diffs = np.full_like(diffs, np.nan)
    rows = []
    for (model, lang), (refs, vectors) in used.items():
        ref_values = np.mean([v.loc[ids].to_numpy() for v in refs], axis=0)
        treated_mean = np.mean([v.loc[ids].to_numpy() for v in vectors], axis=0)
        diffs[unit_models.index(model), langs.index(lang)] = treated_mean - ref_values
        pseudo = logit_contrasts(treated_mean, ref_values, chance) if ids else np.array([])
        logit_diffs[unit_models.index(model), langs.index(lang)] = pseudo
        rows.append(
            {
                "model": model,
                "lang": lang,
                "delta": float((treated_mean - ref_values).mean()) if ids else math.nan,
                "base_accuracy": float(ref_values.mean()) if ids else math.nan,
                "logit_gain": float(pseudo.mean()) if ids else math.nan,
                "logit_base": float(
                    logit(above_chance(corrected_accuracy(ref_values), chance, len(ids)))
                )
                if ids
                else math.nan,
                "semitic": language(lang).is_semitic,
                "same_script": bool(contrast.source)
                and language(lang).script in study.source_scripts(contrast.source),
            }
        )
    semitic = np.array([language(lang).is_semitic for lang in langs])
    n_seeds = max(len(v) for _, v in used.values())
    cells = pd.DataFrame(rows)
    return Unit(
        unit_models, langs, semitic, diffs, ids, n_seeds, cells, files, lang_files, logit_diffs
    )


TRANSFER_COLUMNS = [
    "source",
    "reference",
    "contrast",
    "scale",
    "level",
    "unit",
    "band",
    "band_rule",
    "method",
    "term",
    "question",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "units",
    "test",
    "smallest_p",
    "n_relabellings",
    "exact",
    "df",
    "tau2",
    "estimand",
    "weighting",
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


# ---------------------------------------------------------------------------------------------
# The questions each kind of row answers, in words (the `question` and `estimand` columns).


def _gain(contrast: Contrast) -> str:
    if contrast.name == "interaction":
        return (
            f"gain from fine-tuning on {contrast.source} rather than on {contrast.reference_source}"
        )
    return "CoT gain" if contrast.name == "cot" else f"gain from fine-tuning on {contrast.source}"


def language_question(contrast: Contrast, gain_scale: str = "accuracy") -> str:
    """The language-level question of a contrast, on per-language gains in accuracy
    (percentage points: descriptive, headroom can produce a difference) or in log-odds
    (the scale of the verdict)."""
    if gain_scale == "log-odds":
        return (
            f"Do Semitic languages have a larger {_gain(contrast)} in log-odds than other "
            "languages, headroom held fixed by the scale (a gain the model makes everywhere is "
            "the same in log-odds for a language that starts low as for one that starts "
            "high)? (language-level: languages random)"
        )
    return (
        f"Do Semitic languages have a larger {_gain(contrast)} in percentage points than "
        "other languages (descriptive: in percentage points headroom alone can make one)? "
        "(language-level: languages random)"
    )


def conditional_question(contrast: Contrast, how: str) -> str:
    """The question of a row that holds the chosen languages fixed; `how` names the method."""
    return (
        f"Do these Semitic targets have a larger {_gain(contrast)} than these controls, for "
        f"these languages? ({how}: languages fixed, so conditional on the chosen languages)"
    )


def language_estimand(contrast: Contrast, gain_scale: str = "accuracy") -> str:
    """What the language-level rows estimate."""
    if gain_scale == "log-odds":
        interaction = (
            "; the difference of the two sources' log-odds gains over base, so its "
            "Semitic-minus-control difference is the source × target interaction in log-odds"
            if contrast.name == "interaction"
            else ""
        )
        return (
            f"difference in expected {_gain(contrast)} in log-odds, logit(treated accuracy) "
            f"minus logit({contrast.reference_label} accuracy) (continuity-corrected, each "
            "model's own, averaged over the unit's models), between a Semitic target "
            f"language and a control language, languages as random{interaction}"
        )
    return (
        f"difference in expected {_gain(contrast)} (treated minus {contrast.reference_label} "
        "accuracy) between a Semitic target language and a control language, languages as "
        "random, averaged over the unit's models"
    )


WEIGHTING = (
    "equal: every language weighs the same in the meta-regression (the estimate is the "
    "unweighted difference of Semitic and control mean gains), since a language's sampling "
    "variance depends on its own gain and base accuracy"
)
LANGUAGE_METHODS = {
    "accuracy": ("language_meta", "language_randomization"),
    "log-odds": ("language_meta_logit", "language_randomization_logit"),
}


def conditional_estimand(contrast: Contrast) -> str:
    """What the item-level difference in differences estimates."""
    return (
        f"mean {_gain(contrast)} over these Semitic targets minus the mean over these "
        "controls, averaged over the unit's models, for these languages and the population of "
        "questions the items stand for"
    )


OLS_QUESTIONS = {
    "semitic": "Is a cell's {gain} in log-odds larger for Semitic targets, the model held fixed "
    "(each model its own mean gain; headroom held fixed by the log-odds scale{script}), for "
    "these languages? (cell-level OLS: languages fixed)",
    "logit_base": "Does a cell's {gain} in log-odds change with its base accuracy in log-odds, "
    "the model held fixed, for these languages? (cell-level OLS: languages fixed; descriptive, "
    "biased downwards by regression to the mean)",
    "same_script": "Is a cell's {gain} in log-odds larger when the target shares the source's "
    "script, Semitic and the model held fixed, for these languages? (cell-level OLS: "
    "languages fixed)",
}
OLS_UNITS = {"semitic": "log-odds", "same_script": "log-odds", "logit_base": "slope"}
CONDITIONAL_NOTE = (
    "conditional on the chosen languages: resamples question ids only, so between-language "
    "differences in gain count as a Semitic effect; language_meta/language_randomization "
    "answer the question about languages"
)


# ---------------------------------------------------------------------------------------------
# Rows.


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


def _untestable(unit: Unit, min_langs: int) -> str | None:
    """Why a unit cannot be tested (None if it can)."""
    n_sem = int(unit.semitic.sum())
    n_ctl = len(unit.langs) - n_sem
    if n_sem and n_ctl and len(unit.langs) >= min_langs and len(unit.ids) >= 2:
        return None
    return (
        f"not tested: needs Semitic and control targets ({min_langs}+ languages) and shared "
        f"items ({n_sem} Semitic, {n_ctl} control, {len(unit.ids)} items)"
    )


def _did_row(
    unit: Unit, contrast: Contrast, scale: str, level: str, name: str, settings: AnalysisSettings
) -> dict[str, Any]:
    row = {
        "method": "did",
        "term": "semitic - control",
        "units": "accuracy",
        "question": conditional_question(contrast, "item-level"),
        "estimand": conditional_estimand(contrast),
    }
    why = _untestable(unit, 2)
    if why:
        return {**row, "note": why}
    key = contrast.reference_source or ""
    rng = rng_for(settings.seed, "did", contrast.name, contrast.source, key, scale, level, name)
    result = did_test(unit.diffs, unit.semitic, settings.n_bootstrap, rng, settings.ci_level)
    row.update(
        estimate=result.estimate,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        p_value=result.p_value,
        test=f"bootstrap over question ids ({settings.n_bootstrap} resamples, the same ids in "
        "every language and model): percentile interval and two-sided bootstrap p; items "
        "random, languages fixed",
        smallest_p=result.smallest_p,
        mean_delta_semitic=result.mean_semitic,
        mean_delta_control=result.mean_control,
        note=CONDITIONAL_NOTE,
    )
    return row


def _language_rows(
    unit: Unit,
    contrast: Contrast,
    scale: str,
    level: str,
    name: str,
    settings: AnalysisSettings,
    gain_scale: str = "accuracy",
) -> list[dict[str, Any]]:
    """The language-level meta-regression and randomization rows of a unit, on gains in
    accuracy (`language_meta`, `language_randomization`) or in log-odds (`*_logit`)."""
    methods = LANGUAGE_METHODS[gain_scale]
    common = {
        "term": "semitic - control",
        "units": gain_scale,
        "question": language_question(contrast, gain_scale),
        "estimand": language_estimand(contrast, gain_scale),
        "weighting": WEIGHTING,
    }
    why = _untestable(unit, 3)
    if why:
        return [{**common, "method": method, "note": why} for method in methods]
    key = contrast.reference_source or ""
    # The accuracy rows keep their earlier stream; the log-odds rows get their own.
    extra = () if gain_scale == "accuracy" else (gain_scale,)
    rng = rng_for(
        settings.seed, "language", contrast.name, contrast.source, key, scale, name, *extra
    )
    try:
        result = unit.language_test(settings, rng, gain_scale)
    except ValueError as exc:
        return [{**common, "method": method, "note": f"not tested: {exc}"} for method in methods]
    k_sem, k_ctl = result.k_semitic, result.k_control
    random = result.randomization
    gains = result.gains.gains
    mean_sem, mean_ctl = float(gains[unit.semitic].mean()), float(gains[~unit.semitic].mean())
    kind = "exact" if random.exact else "Monte Carlo"
    reach = (
        f"cannot reject at alpha {settings.alpha:g}: with {k_sem} Semitic + {k_ctl} control "
        f"languages the smallest attainable p is {random.smallest_p:.3g}"
        if random.smallest_p > settings.alpha + 1e-12
        else f"can reject at alpha {settings.alpha:g} (smallest attainable p "
        f"{random.smallest_p:.3g})"
    )
    meta = {
        **common,
        "method": methods[0],
        "estimate": result.estimate,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "test": f"random-effects meta-regression of per-language {gain_scale} gains "
        "(model-averaged, item-paired; equal weights) on a Semitic indicator: REML tau2, "
        f"Hartung-Knapp-Sidik-Jonkman t on {result.df} df",
        "smallest_p": 0.0,
        "df": result.df,
        "tau2": result.tau2,
        "mean_delta_semitic": result.mean_semitic,
        "mean_delta_control": result.mean_control,
        "note": f"{k_sem} Semitic + {k_ctl} control languages as the units; t-based, so it "
        "rests on roughly normal language effects, which so few languages cannot check",
    }
    randomization = {
        **common,
        "method": methods[1],
        "estimate": mean_sem - mean_ctl,
        "p_value": random.p_value,
        "test": f"Fisher randomization over the Semitic/control labels of the languages "
        f"(Welch t of per-language {gain_scale} gains; {kind}, {random.n_relabellings} "
        "relabellings)",
        "smallest_p": random.smallest_p,
        "n_relabellings": random.n_relabellings,
        "exact": random.exact,
        "mean_delta_semitic": mean_sem,
        "mean_delta_control": mean_ctl,
        "note": reach,
    }
    return [meta, randomization]


def _model_rows(
    unit: Unit, index: ItemIndex, contrast: Contrast, scale: str, settings: AnalysisSettings
) -> list[dict[str, Any]]:
    rows = []
    gain = _gain(contrast)
    for term in ols_transfer(unit.cells, settings.ci_level):
        script = ", and same script as the source" if "same_script" in term.formula else ""
        rows.append(
            {
                "method": "ols",
                "term": term.term,
                "units": OLS_UNITS[term.term],
                "question": OLS_QUESTIONS[term.term].format(gain=gain, script=script),
                "test": "OLS t-test over model × language cells as independent units "
                "(languages fixed; the standard errors ignore that cells share models and "
                "languages)",
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
                "question": conditional_question(
                    contrast,
                    "item-level mixed model in log-odds, each language's and each model's base "
                    "level and each model's treatment effect held fixed (formula: see "
                    "`formula`)",
                ),
                "test": "BinomialBayesMixedGLM: VB variances, conditional mode + Laplace sd "
                "(a language's own gain enters only as Semitic vs control, so it counts "
                "as Semitic effect: conditional, and optimistic when languages differ; a logit "
                "link with no guessing floor, so with few options headroom near chance can "
                "still show as a Semitic effect)",
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


def _missing_interaction(
    index: ItemIndex, study: StudyFacts, scale: str, bands_rule: str
) -> dict[str, Any] | None:
    """A row saying why the source × target interaction is not tested (None if it is, or if
    nothing was fine-tuned)."""
    sources = list(adapters_by_source(index))
    if not sources or interaction_pairs(study, sources):
        return None
    kinds = ", ".join(
        f"{s} ({'Semitic' if is_semitic_source(study, s) else 'not Semitic'})" for s in sources
    )
    return {
        "source": ";".join(sources),
        "contrast": "interaction",
        "scale": scale,
        "level": "pooled",
        "unit": "all",
        "band_rule": bands_rule,
        "method": "language_meta",
        "term": "semitic - control",
        "question": "Does fine-tuning on a Semitic source rather than a non-Semitic one help "
        "Semitic languages more than other languages? (language-level: languages random)",
        "note": "not tested: needs two fine-tuning sources, one Semitic and one not; this "
        f"study fine-tuned on {kinds}",
        "n_models": 0,
    }


def transfer_table(
    items: pd.DataFrame,
    scores: pd.DataFrame,
    study: StudyFacts | None = None,
    settings: AnalysisSettings | None = None,
) -> pd.DataFrame:
    """The central tests, per model, per baseline band and pooled, for every contrast and scale.

    Language-level rows (languages random: `language_meta`, `language_randomization`) for
    every unit; the item-bootstrap difference in differences (`did`, conditional on the chosen
    languages) for every unit; for bands and the pool also an OLS of the cell deltas and an
    item-level logistic mixed model (languages fixed). A unit that cannot be tested gets rows
    whose note says why; each row's `question` says what its p-value answers.
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
                    "reference": contrast.reference_label,
                    "contrast": contrast.name,
                    "scale": scale,
                    "level": level,
                    "unit": name,
                    "band": band,
                    "band_rule": bands.rule,
                }
                unit = (
                    build_unit(index, study, contrast, members, scale, settings.chance)
                    if members
                    else None
                )
                if unit is None:
                    note = "no models in this band" if not members else "no treated cells"
                    rows.append({**base, "method": "did", "note": note, "n_models": 0})
                    continue
                found = _language_rows(unit, contrast, scale, level, name, settings)
                found += _language_rows(
                    unit, contrast, scale, level, name, settings, gain_scale="log-odds"
                )
                found.append(_did_row(unit, contrast, scale, level, name, settings))
                if level != "model" and contrast.name != "interaction":
                    found += _model_rows(unit, index, contrast, scale, settings)
                rows.extend({**base, **_unit_columns(unit, contrast), **r} for r in found)
    for scale in index.scales():
        missing = _missing_interaction(index, study, scale, bands.rule)
        if missing:
            rows.append(missing)
    return pd.DataFrame(rows).reindex(columns=TRANSFER_COLUMNS)
