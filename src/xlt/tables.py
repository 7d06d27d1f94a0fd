"""Tables built from predictions (and score) files; every row names the files it came from.

- `scores_table`: one row per cell (model × weights × prompting × language) with its metrics.
- `items_table`: one row per item of every cell, correctness on each scale (the long table the
  transfer tests and any outside analysis start from).
- `deltas_table` / `seed_mean_table`: fine-tuning and CoT deltas per model × language, paired by
  item, per seed and averaged over seeds.
- `transfer_table`: the central test (difference in differences, regression, mixed model).
- `ft_vs_cot_table`: does fine-tuning help where CoT helps?

A scale is `loglik` (format-free: the most likely label) for every cell, and `gen` (the answer
extracted from the generation) for cells where anything was generated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xlt.config import WEIGHTS_PATTERN, parse_weights
from xlt.io import DataError, atomic_path, read_json, read_jsonl
from xlt.languages import check_codes, language
from xlt.metrics import cell_metrics, correct_generation, correct_loglik
from xlt.stats import (
    did_test,
    mcnemar_exact,
    mixed_transfer,
    ols_transfer,
    paired_bootstrap_interval,
    rng_for,
    sign_flip_p,
)

SCALES = ("loglik", "gen")
CELL_KEYS = ("model", "weights", "prompting", "lang")
LANGUAGE_COLUMNS = ("language", "family", "genus", "script", "group")


@dataclass(frozen=True)
class AnalysisSettings:
    """The `analysis:` section of a study config, with defaults for configs that lack it."""

    n_bootstrap: int = 1000
    n_permutations: int = 1000
    seed: int = 0
    ci_level: float = 0.95
    alpha: float = 0.05
    band_threshold: float | None = None
    mixed_model: bool = True
    mixed_min_models: int = 3
    predictions_dir: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AnalysisSettings:
        """Settings from a whole study config (its `analysis:` section, if any)."""
        return cls(**(config.get("analysis") or {}))

    def as_record(self) -> dict[str, Any]:
        """A plain dict, for rule params and provenance."""
        return asdict(self)


@dataclass(frozen=True)
class Study:
    """What the tables need to know of a study beyond its files: sources and model facts."""

    sources: Mapping[str, Sequence[str]] = field(default_factory=dict)
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Study:
        """Sources and per-model facts (size, active size, architecture) of a study config."""
        keys = ("size_b", "active_b", "architecture")
        models = {name: {k: spec.get(k) for k in keys} for name, spec in config["models"].items()}
        return cls(sources={k: list(v) for k, v in config["sources"].items()}, models=models)

    def source_langs(self, source: str | None = None) -> set[str]:
        """Languages of one fine-tuning source, or of every source when `source` is None."""
        if source is None:
            return {lang for langs in self.sources.values() for lang in langs}
        return set(self.sources.get(source, ()))

    def source_scripts(self, source: str) -> set[str]:
        """Scripts of a source's languages (a target in one of them shares the source script)."""
        return {language(lang).script for lang in self.source_langs(source)}

    def model_columns(self, model: str) -> dict[str, Any]:
        """Size (billions), active size and architecture of a model; empty if not configured."""
        facts = self.models.get(model, {})
        return {k: facts.get(k) for k in ("size_b", "active_b", "architecture")}


@dataclass(frozen=True)
class CellFiles:
    """One evaluated cell: its predictions file and, when the workflow scored it, its score file."""

    model: str
    weights: str
    prompting: str
    lang: str
    predictions: str
    score: str | None = None

    @classmethod
    def from_path(cls, predictions: str | Path, score: str | Path | None = None) -> CellFiles:
        """A cell from a path of the form `.../{model}/{weights}/{prompting}/{lang}.jsonl`."""
        path = Path(predictions)
        if len(path.parts) < 4 or path.suffix != ".jsonl":
            raise DataError(
                f"{path}: predictions must be at <root>/<model>/<weights>/<prompting>/<lang>.jsonl"
            )
        model, weights, prompting = path.parts[-4:-1]
        if weights != "base" and not WEIGHTS_PATTERN.match(weights):
            raise DataError(
                f"{path}: weights '{weights}' is neither 'base' nor ft-<source>-s<seed>"
            )
        return cls(model, weights, prompting, path.stem, str(predictions), score and str(score))

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.model, self.weights, self.prompting, self.lang)


def cells_from_files(
    predictions: Iterable[str | Path], scores: Iterable[str | Path] = ()
) -> list[CellFiles]:
    """Cells of a list of predictions files, each paired with its score file if one is given."""
    by_key = {}
    for path in scores:
        parts = Path(path).parts
        by_key[(*parts[-4:-1], Path(path).stem)] = str(path)
    cells = []
    for path in predictions:
        cell = CellFiles.from_path(path)
        cells.append(CellFiles.from_path(path, by_key.get(cell.key)))
    return cells


def language_columns(code: str) -> dict[str, Any]:
    """Registry facts about a language, as table columns."""
    lang = language(code)
    return {
        "language": lang.name,
        "family": lang.family,
        "genus": lang.genus,
        "script": lang.script,
        "group": "semitic" if lang.is_semitic else "control",
    }


def weights_columns(weights: str) -> dict[str, Any]:
    """Source and seed of fine-tuned weights (empty for the base weights)."""
    if weights == "base":
        return {"source": None, "seed": None}
    source, seed = parse_weights(weights)
    return {"source": source, "seed": seed}


def _check_records(cell: CellFiles, records: list[dict[str, Any]]) -> None:
    """A file whose records name another cell than its path was misplaced: stop, say where."""
    if not records:
        raise DataError(f"{cell.predictions}: no predictions.")
    for key, expected in zip(CELL_KEYS, cell.key, strict=True):
        found = {r.get(key, expected) for r in records}
        if found != {expected}:
            raise DataError(
                f"{cell.predictions}: records say {key} = {sorted(map(str, found))} but the path "
                f"says '{expected}'; move the file or fix the records."
            )


SCORE_COLUMNS = [
    "model",
    "size_b",
    "active_b",
    "architecture",
    "weights",
    "source",
    "seed",
    "prompting",
    "lang",
    *LANGUAGE_COLUMNS,
    "is_source",
    "n",
    "ci_level",
    "accuracy_loglik",
    "ci_low_loglik",
    "ci_high_loglik",
    "correct_loglik",
    "accuracy_gen",
    "ci_low_gen",
    "ci_high_gen",
    "correct_gen",
    "format_valid_rate",
    "score_file",
    "predictions_file",
]


def scores_table(cells: Sequence[CellFiles], study: Study | None = None) -> pd.DataFrame:
    """One row per cell: metrics (from its score file, else computed from its predictions),
    the model's size and architecture, the language's family, genus and script, and its files.
    """
    study = study or Study()
    sources = study.source_langs()
    rows = []
    for cell in cells:
        if cell.score:
            metrics = read_json(cell.score)["metrics"]
        else:
            records = read_jsonl(cell.predictions)
            _check_records(cell, records)
            metrics = cell_metrics(records)
        rows.append(
            {
                "model": cell.model,
                **study.model_columns(cell.model),
                "weights": cell.weights,
                **weights_columns(cell.weights),
                "prompting": cell.prompting,
                "lang": cell.lang,
                **language_columns(cell.lang),
                "is_source": cell.lang in sources,
                **metrics,
                "score_file": cell.score,
                "predictions_file": cell.predictions,
            }
        )
    frame = pd.DataFrame(rows).reindex(columns=SCORE_COLUMNS)
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


ITEM_COLUMNS = [
    "model",
    "weights",
    "prompting",
    "lang",
    "id",
    "gold",
    "pred_loglik",
    "correct_loglik",
    "pred_gen",
    "correct_gen",
    "predictions_file",
]


def items_table(cells: Sequence[CellFiles]) -> pd.DataFrame:
    """One row per item of every cell: correctness on each scale (gen empty if not generated)."""
    frames = []
    for cell in cells:
        records = read_jsonl(cell.predictions)
        _check_records(cell, records)
        generated = any(r.get("generation") is not None for r in records)
        frame = pd.DataFrame(
            {
                "id": [r["id"] for r in records],
                "gold": [r["gold"] for r in records],
                "pred_loglik": [r.get("pred_loglik") for r in records],
                "correct_loglik": [int(correct_loglik(r)) for r in records],
                "pred_gen": [r.get("pred_gen") for r in records],
                "correct_gen": [
                    float(correct_generation(r)) if generated else math.nan for r in records
                ],
            }
        )
        if frame["id"].duplicated().any():
            dup = frame.loc[frame["id"].duplicated(), "id"].iloc[0]
            raise DataError(f"{cell.predictions}: item id {dup!r} appears more than once.")
        for key, value in zip(CELL_KEYS, cell.key, strict=True):
            frame[key] = value
        frame["predictions_file"] = cell.predictions
        frames.append(frame)
    items = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    items = items.reindex(columns=ITEM_COLUMNS)
    for column in ("pred_loglik", "pred_gen"):
        items[column] = items[column].astype("Int64")
    return items


class ItemIndex:
    """Per-cell item correctness, looked up by (model, weights, prompting, lang) and scale."""

    def __init__(self, items: pd.DataFrame) -> None:
        self.vectors: dict[tuple[str, ...], pd.Series] = {}
        self.files: dict[tuple[str, str, str, str], str] = {}
        for key, frame in items.groupby(list(CELL_KEYS), sort=False):
            self.files[key] = frame["predictions_file"].iloc[0]
            for scale in SCALES:
                values = frame[f"correct_{scale}"]
                if values.notna().all():
                    self.vectors[(*key, scale)] = pd.Series(
                        values.to_numpy(dtype=float), index=frame["id"].to_numpy()
                    )

    def get(self, model: str, weights: str, prompting: str, lang: str, scale: str):
        """Correctness by item id (a Series), or None if the cell or scale does not exist."""
        return self.vectors.get((model, weights, prompting, lang, scale))

    def file(self, model: str, weights: str, prompting: str, lang: str) -> str | None:
        return self.files.get((model, weights, prompting, lang))

    def cells(self) -> list[tuple[str, str, str, str]]:
        return list(self.files)

    def scales(self) -> list[str]:
        return [s for s in SCALES if any(k[-1] == s for k in self.vectors)]


def adapters_by_source(index: ItemIndex, model: str | None = None) -> dict[str, list[str]]:
    """Fine-tuned weights names with direct cells, grouped by source, seeds in order."""
    found: dict[str, set[str]] = {}
    for m, weights, prompting, _ in index.cells():
        if weights != "base" and prompting == "direct" and model in (None, m):
            found.setdefault(parse_weights(weights)[0], set()).add(weights)
    return {s: sorted(w, key=lambda x: parse_weights(x)[1]) for s, w in sorted(found.items())}


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
    study: Study, model: str, source: str | None, lang: str, scale: str
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
    items: pd.DataFrame, study: Study, settings: AnalysisSettings, seed_mean: bool
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
                    seeds = [parse_weights(w)[1] for w in names]
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
    items: pd.DataFrame, study: Study | None = None, settings: AnalysisSettings | None = None
) -> pd.DataFrame:
    """Per model × source × seed × language × scale: the fine-tuning delta (ft/direct −
    base/direct) with its item-bootstrap interval and McNemar's exact test, the base accuracy
    beside it, and the CoT delta (base/cot − base/direct) of the same model and language.
    """
    rows = _delta_rows(items, study or Study(), settings or AnalysisSettings(), seed_mean=False)
    frame = _sorted(pd.DataFrame(rows), DELTA_COLUMNS, "seed")
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def seed_mean_table(
    items: pd.DataFrame, study: Study | None = None, settings: AnalysisSettings | None = None
) -> pd.DataFrame:
    """Like `deltas_table` with the seeds of each source averaged: the mean delta, its spread
    over seeds (sd, min, max), an item-bootstrap interval of the seed-averaged difference, and
    a sign-flip randomisation p-value (McNemar's test needs a single treated cell).
    """
    rows = _delta_rows(items, study or Study(), settings or AnalysisSettings(), seed_mean=True)
    return _sorted(pd.DataFrame(rows), SEED_MEAN_COLUMNS, "n_seeds")


@dataclass(frozen=True)
class Bands:
    """Weak and strong models by their base accuracy, and the rule that split them."""

    band: dict[str, str]
    base_accuracy: dict[str, float]
    rule: str

    def models(self, band: str) -> list[str]:
        return [m for m, b in self.band.items() if b == band]


def model_bands(scores: pd.DataFrame, study: Study, settings: AnalysisSettings) -> Bands:
    """Split models into weak and strong by mean base/direct log-likelihood accuracy over the
    target languages (sources excluded): at `band_threshold` if set (strong ≥ threshold), else
    at the median of the models (strong > median), so the split is stated, not chosen later.
    """
    base = scores[
        (scores["weights"] == "base")
        & (scores["prompting"] == "direct")
        & ~scores["lang"].isin(study.source_langs())
    ]
    accuracy = base.groupby("model", sort=False)["accuracy_loglik"].mean().to_dict()
    if settings.band_threshold is not None:
        cut = settings.band_threshold
        band = {m: "strong" if a >= cut else "weak" for m, a in accuracy.items()}
        rule = f"threshold: strong if mean base loglik accuracy over targets >= {cut:.3g}"
    else:
        cut = float(np.median(list(accuracy.values()))) if accuracy else math.nan
        band = {m: "strong" if a > cut else "weak" for m, a in accuracy.items()}
        rule = f"median split: strong if mean base loglik accuracy over targets > {cut:.3g}"
    return Bands(band, {m: float(a) for m, a in accuracy.items()}, rule)


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


def contrasts(index: ItemIndex, study: Study) -> list[Contrast]:
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
    study: Study,
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
    study: Study | None = None,
    settings: AnalysisSettings | None = None,
) -> pd.DataFrame:
    """The central test, per model, per baseline band and pooled, for every contrast and scale.

    Difference in differences (mean delta over Semitic targets − mean over controls, source
    languages excluded) with a question-id bootstrap interval and a language-label permutation
    p-value; for bands and the pool also an OLS of the cell deltas and an item-level logistic
    mixed model. A unit that cannot be tested gets a row whose note says why.
    """
    study, settings = study or Study(), settings or AnalysisSettings()
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


FT_VS_COT_COLUMNS = [
    "source",
    "scale",
    "level",
    "n",
    "pearson_r",
    "pearson_ci_low",
    "pearson_ci_high",
    "pearson_p",
    "spearman_rho",
    "spearman_ci_low",
    "spearman_ci_high",
    "spearman_p",
    "note",
    "predictions_files",
]


def ft_vs_cot_table(
    seed_means: pd.DataFrame, settings: AnalysisSettings | None = None
) -> pd.DataFrame:
    """Correlation of the fine-tuning gain (seed mean) with the CoT gain, over model × language
    cells (source languages excluded) and over models (their mean gains), with intervals that
    resample the cells or the models. Without cot cells the row says so and the numbers are NaN.
    """
    from xlt.stats import correlation

    settings = settings or AnalysisSettings()
    rows = []
    ft = seed_means[seed_means["source"].notna() & ~seed_means["is_source"].astype(bool)]
    for (source, scale), frame in ft.groupby(["source", "scale"], sort=True):
        paired = frame[frame["delta"].notna() & frame["cot_delta"].notna()]
        by_model = paired.groupby("model")[["delta", "cot_delta"]].mean()
        for level, points in (("cells", paired), ("models", by_model)):
            row = {"source": source, "scale": scale, "level": level}
            if paired.empty:
                rows.append({**row, "n": 0, "note": "needs cot cells (base/cot)"})
                continue
            rng = rng_for(settings.seed, "ft_vs_cot", source, scale, level)
            corr = correlation(
                points["delta"], points["cot_delta"], settings.n_bootstrap, rng, settings.ci_level
            )
            files = [*paired["base_file"], *paired["cot_file"]]
            files += [f for fs in paired["ft_files"] for f in str(fs).split(";")]
            rows.append(
                {
                    **row,
                    "n": corr.n,
                    "pearson_r": corr.pearson,
                    "pearson_ci_low": corr.pearson_low,
                    "pearson_ci_high": corr.pearson_high,
                    "pearson_p": corr.pearson_p,
                    "spearman_rho": corr.spearman,
                    "spearman_ci_low": corr.spearman_low,
                    "spearman_ci_high": corr.spearman_high,
                    "spearman_p": corr.spearman_p,
                    "note": ""
                    if math.isfinite(corr.pearson)
                    else f"needs >= 4 {level} with varying gains (have {corr.n})",
                    "predictions_files": ";".join(dict.fromkeys(files)),
                }
            )
    return pd.DataFrame(rows).reindex(columns=FT_VS_COT_COLUMNS)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV atomically, floats to 6 significant digits."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by `write_table` (item ids stay strings)."""
    return pd.read_csv(path, dtype={"id": str})


def find_cells(root: str | Path) -> list[tuple[str, str, str, str]]:
    """The cells (model, weights, prompting, lang) of a predictions tree under `root`.

    How the analysis finds the cells of a predictions tree made elsewhere; a tree with no such
    file, or the workflow's own results/predictions, is an error that says what to do.
    """
    root = Path(root)
    if root.resolve() == Path("results/predictions").resolve():
        raise DataError(
            "analysis.predictions_dir: results/predictions is where this workflow writes its own "
            "predictions; put a tree made elsewhere in another directory."
        )
    found = sorted(
        tuple(p.relative_to(root).with_suffix("").parts)
        for p in root.glob("*/*/*/*.jsonl")
        if not p.name.startswith(".")
    )
    if not found:
        raise DataError(
            f"analysis.predictions_dir: no <model>/<weights>/<prompting>/<lang>.jsonl files "
            f"under {root}."
        )
    check_codes([cell[3] for cell in found], where=f"analysis.predictions_dir ({root})")
    for model, weights, _, _ in found:
        if weights != "base" and not WEIGHTS_PATTERN.match(weights):
            raise DataError(
                f"{root / model / weights}: weights must be 'base' or ft-<source>-s<seed>."
            )
    return found
