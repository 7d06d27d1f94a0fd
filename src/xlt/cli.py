"""The `xlt` command: `xlt explain TABLE --row N` traces a table row back to what made it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xlt.provenance import read_provenance, sidecar_path, verify

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


def input_paths(record: dict[str, Any]) -> Iterator[str]:
    """Every input path named in a sidecar."""
    for value in record.get("inputs", {}).values():
        for entry in value if isinstance(value, list) else [value]:
            yield entry["path"]


def explain_file(path: str, depth: int = 0, seen: set[str] | None = None, out=None) -> int:
    """Print the provenance chain of one file; return how many files changed since recorded."""
    seen = set() if seen is None else seen
    out = out or sys.stdout
    pad = "  " * depth
    if path in seen:
        print(f"{pad}{path} (see above)", file=out)
        return 0
    seen.add(path)
    if not sidecar_path(path).exists():
        note = "source file" if Path(path).exists() else "MISSING"
        print(f"{pad}{path} ({note}, no sidecar)", file=out)
        return 0
    record = read_provenance(path)
    changed = verify(record)
    status = "CHANGED since recorded: " + ", ".join(changed) if changed else "hashes ok"
    print(f"{pad}{path}  [rule {record['rule']}, {status}]", file=out)
    for key in SHOWN_FACTS:
        if record.get(key) not in (None, {}, []):
            print(f"{pad}  {key}: {record[key]}", file=out)
    return len(changed) + sum(explain_file(p, depth + 1, seen, out) for p in input_paths(record))


def explain_row(table: str, row: int, out=None) -> int:
    """Print one row of a table and the chain behind every file it names."""
    import pandas as pd

    out = out or sys.stdout
    frame = pd.read_csv(table)
    if not 0 <= row < len(frame):
        raise SystemExit(f"{table} has rows 0..{len(frame) - 1}; --row {row} is out of range.")
    values = frame.iloc[row].to_dict()
    print(f"{table}, row {row}:", file=out)
    for key, value in values.items():
        print(f"  {key} = {value}", file=out)
    changed = explain_file(table, 0, out=out)
    seen: set[str] = {table}
    for key, value in values.items():
        if key.endswith("_file") and isinstance(value, str):
            changed += explain_file(value, 1, seen, out)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xlt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    explain = sub.add_parser("explain", help="trace a table row or a file back to its inputs")
    explain.add_argument("path", help="a results file, e.g. results/tables/deltas.csv")
    explain.add_argument("--row", type=int, help="row number (0-based) of a CSV table")
    args = parser.parse_args(argv)
    changed = explain_file(args.path) if args.row is None else explain_row(args.path, args.row)
    if changed:
        print(f"\n{changed} file(s) changed since they were recorded; rebuild with snakemake.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
