"""Belebele items: load (hub, JSONL, Parquet), validate, split by passage, write per language.

Belebele is parallel: item `link#question_number` is the same question in every language. The
split is therefore made once, by passage, and applied identically to every language, so that no
passage seen in fine-tuning (in any language) comes back translated in a test set.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xlt.io import DataError, iter_jsonl, read_json, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)

TEXT_FIELDS = ("flores_passage", "question", "mc_answer1", "mc_answer2", "mc_answer3", "mc_answer4")
REQUIRED_FIELDS = ("link", "question_number", *TEXT_FIELDS, "correct_answer_num")
N_OPTIONS = 4


def item_id(row: dict[str, Any]) -> str:
    """The parallel id of an item: `<link>#<question_number>`, the same in every language."""
    return f"{row['link']}#{row['question_number']}"


def validate_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    """Check one Belebele row and return it normalised; `where` ("file:line") goes in errors.

    `question_number` becomes an int and `correct_answer_num` the string "1".."4", as on the hub.
    """
    missing = [f for f in REQUIRED_FIELDS if f not in row or row[f] is None]
    if missing:
        raise DataError(
            f"{where}: missing field(s) {', '.join(missing)}; a Belebele row needs "
            f"{', '.join(REQUIRED_FIELDS)}."
        )
    for field in ("link", *TEXT_FIELDS):
        if not isinstance(row[field], str) or not row[field].strip():
            raise DataError(f"{where}: field '{field}' must be a non-empty string.")
    try:
        qnum = int(row["question_number"])
    except (TypeError, ValueError):
        raise DataError(
            f"{where}: question_number must be an integer, got {row['question_number']!r}."
        ) from None
    gold = str(row["correct_answer_num"]).strip()
    if gold not in {str(i) for i in range(1, N_OPTIONS + 1)}:
        raise DataError(
            f"{where}: correct_answer_num must be one of '1'..'4', "
            f"got {row['correct_answer_num']!r}."
        )
    return {**row, "question_number": qnum, "correct_answer_num": gold}


def _check_unique(rows: Sequence[dict[str, Any]], source: str) -> None:
    seen: dict[str, int] = {}
    for index, row in enumerate(rows, start=1):
        key = item_id(row)
        if key in seen:
            raise DataError(
                f"{source}: item {key} appears twice (rows {seen[key]} and {index}); "
                "each link#question_number must be unique."
            )
        seen[key] = index


def read_belebele(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate Belebele rows from a local `.jsonl` or `.parquet` file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: data file not found; check `data.local_pattern` in the config "
            "or use `data.source: hub`."
        )
    if path.suffix == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        records = frame.to_dict(orient="records")
        rows = [validate_row(r, f"{path}: row {i}") for i, r in enumerate(records, start=1)]
    else:
        rows = [validate_row(r, f"{path}:{line}") for line, r in iter_jsonl(path)]
    if not rows:
        raise DataError(f"{path}: no items.")
    _check_unique(rows, str(path))
    return rows


def check_data_files(paths: Iterable[str | Path]) -> None:
    """Read and check every existing file (a DataError names the first bad line); files not
    there yet (hub downloads to come) are left to the jobs that make them."""
    for path in paths:
        if Path(path).exists():
            read_belebele(path)


def load_belebele_hub(code: str, revision: str | None, dataset: str) -> list[dict[str, Any]]:
    """Load one language of Belebele from the Hugging Face hub (`datasets.load_dataset`):
    `dataset` at `revision` (None: the latest)."""
    from datasets import load_dataset

    try:
        split = load_dataset(dataset, code, split="test", revision=revision)
    except (ConnectionError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{dataset} ({code}, revision {revision or 'main'}): cannot load it from the Hugging "
            f"Face hub ({reason}). Run where the hub is reachable (downloads are local rules), "
            "or use local files: data.source: local with data.local_pattern."
        ) from None
    rows = [validate_row(dict(r), f"{dataset}/{code} row {i}") for i, r in enumerate(split, 1)]
    _check_unique(rows, f"{dataset}/{code}")
    return rows


GOLD_MISMATCH_MODES = ("error", "warn")


def gold_mismatches(
    rows: Sequence[dict[str, Any]],
    reference_rows: Sequence[dict[str, Any]],
    *,
    path: str | Path,
    reference: str,
    reference_path: str | Path,
) -> list[str]:
    """One line per item whose gold answer differs from the reference language's for the same
    id (Belebele is parallel: the same question has the same answer in every language), naming
    both files, the lines and both values. Rows are numbered from 1, as the lines of a JSONL
    file with one row a line (the checked copies, `results/data/{lang}/items.jsonl`)."""
    expected = {
        item_id(row): (i, row["correct_answer_num"]) for i, row in enumerate(reference_rows, 1)
    }
    found = []
    for i, row in enumerate(rows, start=1):
        key = item_id(row)
        if key in expected and row["correct_answer_num"] != expected[key][1]:
            ref_row, ref_gold = expected[key]
            found.append(
                f"{path}:{i}: item {key} has gold {row['correct_answer_num']} but the "
                f"reference {reference} has {ref_gold} ({reference_path}:{ref_row})"
            )
    return found


def check_gold(
    rows: Sequence[dict[str, Any]],
    reference_rows: Sequence[dict[str, Any]],
    *,
    path: str | Path,
    reference: str,
    reference_path: str | Path,
    mode: str,
) -> list[str]:
    """Refuse (mode "error") or warn about (mode "warn") gold answers that differ from the
    reference language's; return the mismatches (empty when there are none)."""
    if mode not in GOLD_MISMATCH_MODES:
        raise DataError(f"data.gold_mismatch must be one of {GOLD_MISMATCH_MODES}, not {mode!r}.")
    found = gold_mismatches(
        rows, reference_rows, path=path, reference=reference, reference_path=reference_path
    )
    if found and mode == "error":
        raise DataError(
            f"{found[0]} ({len(found)} item(s) differ); fix the data, or set "
            "`data.gold_mismatch: warn` to keep each language's own answers."
        )
    for line in found:
        log.warning("%s; kept (data.gold_mismatch: warn).", line)
    return found


@dataclass(frozen=True)
class Split:
    """The held-out passages and items, shared by every language."""

    seed: int
    n_test: int
    reference: str
    test_ids: tuple[str, ...]
    test_links: tuple[str, ...]

    def save(self, path: str | Path) -> None:
        """Write the split as JSON (atomically)."""
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> Split:
        """Read a split written by `save`."""
        raw = read_json(path)
        return cls(
            seed=raw["seed"],
            n_test=raw["n_test"],
            reference=raw["reference"],
            test_ids=tuple(raw["test_ids"]),
            test_links=tuple(raw["test_links"]),
        )


def make_split(rows: Sequence[dict[str, Any]], n_test: int, seed: int, reference: str) -> Split:
    """Hold out whole passages, in a seeded random order, until `n_test` questions are held out.

    Passages are visited in a shuffled order and taken while they fit, so the test set has
    exactly `n_test` questions whenever passage sizes allow it, and never more.
    """
    by_link: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_link[row["link"]].append(item_id(row))
    total = sum(len(ids) for ids in by_link.values())
    if not 0 < n_test < total:
        raise DataError(
            f"data.n_test = {n_test}, but the reference language {reference} has {total} "
            "items: hold out at least one and leave some for fine-tuning."
        )
    links = sorted(by_link)
    random.Random(seed).shuffle(links)
    chosen: list[str] = []
    count = 0
    for link in links:
        size = len(by_link[link])
        if count + size <= n_test:
            chosen.append(link)
            count += size
        if count == n_test:
            break
    test_ids = sorted(i for link in chosen for i in by_link[link])
    return Split(seed, n_test, reference, tuple(test_ids), tuple(sorted(chosen)))


def split_language(
    rows: Iterable[dict[str, Any]], split: Split, lang: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply the shared split to one language: (train rows, test rows), each with `id` and `lang`.

    Every held-out id must exist in the language (Belebele is parallel); train rows are those
    whose passage is not held out, so no held-out passage can leak into fine-tuning.
    """
    test_ids = set(split.test_ids)
    test_links = set(split.test_links)
    train, test = [], []
    for row in rows:
        record = {"id": item_id(row), "lang": lang, **row}
        if record["id"] in test_ids:
            test.append(record)
        elif row["link"] not in test_links:
            train.append(record)
    missing = test_ids - {r["id"] for r in test}
    if missing:
        raise DataError(
            f"{lang}: {len(missing)} held-out item(s) are missing from this language, e.g. "
            f"{sorted(missing)[:3]}; the data must be parallel to the reference {split.reference}."
        )
    test.sort(key=lambda r: r["id"])
    assert_no_leak(train, split)
    return train, test


def assert_no_leak(train_rows: Iterable[dict[str, Any]], split: Split) -> None:
    """Raise if any training row is a held-out item or comes from a held-out passage."""
    test_ids, test_links = set(split.test_ids), set(split.test_links)
    for row in train_rows:
        if item_id(row) in test_ids or row["link"] in test_links:
            raise DataError(
                f"held-out item {item_id(row)} ({row.get('lang', '?')}) reached the training "
                "data; rebuild results/data with the current split."
            )


def write_language(
    rows: Sequence[dict[str, Any]],
    split: Split,
    lang: str,
    train_path: str | Path,
    test_path: str | Path,
) -> tuple[int, int]:
    """Split one language and write its train and test JSONL files; return their sizes."""
    train, test = split_language(rows, split, lang)
    write_jsonl(train_path, train)
    write_jsonl(test_path, test)
    return len(train), len(test)


def read_items(path: str | Path) -> list[dict[str, Any]]:
    """Read a prepared `results/data/{lang}/{split}.jsonl` file; a line that cannot be read
    names the file as damaged and how to make it again (the workflow wrote it)."""
    try:
        return read_jsonl(path)
    except DataError as exc:
        where = str(exc).split("; fix or remove that line")[0].removesuffix(".")
        raise DataError(
            f"{where}: the workflow wrote this file whole, so it is damaged; make it again "
            f"with `snakemake --cores 1 --forcerun {path} -- {path}`."
        ) from None
