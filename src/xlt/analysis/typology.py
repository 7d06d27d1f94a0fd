"""Typological distance from the fine-tuning source as a continuous predictor of the gain.

The Semitic/control contrast is one bit of genealogy. A language's distance from the source is
a graded alternative: if transfer follows typology, gains should fall as the distance grows,
whatever the family label. Distances come from URIEL (Littell et al. 2017) through `lang2vec`
1.1.2, whose wheel ships its data, so they are computed offline and written to a table
(`typology_distances.csv`) like any other data. lang2vec 1.1.2 has no `distance()`; a
distance here is the cosine distance, 1 − cos(u, v), between two languages' URIEL vectors,
as URIEL's own precomputed distances are:

- syntactic (`syntax_knn`, the primary predictor): 103 word-order and morphosyntax features,
  kNN-imputed so every language has a complete vector. Chosen because it is the typological
  distance most often found to predict cross-lingual transfer (Lin et al. 2019; Philippy,
  Guo & Haddadan 2023) and because, unlike the genetic distance, it is not the Semitic label
  again: Hebrew, Amharic and Maltese differ from Arabic in word order and morphology.
- phonological (`phonology_knn`) and inventory (`inventory_knn`): secondary, exploratory.
- genetic (`fam`, membership in Glottolog family-tree nodes): nearly collinear with the
  Semitic indicator for an Arabic source; secondary.
- geographic (`geo`, distances to fixed points on the globe; root mean square difference
  instead of cosine, see `rms_distance`): secondary.

A source with several languages (the Arabic varieties) is at the mean of the distances from
each of its languages. Belebele codes are ISO 639-3 + script; the ISO part is URIEL's code
except for a few Belebele individual languages URIEL knows only under a macrolanguage or a
sibling variety (`URIEL_FALLBACK`, said in the table's `note`); arb (Modern Standard Arabic)
is in URIEL 1.1.2 under its own code, so the Arabic source needs no fallback (`ara`, the
macrolanguage, is listed for versions that lack it).

`typology_table` then regresses each language's gain (model-averaged, item-paired, with its
sampling variance from items) on its distance and its base accuracy, language as the unit:
the random-effects meta-regression of `xlt.analysis.language_level` (REML τ², HKSJ t).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from xlt.analysis.cells import ItemIndex, adapters_by_source
from xlt.analysis.language_level import LanguageGains, language_gains, meta_regression
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.transfer import Contrast, Unit, build_unit
from xlt.errors import XltError
from xlt.languages import language
from xlt.study import StudyFacts

# Distance name → lang2vec feature set.
DISTANCES = {
    "syntactic": "syntax_knn",
    "phonological": "phonology_knn",
    "inventory": "inventory_knn",
    "genetic": "fam",
    "geographic": "geo",
}
PRIMARY = "syntactic"
# How each distance is measured (lang2vec's geographic vectors are compared by RMS difference,
# the feature vectors by cosine distance).
DISTANCE_UNITS = {"geographic": "RMS distance"}
# ISO 639-3 codes of Belebele languages that URIEL may lack → the code used instead, and why
# (arb is in URIEL 1.1.2 under its own code; the fallback serves versions without it).
URIEL_FALLBACK = {
    "arb": ("ara", "Arabic macrolanguage"),
    "lvs": ("lav", "Latvian macrolanguage"),
    "npi": ("nep", "Nepali macrolanguage"),
    "ory": ("ori", "Oriya macrolanguage"),
    "zho": ("cmn", "Mandarin, the variety Belebele's Chinese is written in"),
    "grn": ("gug", "Paraguayan Guaraní, the variety Belebele's Guarani is"),
    "pbt": ("pst", "Central Pashto, the nearest Pashto variety URIEL has"),
}
DISTANCE_COLUMNS = [
    "source",
    "source_langs",
    "source_uriel",
    "lang",
    "uriel_code",
    "group",
    "is_source",
    *DISTANCES,
    "note",
]
TYPOLOGY_COLUMNS = [
    "source",
    "scale",
    "distance",
    "feature_set",
    "primary",
    "term",
    "question",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "df",
    "tau2",
    "k",
    "units",
    "langs",
    "left_out",
    "note",
    "predictions_files",
]


class TypologyError(XltError):
    """lang2vec cannot be imported; the message says what to install."""


def lang2vec_module():
    """The `lang2vec.lang2vec` module (it imports `pkg_resources`, which setuptools ≥ 82
    no longer ships: the project pins setuptools < 82)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pkg_resources' own deprecation warning
            import lang2vec.lang2vec as l2v
    except ImportError as exc:
        raise TypologyError(
            f"typological distances need lang2vec 1.1.2 and setuptools < 82 ({exc}); "
            "run `pip install -e .` in this checkout."
        ) from None
    return l2v


@cache
def uriel_languages() -> frozenset[str]:
    """The ISO 639-3 codes URIEL has typological vectors for."""
    return frozenset(lang2vec_module().available_uriel_languages())


def uriel_code(code: str, available: Iterable[str] | None = None) -> tuple[str | None, str]:
    """(URIEL code, note) of a Belebele code: its ISO 639-3 part, or a documented fallback,
    or None with a note saying URIEL lacks it."""
    known = uriel_languages() if available is None else frozenset(available)
    iso = code.split("_")[0]
    if iso in known:
        return iso, ""
    fallback, why = URIEL_FALLBACK.get(iso, (None, ""))
    if fallback in known:
        return fallback, f"{iso} not in URIEL: {fallback} used ({why})"
    return None, f"{iso} not in URIEL and no fallback: no distance"


def cosine_distance(u: Sequence[float], v: Sequence[float]) -> float:
    """1 − cos(u, v) (0 to 1 for non-negative features); NaN if either vector is all zeros or
    has missing values."""
    a, b = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if not norm or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    return float(np.clip(1.0 - a @ b / norm, 0.0, 1.0))


def rms_distance(u: Sequence[float], v: Sequence[float]) -> float:
    """Root mean square difference. For `geo`, whose features are a language's distances to
    fixed points on the globe, every vector points the same way and cosines are all near 1;
    the size of the difference is what tells near from far."""
    a, b = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    return float(np.sqrt(np.mean((a - b) ** 2)))


METRICS = {"geographic": rms_distance}


def _vectors(codes: Sequence[str], feature_set: str) -> dict[str, np.ndarray]:
    """URIEL vectors of some codes in one feature set ('--' marks a missing value: NaN). A
    code the feature set lacks is left out (lang2vec fails the whole query for it, so the
    codes are then asked one at a time)."""
    l2v = lang2vec_module()
    wanted = sorted(set(codes))
    try:
        found = l2v.get_features(wanted, feature_set) if wanted else {}
    except Exception:  # lang2vec raises a bare Exception for an unknown code
        found = {}
        for code in wanted:
            try:
                found.update(l2v.get_features([code], feature_set))
            except Exception:
                continue
    return {
        code: np.array([math.nan if x == "--" else float(x) for x in values])
        for code, values in found.items()
    }


def distance_table(
    langs: Sequence[str],
    sources: Mapping[str, Sequence[str]],
    distances: Mapping[str, str] = DISTANCES,
) -> pd.DataFrame:
    """One row per source × language: its distance from the source in each feature set (mean
    over the source's languages), the URIEL codes used and, in `note`, any fallback."""
    wanted = dict.fromkeys([*langs, *(c for codes in sources.values() for c in codes)])
    mapped = {code: uriel_code(code) for code in wanted}
    present = [m for m, _ in mapped.values() if m]
    vectors = {name: _vectors(present, feature_set) for name, feature_set in distances.items()}
    rows = []
    for source, source_langs in sources.items():
        from_codes = [mapped[c][0] for c in source_langs if mapped[c][0]]
        source_notes = [f"source {c}: {mapped[c][1]}" for c in source_langs if mapped[c][1]]
        for lang in langs:
            code, note = mapped[lang]
            row: dict[str, Any] = {
                "source": source,
                "source_langs": ";".join(source_langs),
                "source_uriel": ";".join(dict.fromkeys(from_codes)),
                "lang": lang,
                "uriel_code": code,
                "group": "semitic" if language(lang).is_semitic else "control",
                "is_source": lang in source_langs,
            }
            lacking = []
            for name, table in vectors.items():
                metric = METRICS.get(name, cosine_distance)
                pairs = [(code, s) for s in from_codes if code in table and s in table]
                values = [metric(table[a], table[b]) for a, b in pairs]
                row[name] = float(np.mean(values)) if values else math.nan
                if code and not values:
                    lacking.append(name)
            if lacking:
                note = "; ".join(x for x in [note, f"no {'/'.join(lacking)} vector"] if x)
            row["note"] = "; ".join(n for n in [note, *source_notes] if n)
            rows.append(row)
    return pd.DataFrame(rows).reindex(columns=DISTANCE_COLUMNS)


def _questions(source: str, name: str) -> dict[str, str]:
    return {
        "distance": f"Do languages farther from {source} ({name} distance) gain less from "
        "fine-tuning on it, base accuracy held fixed? (language-level: languages random)",
        "base_accuracy": f"Does a language's gain from fine-tuning on {source} change with its "
        f"base accuracy, {name} distance held fixed? (language-level: languages random)",
    }


def typology_table(
    items: pd.DataFrame,
    distances: pd.DataFrame,
    study: StudyFacts | None = None,
    settings: AnalysisSettings | None = None,
) -> pd.DataFrame:
    """Per fine-tuning source, scale and distance: the meta-regression of each target
    language's gain on its distance from the source and its base accuracy (language as the
    unit; source languages and languages without a distance left out)."""
    study, settings = study or StudyFacts(), settings or AnalysisSettings()
    index = ItemIndex(items)
    models = list(dict.fromkeys(k[0] for k in index.cells()))
    names = [n for n in DISTANCES if n in distances.columns]
    rows = []
    for source in adapters_by_source(index):
        table = distances[distances["source"] == source].set_index("lang")
        contrast = Contrast("ft", source, frozenset(study.source_langs(source)))
        for scale in index.scales():
            unit = build_unit(index, study, contrast, models, scale)
            if unit is None:
                continue
            stage1 = language_gains(unit.diffs)
            base = unit.cells.groupby("lang")["base_accuracy"].mean()
            for name in names:
                rows += _regression_rows(
                    source, scale, name, unit, stage1, base, table, settings.ci_level
                )
    return pd.DataFrame(rows).reindex(columns=TYPOLOGY_COLUMNS)


def _regression_rows(
    source: str,
    scale: str,
    name: str,
    unit: Unit,
    stage1: LanguageGains,
    base: pd.Series,
    table: pd.DataFrame,
    level: float,
) -> list[dict[str, Any]]:
    """The distance and base-accuracy terms of one meta-regression (or why it was not fitted)."""
    langs = unit.langs
    distance = np.array([table[name].get(lang, math.nan) for lang in langs], dtype=float)
    keep = np.isfinite(distance)
    common = {
        "source": source,
        "scale": scale,
        "distance": name,
        "feature_set": DISTANCES[name],
        "primary": name == PRIMARY,
        "k": int(keep.sum()),
        "langs": ";".join(np.array(langs)[keep]),
        "left_out": ";".join(np.array(langs)[~keep]),
        "predictions_files": ";".join(dict.fromkeys(unit.files)),
    }
    questions = _questions(source, name)
    X = np.column_stack([distance[keep], base.loc[np.array(langs)[keep]].to_numpy()])
    try:
        if keep.sum() < 4:
            raise ValueError(f"{int(keep.sum())} languages with a distance; 4 are needed")
        fit = meta_regression(
            stage1.gains[keep],
            stage1.variances[keep],
            X,
            ["distance", "base_accuracy"],
            level=level,
        )
    except ValueError as exc:
        return [
            {**common, "term": term, "question": questions[term], "note": f"not fitted: {exc}"}
            for term in ("distance", "base_accuracy")
        ]
    rows = []
    for term in ("distance", "base_accuracy"):
        t = fit.term(term)
        rows.append(
            {
                **common,
                "term": term,
                "question": questions[term],
                "estimate": t.estimate,
                "se": t.se,
                "ci_low": t.ci_low,
                "ci_high": t.ci_high,
                "p_value": t.p_value,
                "df": t.df,
                "tau2": fit.tau2,
                "units": f"accuracy per unit {DISTANCE_UNITS.get(name, 'cosine distance')}"
                if term == "distance"
                else "accuracy per unit base accuracy",
                "note": ("secondary (exploratory)" if name != PRIMARY else "primary predictor")
                + (
                    "; base accuracy's sampling error biases this slope downwards (regression "
                    "to the mean)"
                    if term == "base_accuracy"
                    else ""
                ),
            }
        )
    return rows
