"""Numbers you can audit: `xlt explain` traces one file, or one row of a table, back to what
made it; `xlt audit` checks a whole results tree.

Both read the provenance sidecars (`<file>.prov.json`, see xlt.provenance): each names the rule
that made its output, the sha256 of the output and of every input, the parameters and the code.

- `explain` walks the chain of one file, each file once, checking every recorded hash. For a
  table row it follows only the files behind that row: the row names its cells' predictions
  (`*_file` columns, `;`-separated `*_files` columns), and a table's own sidecar lists every
  cell's file, so inputs of a table that the row does not name are left out (counted, not
  checked) and a change in another row's input is never reported as a change of this row.
- `audit` checks everything under a results directory at once: every sidecar's output and input
  hashes, every table row's files, every predictions file against its language's test split
  (item ids and gold answers) and for impossible values, and files that nothing declares.

Recorded paths are relative to the directory the job ran in (the workflow directory); they are
resolved against the directory where the sidecar's own output path lands on its file, so a tree
that was moved or copied is still checked against itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlt.errors import DataError
from xlt.io import parse_jsonl_lines, read_json, sha256_path
from xlt.lock import LOCKS, current_lock_hashes
from xlt.provenance import SUFFIX, recorded_path, sidecar_path
from xlt.study import DATA, MODEL_DIR, PREDICTIONS, RAW_HUB_DATA, RESULTS, Cell, GridError

SHOWN_FACTS = (
    "cell",
    "model",
    "adapter_sha256",
    "data_sha256",
    "template_id",
    "decoding",
    "seed",
    "params",
    "code",
    "started",
    "finished",
)
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


# --- paths and hashes ----------------------------------------------------------------------


def absolute(path: str | Path) -> str:
    """A normalised absolute path (`~` expanded): the identity of a file in a chain or an audit."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(str(path))))


def shown(path: str) -> str:
    """A path as printed: relative to the working directory when under it, else with `~`."""
    return recorded_path(path)


def job_dir(sidecar: Path, output: str) -> Path:
    """The directory a job ran in: where the sidecar's recorded output path resolves to the file
    beside the sidecar (the working directory when the path is absolute or does not fit)."""
    recorded = Path(output)
    if recorded.is_absolute() or output.startswith("~"):
        return Path.cwd()
    actual = Path(absolute(str(sidecar)[: -len(SUFFIX)]))
    parts = recorded.parts
    if len(actual.parts) > len(parts) and actual.parts[-len(parts) :] == parts:
        return Path(*actual.parts[: -len(parts)])
    return Path.cwd()


def resolve(recorded: str, base: Path) -> str:
    """The absolute path of a recorded path, relative ones taken from `base`."""
    path = Path(os.path.expanduser(recorded))
    return absolute(path if path.is_absolute() else base / path)


class Hashes:
    """The sha256 of files and directories, each computed once (None: not there)."""

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}

    def get(self, path: str) -> str | None:
        if path not in self._known:
            self._known[path] = sha256_path(path) if os.path.exists(path) else None
        return self._known[path]

    def put(self, path: str, digest: str) -> None:
        """Record the hash of a file read for another reason (so it is not read again)."""
        self._known[path] = digest

    def found(self) -> set[str]:
        """The paths hashed so far that were there."""
        return {path for path, digest in self._known.items() if digest is not None}


@dataclass(frozen=True)
class Record:
    """One sidecar with its paths resolved: output, rule, inputs and their recorded hashes."""

    sidecar: str
    output: str
    output_sha256: str
    rule: str
    inputs: tuple[tuple[str, str], ...]
    raw: Mapping[str, Any]

    @classmethod
    def read(cls, sidecar: str | Path) -> Record:
        """Read a sidecar; one that is not a provenance record raises DataError."""
        raw = read_json(sidecar)
        try:
            base = job_dir(Path(sidecar), raw["output"]["path"])
            entries = []
            for value in raw.get("inputs", {}).values():
                entries.extend(value if isinstance(value, list) else [value])
            return cls(
                sidecar=absolute(sidecar),
                output=resolve(raw["output"]["path"], base),
                output_sha256=raw["output"]["sha256"],
                rule=str(raw.get("rule")),
                inputs=tuple((resolve(e["path"], base), e["sha256"]) for e in entries),
                raw=raw,
            )
        except (KeyError, TypeError) as exc:
            raise DataError(
                f"{sidecar}: not a provenance record (no {exc}); rebuild its output."
            ) from None

    @property
    def base(self) -> Path:
        return job_dir(Path(self.sidecar), self.raw["output"]["path"])


def _is_table(path: str) -> bool:
    return path.endswith(".csv") and sidecar_path(path).exists()


def row_paths(values: Mapping[str, Any]) -> Iterator[str]:
    """Files a table row names: columns ending in `_file`, and `;`-separated `_files` lists."""
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            continue
        if key.endswith("_file"):
            yield value
        elif key.endswith("_files"):
            yield from (p for p in value.split(";") if p)


# --- explain -------------------------------------------------------------------------------


@dataclass
class Node:
    """One file of a chain: the rule that made it, what changed since, what it was made from."""

    path: str
    depth: int
    rule: str | None = None
    state: str = "ok"  # ok | changed | source (no sidecar) | missing
    changed: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    not_followed: int = 0
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": shown(self.path),
            "depth": self.depth,
            "rule": self.rule,
            "state": self.state,
            "changed": [shown(p) for p in self.changed],
            "inputs": [shown(p) for p in self.inputs],
            "inputs_of_other_rows": self.not_followed,
            "facts": self.facts,
        }

    def header(self) -> str:
        if self.state == "source":
            return f"{shown(self.path)}  [source file, no sidecar]"
        if self.state == "missing" and self.rule is None:
            return f"{shown(self.path)}  [MISSING, no sidecar]"
        status = (
            "CHANGED since recorded: " + ", ".join(shown(p) for p in self.changed)
            if self.changed
            else "hashes ok"
        )
        other = (
            f"; {self.not_followed} input(s) behind other rows not followed"
            if self.not_followed
            else ""
        )
        return f"{shown(self.path)}  [rule {self.rule}, {status}{other}]"


@dataclass
class Chain:
    """The files behind one file or one table row, each once, in the order they were reached."""

    target: str
    row: int | None
    values: dict[str, Any] | None
    nodes: list[Node]

    @property
    def changed(self) -> list[str]:
        """Every file that changed since it was recorded (or is gone), each once."""
        return list(dict.fromkeys(p for node in self.nodes for p in node.changed))

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": shown(self.target),
            "row": self.row,
            "values": self.values,
            "files": [node.as_dict() for node in self.nodes],
            "changed": [shown(p) for p in self.changed],
        }

    def render(self) -> str:
        lines = []
        if self.row is not None:
            lines.append(f"{shown(self.target)}, row {self.row}:")
            lines += [f"  {key} = {value}" for key, value in (self.values or {}).items()]
        code = self.nodes[0].facts.get("code") if self.nodes else None
        for node in self.nodes:
            pad = "  " * node.depth
            lines.append(pad + node.header())
            facts = dict(node.facts)
            if node is not self.nodes[0] and facts.get("code") == code:
                del facts["code"]  # the same code as the first file: said once
            if "started" in facts or "finished" in facts:
                facts["ran"] = f"{facts.pop('started', None)} -> {facts.pop('finished', None)}"
            lines += [f"{pad}  {key}: {value}" for key, value in facts.items()]
        return "\n".join(lines)


class _Walker:
    """Depth-first through the sidecars; `restrict` (a row's files) applies to tables only."""

    def __init__(self) -> None:
        self.hashes = Hashes()
        self.nodes: list[Node] = []
        self.seen: set[str] = set()

    def visit(self, path: str, depth: int, restrict: set[str] | None = None) -> None:
        if path in self.seen:
            return
        self.seen.add(path)
        node = Node(path, depth)
        self.nodes.append(node)
        side = sidecar_path(path)
        if not side.exists():
            node.state = "source" if os.path.exists(path) else "missing"
            if node.state == "missing":
                node.changed.append(path)
            return
        record = Record.read(side)
        node.rule = record.rule
        node.facts = {
            k: record.raw[k] for k in SHOWN_FACTS if record.raw.get(k) not in (None, {}, [])
        }
        if self.hashes.get(path) != record.output_sha256:
            node.changed.append(path)
        for source, digest in record.inputs:
            if restrict is not None and source not in restrict and not _is_table(source):
                node.not_followed += 1
            elif source not in node.inputs:
                node.inputs.append(source)
                if self.hashes.get(source) != digest:
                    node.changed.append(source)
        node.state = "changed" if node.changed else "ok"
        for source in node.inputs:
            self.visit(source, depth + 1, restrict if _is_table(source) else None)


def _plain(value: Any) -> Any:
    """A table cell as JSON can hold it: numpy scalars as Python, NaN as None."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def table_row(table: str | Path, row: int) -> dict[str, Any]:
    """Row `row` (0-based) of a CSV table, as plain values."""
    import pandas as pd

    frame = pd.read_csv(table)
    if not 0 <= row < len(frame):
        raise DataError(f"{table} has rows 0..{len(frame) - 1}; --row {row} is out of range.")
    return {key: _plain(value) for key, value in frame.iloc[row].to_dict().items()}


def explain(path: str | Path, row: int | None = None) -> Chain:
    """The chain behind a file, or behind one row of a CSV table (only the row's own files)."""
    target = absolute(path)
    walker = _Walker()
    if row is None:
        walker.visit(target, 0)
        return Chain(target, None, None, walker.nodes)
    values = table_row(path, row)
    side = sidecar_path(target)
    base = Record.read(side).base if side.exists() else Path.cwd()
    files = list(dict.fromkeys(resolve(p, base) for p in row_paths(values)))
    walker.visit(target, 0, restrict=set(files))
    for file in files:  # files the table's sidecar does not reach, if any
        walker.visit(file, 1)
    return Chain(target, row, values, walker.nodes)


# --- audit ---------------------------------------------------------------------------------


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


# --- commands ------------------------------------------------------------------------------


def explain_command(path: str, row: int | None, as_json: bool, out: Any = None) -> int:
    """`xlt explain`: print the chain (text or JSON); 1 when a file in it changed."""
    import sys

    out = out or sys.stdout
    chain = explain(path, row)
    if as_json:
        print(json.dumps(chain.as_dict(), indent=2, default=str), file=out)
    else:
        print(chain.render(), file=out)
    changed = chain.changed
    if changed and not as_json:
        print(
            f"\n{len(changed)} file(s) changed since they were recorded: "
            f"{', '.join(shown(p) for p in changed)}; rebuild with snakemake.",
            file=out,
        )
    return 1 if changed else 0


def audit_command(root: str, out: Any = None) -> int:
    """`xlt audit`: print the one-screen summary; 1 when anything is wrong."""
    import sys

    report = audit(root)
    print(report.render(), file=out or sys.stdout)
    return 1 if report.problems else 0
