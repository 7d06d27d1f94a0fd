"""`xlt explain`: the files behind one file, or behind one row of a table, each hash checked.

It reads the provenance sidecars (`<file>.prov.json`, see xlt.provenance.records): each names
the rule that made its output, the sha256 of the output and of every input, the parameters and
the code. The chain of one file is walked depth-first, each file once, checking every recorded
hash. For a table row it follows only the files behind that row: the row names its cells'
predictions (`*_file` columns, `;`-separated `*_files` columns), and a table's own sidecar lists
every cell's file, so inputs of a table that the row does not name are left out (counted, not
checked) and a change in another row's input is never reported as a change of this row.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlt.errors import DataError
from xlt.provenance.records import Hashes, Record, absolute, resolve, shown, sidecar_path

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
