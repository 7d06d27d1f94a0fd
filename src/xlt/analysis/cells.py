"""The analysis reads predictions files, and nothing else: one per cell, read once per job.

`load_cells` reads and checks every cell's file; `scores_table` gives one row of metrics per
cell and `items_table` one row per item of every cell (the long table that the paired deltas
and the transfer tests start from, and that any outside analysis can start from too).

No silent wrong result: a file whose records name another cell, hold impossible values (an
option outside the labels), or whose items or gold answers differ from its language's test
split (or, for a tree made elsewhere with no split at hand, from the other cells of its
language) is refused with a `DataError` naming the file and the first differing item.

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
from xlt.io import DataError, iter_jsonl, read_jsonl
from xlt.languages import language
from xlt.study import DATA, Cell, GridError, StudyFacts, Weights

SCALES = ("loglik", "gen")
N_OPTIONS = 4  # Belebele; a record with `labels` has len(labels) options
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


def load_cells(
    paths: Iterable[str | Path], tests: Iterable[str | Path] | None = None
) -> list[CellRecords]:
    """Read every predictions file once; its path names the cell, its records must agree.

    `tests` are the test split files (`results/data/{lang}/test.jsonl`): every cell must hold
    exactly its language's test items, with their gold answers. Without them (None or empty: a
    predictions tree made elsewhere), the cells of a language must agree with each other.
    """
    splits = read_test_splits(tests) if tests else None
    # Without splits, the first cell of each language is what the others must agree with.
    agreed: dict[str, tuple[dict[str, int], str]] = {}
    loaded = []
    for path in paths:
        try:
            cell = Cell.from_path(path)
        except GridError as exc:
            raise DataError(str(exc)) from None
        lines, records = _read_lines(path)
        check_cell(cell, str(path), records, lines)
        if splits is not None and cell.lang not in splits:
            raise DataError(
                f"{path}: no test split of {cell.lang} among the tests given ("
                f"{', '.join(sorted(splits))}); add {DATA.format(lang=cell.lang, split='test')} "
                "to the rule's inputs."
            )
        if splits is not None:
            expected, source = splits[cell.lang]
        else:
            expected, source = agreed.setdefault(
                cell.lang, ({r["id"]: r["gold"] for r in records}, str(path))
            )
        problem = compare_items(records, lines, expected, source)
        if problem:
            raise DataError(f"{path}: {problem}")
        loaded.append(CellRecords(cell, str(path), records))
    return loaded


def _read_lines(path: str | Path) -> tuple[list[int], list[dict[str, Any]]]:
    found = list(iter_jsonl(path))
    return [line for line, _ in found], [record for _, record in found]


def check_cell(
    cell: Cell, path: str, records: Sequence[dict[str, Any]], lines: Sequence[int]
) -> None:
    """What a predictions file must be on its own: records of its cell, possible values."""
    _check_records(cell, path, list(records))
    check_values(path, records, lines)


def read_test_splits(paths: Iterable[str | Path]) -> dict[str, tuple[dict[str, int], str]]:
    """Each test split file's language -> ({item id: gold option}, file), from its records."""
    splits: dict[str, tuple[dict[str, int], str]] = {}
    for path in paths:
        rows = read_jsonl(path)
        langs = {row.get("lang") for row in rows}
        if not rows or len(langs) != 1 or None in langs:
            raise DataError(
                f"{path}: a test split needs items of one language (found {sorted(map(str, langs))}"
                "); rebuild it with snakemake."
            )
        splits[langs.pop()] = ({r["id"]: int(r["correct_answer_num"]) for r in rows}, str(path))
    return splits


def compare_items(
    records: Sequence[dict[str, Any]],
    lines: Sequence[int],
    expected: dict[str, int],
    source: str,
) -> str | None:
    """The first way a cell's items differ from `expected` ({id: gold} of `source`), or None.

    Checked in order: a repeated item, an item of `source` that is missing, an item that is not
    in `source`, a gold answer that differs.
    """
    seen: dict[str, int] = {}
    for line, record in zip(lines, records, strict=True):
        item = record.get("id")
        if item in seen:
            return f"line {line}: item {item} appears twice (first on line {seen[item]})."
        seen[item] = line
    missing = [item for item in expected if item not in seen]
    if missing:
        return (
            f"item {missing[0]} of {source} is missing ({len(missing)} of {len(expected)} "
            "missing); evaluate the cell again or restore the file."
        )
    for line, record in zip(lines, records, strict=True):
        item = record["id"]
        if item not in expected:
            return f"line {line}: item {item} is not in {source}; remove it or restore the file."
        if record.get("gold") != expected[item]:
            return (
                f"line {line}: item {item} has gold {record.get('gold')!r} but {source} says "
                f"{expected[item]}; the file was edited or made from other data."
            )
    return None


def _is_option(value: Any, n: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= n


def check_values(path: str, records: Sequence[dict[str, Any]], lines: Sequence[int]) -> None:
    """Refuse impossible values: a gold or predicted option outside 1..len(labels), or
    log-likelihoods that are not one number per label."""
    for line, record in zip(lines, records, strict=True):
        where = f"{path}:{line}: item {record.get('id')}"
        if not isinstance(record.get("id"), str) or not record["id"]:
            raise DataError(f"{path}:{line}: no item id; every record needs its `id`.")
        labels = record.get("labels")
        n = len(labels) if isinstance(labels, list) and labels else N_OPTIONS
        for key, required in (("gold", True), ("pred_loglik", False), ("pred_gen", False)):
            value = record.get(key)
            if (value is not None or required) and not _is_option(value, n):
                raise DataError(
                    f"{where}: {key} = {value!r} is not an option (1..{n}); the file was "
                    "edited by hand or is broken: evaluate the cell again."
                )
        scores = record.get("option_logprobs")
        if scores is not None and (
            not isinstance(scores, list)
            or len(scores) != n
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in scores)
        ):
            raise DataError(
                f"{where}: option_logprobs must be {n} numbers, one per label, got {scores!r}."
            )


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


def scores_table(
    cells: Sequence[CellRecords], study: StudyFacts | None = None, level: float = 0.95
) -> pd.DataFrame:
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
                **cell_metrics(loaded.records, level),
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
        # adapters_by_source per model: asked for every unit and language, fixed once built
        self.adapters: dict[str | None, dict[str, list[str]]] = {}
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
    if model not in index.adapters:
        index.adapters[model] = _adapters_by_source(index, model)
    return {source: list(names) for source, names in index.adapters[model].items()}


def _adapters_by_source(index: ItemIndex, model: str | None) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}
    for m, weights, prompting, _ in index.cells():
        parsed = Weights.parse(weights)
        if not parsed.is_base and prompting == "direct" and model in (None, m):
            found.setdefault(parsed.source, set()).add(weights)
    return {
        source: sorted(names, key=lambda name: Weights.parse(name).seed)
        for source, names in sorted(found.items())
    }
