"""`xlt audit`: a whole results tree checked at once, against its provenance sidecars.

Every sidecar's output and input hashes (`<file>.prov.json`, see xlt.provenance.records), every
table row's files, every predictions file against its language's test split (item ids and gold
answers) and for impossible values, and files that nothing declares. `xlt explain`
(xlt.provenance.explain) traces one file or one table row instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlt.errors import DataError
from xlt.io import parse_jsonl_lines
from xlt.lock import LOCKS, current_lock_hashes
from xlt.provenance.records import SUFFIX, Hashes, Record, absolute, resolve, shown
from xlt.study import DATA, MODEL_DIR, PREDICTIONS, RAW_HUB_DATA, RESULTS, Cell, GridError

PREDICTIONS_DIR = PREDICTIONS.split("/{")[0].removeprefix(f"{RESULTS}/")
# Outputs that no sidecar records, by design: hub downloads, the weights directory beside each
# model marker, and the report that `snakemake --report results/report.html` writes.
UNRECORDED = (RAW_HUB_DATA, f"{MODEL_DIR}/**", f"{RESULTS}/report.html")
KINDS = {
    "stale": "outputs whose content, or an input's, differs from the hash their sidecar recorded",
    "missing": "outputs, inputs or table cells that are not there",
    "orphaned": "files under the tree that no sidecar or rule declares",
    "invalid": "predictions unlike their test split, impossible values, unreadable records",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a tree: its kind (a key of KINDS), the file, and what is wrong."""

    kind: str
    path: str
    detail: str

    def line(self) -> str:
        return f"{self.kind:<9} {shown(self.path)}: {self.detail}"


@dataclass
class Report:
    """What `audit` checked and what it found."""

    root: str
    files: int = 0
    sidecars: int = 0
    predictions: int = 0
    items: int = 0
    tables: int = 0
    rows: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    # Outputs whose sidecar names another lock than the checkout's (or none): a note, not a
    # problem: the output is what it was, made with other software than a rebuild would use.
    other_lock: list[tuple[str, str | None]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {kind: sum(p.kind == kind for p in self.problems) for kind in KINDS}

    def render(self, limit: int = 8) -> str:
        """The one-screen summary: what was checked, counts by kind, the first problems."""
        lines = [
            f"xlt audit {shown(self.root)}: {self.files:,} files checked in {self.seconds:.2f} s "
            f"({self.sidecars:,} sidecars, {self.predictions:,} predictions files with "
            f"{self.items:,} items, {self.tables:,} tables with {self.rows:,} rows)"
        ]
        counts = self.counts()
        lines += [f"  {kind:<9} {counts[kind]:>5}   {what}" for kind, what in KINDS.items()]
        lines += self.lock_note()
        if not self.problems:
            lines.append("Nothing is stale, missing, orphaned or invalid.")
            return "\n".join(lines)
        lines.append(
            f"{len(self.problems)} problem(s); the first {min(limit, len(self.problems))}:"
        )
        lines += ["  " + p.line() for p in self.problems[:limit]]
        lines.append("Rebuild with snakemake (stale, missing), or remove what should not be there.")
        return "\n".join(lines)

    def lock_note(self) -> list[str]:
        """One note on outputs made under another lock than the current one."""
        if not self.other_lock:
            return []
        path, sha = self.other_lock[0]
        made = f"lock sha256 {sha[:12]}" if sha else "no lock recorded"
        return [
            f"note: {len(self.other_lock):,} output(s) were made under another lock than the "
            f"current {' or '.join(LOCKS)} (first: {shown(path)}, {made}); they are not stale, "
            "but a rebuild would use other software (`snakemake --forcerun RULE` to remake them)"
        ]


def _walk(root: Path) -> list[str]:
    """Every file under `root`, hidden ones (shards, checkpoints, job files) left out, and the
    pilot's own runs (`<root>/pilot/`, xlt.pilot), which are not the study's."""
    found = []
    for directory, dirs, files in os.walk(root):
        top = os.path.samefile(directory, root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (top and d == "pilot"))
        found += [os.path.join(directory, f) for f in sorted(files) if not f.startswith(".")]
    return [absolute(f) for f in found]


def _in_root(root: Path, pattern: str) -> str:
    """A path pattern of xlt.study (under `results/`) as a regex of absolute paths under `root`."""
    relative = pattern.removeprefix(f"{RESULTS}/")
    parts = re.split(r"(\{[a-z_]+\}|\*\*)", relative)
    body = "".join(
        "[^/]+" if part.startswith("{") else ".+" if part == "**" else re.escape(part)
        for part in parts
    )
    return re.escape(absolute(root)) + "/" + body


def _test_split(root: Path, lang: str) -> tuple[dict[str, int], str] | None:
    """{item id: gold} of a language's test split under `root`, or None when it is not there."""
    from xlt.analysis.cells import read_test_splits

    path = root / DATA.removeprefix(f"{RESULTS}/").format(lang=lang, split="test")
    if not path.exists():
        return None
    return read_test_splits([path])[lang]


class _Audit:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.report = Report(absolute(root))
        self.hashes = Hashes()
        self.read: set[str] = set()
        self.splits: dict[str, tuple[dict[str, int], str] | None] = {}
        self.locks = set(current_lock_hashes().values())

    def problem(self, kind: str, path: str, detail: str) -> None:
        self.report.problems.append(Problem(kind, path, detail))

    def predictions(self, path: str) -> None:
        """A predictions file on its own and against its language's test split."""
        from xlt.analysis.cells import check_cell, compare_items

        self.report.predictions += 1
        data = Path(path).read_bytes()
        self.read.add(path)
        self.hashes.put(path, hashlib.sha256(data).hexdigest())
        try:
            cell = Cell.from_path(path)
            lines, records = _parse_jsonl(path, data)
            self.report.items += len(records)
            check_cell(cell, path, records, lines)
        except (GridError, DataError) as exc:
            self.problem("invalid", path, _detail(exc, path))
            return
        if cell.lang not in self.splits:
            self.splits[cell.lang] = _test_split(self.root, cell.lang)
        split = self.splits[cell.lang]
        if split is None:
            test = DATA.format(lang=cell.lang, split="test")
            self.problem("missing", path, f"no test split {test} to check it against")
            return
        problem = compare_items(records, lines, *split)
        if problem:
            self.problem("invalid", path, problem)

    def sidecar(self, side: str) -> Record | None:
        """One sidecar: its output as recorded, and every input as recorded."""
        self.report.sidecars += 1
        self.read.add(side)
        try:
            record = Record.read(side)
        except DataError as exc:
            self.problem("invalid", side, _detail(exc, side))
            return None
        current = self.hashes.get(record.output)
        if current is None:
            self.problem("missing", record.output, f"gone, but its sidecar remains ({record.rule})")
        elif current != record.output_sha256:
            self.problem(
                "stale", record.output, "changed since its sidecar was written (edited by hand?)"
            )
        recorded_lock = (record.raw.get("environment") or {}).get("lock") or {}
        if self.locks and recorded_lock.get("sha256") not in self.locks:
            self.report.other_lock.append((record.output, recorded_lock.get("sha256")))
        gone = [p for p, _ in record.inputs if self.hashes.get(p) is None]
        changed = [p for p, d in record.inputs if p not in gone and self.hashes.get(p) != d]
        for kind, paths, what in (("missing", gone, "is gone"), ("stale", changed, "changed")):
            if paths:
                more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
                self.problem(
                    kind,
                    record.output,
                    f"its input {shown(paths[0])}{more} {what} since it was made; rebuild it",
                )
        return record

    def table(self, path: str, base: Path) -> None:
        """Every file a table's rows name must be there."""
        import pandas as pd

        self.report.tables += 1
        self.read.add(path)
        try:
            frame = pd.read_csv(path, usecols=lambda c: c.endswith(("_file", "_files")), dtype=str)
        except (ValueError, pd.errors.ParserError) as exc:
            self.problem("invalid", path, f"not a readable CSV table ({exc})")
            return
        self.report.rows += len(frame)
        for column in frame.columns:
            for row, value in frame[column].dropna().drop_duplicates().items():
                for name in value.split(";") if column.endswith("_files") else [value]:
                    if name and self.hashes.get(resolve(name, base)) is None:
                        self.problem("missing", path, f"row {row} ({column}) names {name}: gone")


def _parse_jsonl(path: str, data: bytes) -> tuple[list[int], list[dict[str, Any]]]:
    """Line numbers and records of a predictions file already read (and hashed) as bytes."""
    parsed = list(parse_jsonl_lines(path, io.BytesIO(data)))
    return [number for number, _ in parsed], [record for _, record in parsed]


def _detail(exc: Exception, path: str) -> str:
    """An error message without the path it starts with (the problem line names it already)."""
    text = str(exc)
    for prefix in (path, shown(path)):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            line = re.match(r":(\d+): ", rest)  # "file:12: ..." -> "line 12: ..."
            return f"line {line[1]}: {rest[line.end() :]}" if line else rest.lstrip(": ")
    return text


def audit(root: str | Path = RESULTS) -> Report:
    """Check a results tree: sidecars (output and input hashes), table rows (their files),
    predictions (test split ids and gold, possible values) and orphaned files."""
    started = time.perf_counter()
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such directory; give the results directory to audit.")
    check = _Audit(root)
    files = _walk(root)
    for path in files:  # first: each predictions file is read once, hashed on the way
        if _is_predictions(root, path):
            check.predictions(path)
    declared: set[str] = set()
    declared_dirs: set[str] = set()
    bases: dict[str, Path] = {}
    for path in files:
        if path.endswith(SUFFIX):
            record = check.sidecar(path)
            declared.add(path)
            if record is not None:
                declared.add(record.output)
                bases[record.output] = record.base
                if os.path.isdir(record.output):
                    declared_dirs.add(record.output)
    for path in files:
        if path.endswith(".csv"):
            check.table(path, bases.get(path, Path.cwd()))
    known = re.compile("|".join(_in_root(root, pattern) for pattern in UNRECORDED))
    for path in files:
        if path in declared or known.fullmatch(path) or _under(path, declared_dirs, root):
            continue
        check.problem("orphaned", path, "no sidecar or rule declares it; remove it or rebuild it")
    report = check.report
    report.files = len(check.read | check.hashes.found())
    report.seconds = time.perf_counter() - started
    return report


def _is_predictions(root: Path, path: str) -> bool:
    parts = Path(os.path.relpath(path, root)).parts
    return len(parts) == 5 and parts[0] == PREDICTIONS_DIR and path.endswith(".jsonl")


def _under(path: str, directories: set[str], root: Path) -> bool:
    """Whether `path` lies inside one of `directories` (directory outputs, e.g. adapters)."""
    top = absolute(root)
    parent = os.path.dirname(path)
    while len(parent) > len(top):
        if parent in directories:
            return True
        parent = os.path.dirname(parent)
    return False
