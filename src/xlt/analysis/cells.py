"""The analysis reads predictions files, and nothing else: one per cell, read once per job.

`load_cells` reads and checks every cell's file; `scores_table` gives one row of metrics per
cell and `items_table` one row per item of every cell (the long table that the paired deltas
and the transfer tests start from, and that any outside analysis can start from too).

A scale is `loglik` (format-free: the most likely label) for every cell, and `gen` (the answer
extracted from the generation) for cells where anything was generated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xlt.analysis.metrics import cell_metrics, correct_generation, correct_loglik
from xlt.io import DataError, read_jsonl
from xlt.languages import language
from xlt.study import Cell, GridError, StudyFacts, Weights

SCALES = ("loglik", "gen")
CELL_KEYS = ("model", "weights", "prompting", "lang")
LANGUAGE_COLUMNS = ("language", "family", "genus", "script", "group")


@dataclass(frozen=True)
class CellRecords:
    """One evaluated cell: where its predictions file is, and its records."""

    cell: Cell
    path: str
    records: list[dict[str, Any]]

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.cell.key


def load_cells(paths: Iterable[str | Path]) -> list[CellRecords]:
    """Read every predictions file once; its path names the cell, its records must agree."""
    loaded = []
    for path in paths:
        try:
            cell = Cell.from_path(path)
        except GridError as exc:
            raise DataError(str(exc)) from None
        records = read_jsonl(path)
        _check_records(cell, str(path), records)
        loaded.append(CellRecords(cell, str(path), records))
    return loaded


def _check_records(cell: Cell, path: str, records: list[dict[str, Any]]) -> None:
    """A file whose records name another cell than its path was misplaced: stop, say where."""
    if not records:
        raise DataError(f"{path}: no predictions.")
    for key, expected in zip(CELL_KEYS, cell.key, strict=True):
        found = {r.get(key, expected) for r in records}
        if found != {expected}:
            raise DataError(
                f"{path}: records say {key} = {sorted(map(str, found))} but the path "
                f"says '{expected}'; move the file or fix the records."
            )


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
    parsed = Weights.parse(weights)
    return {"source": parsed.source, "seed": parsed.seed}


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
    "predictions_file",
]


def scores_table(cells: Sequence[CellRecords], study: StudyFacts | None = None) -> pd.DataFrame:
    """One row per cell: its metrics, the model's size and architecture, the language's family,
    genus and script, and the predictions file they were computed from.
    """
    study = study or StudyFacts()
    sources = study.source_langs()
    rows = []
    for loaded in cells:
        cell = loaded.cell
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
                **cell_metrics(loaded.records),
                "predictions_file": loaded.path,
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


def items_table(cells: Sequence[CellRecords]) -> pd.DataFrame:
    """One row per item of every cell: correctness on each scale (gen empty if not generated)."""
    frames = []
    for loaded in cells:
        records = loaded.records
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
            raise DataError(f"{loaded.path}: item id {dup!r} appears more than once.")
        for key, value in zip(CELL_KEYS, loaded.key, strict=True):
            frame[key] = value
        frame["predictions_file"] = loaded.path
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
        parsed = Weights.parse(weights)
        if not parsed.is_base and prompting == "direct" and model in (None, m):
            found.setdefault(parsed.source, set()).add(weights)
    return {
        source: sorted(names, key=lambda name: Weights.parse(name).seed)
        for source, names in sorted(found.items())
    }
