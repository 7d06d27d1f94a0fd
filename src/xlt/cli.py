"""The `xlt` command.

- `xlt explain TABLE --row N` traces a table row back to what made it;
- `xlt import-lm-eval SAMPLES ...` converts an lm-evaluation-harness `--log_samples` file into
  a predictions file that the analysis rules can read.
"""

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


def row_paths(values: dict[str, Any]) -> Iterator[str]:
    """Files a table row names: columns ending in `_file`, and `;`-separated `_files` lists."""
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            continue
        if key.endswith("_file"):
            yield value
        elif key.endswith("_files"):
            yield from (p for p in value.split(";") if p)


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
    for path in row_paths(values):
        changed += explain_file(path, 1, seen, out)
    return changed


def import_lm_eval_command(args: argparse.Namespace) -> int:
    """`xlt import-lm-eval`: convert one lm-eval samples file, print where it went."""
    from xlt.analysis.importers import import_lm_eval
    from xlt.io import DataError

    try:
        path = import_lm_eval(
            args.samples,
            model=args.model,
            weights=args.weights,
            prompting=args.prompting,
            lang=args.lang,
            out=args.out,
            split=args.split,
            filter_name=args.filter,
        )
    except DataError as exc:
        print(f"xlt import-lm-eval: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xlt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    explain = sub.add_parser("explain", help="trace a table row or a file back to its inputs")
    explain.add_argument("path", help="a results file, e.g. results/tables/deltas.csv")
    explain.add_argument("--row", type=int, help="row number (0-based) of a CSV table")
    lm_eval = sub.add_parser(
        "import-lm-eval",
        help="convert lm-evaluation-harness --log_samples output (a Belebele task) to predictions",
    )
    lm_eval.add_argument("samples", help="samples_<task>_<date>.jsonl written by lm_eval")
    lm_eval.add_argument("--model", required=True, help="model name (a directory of the tree)")
    lm_eval.add_argument("--weights", required=True, help="base or ft-<source>-s<seed>")
    lm_eval.add_argument("--prompting", required=True, help="prompting condition, e.g. direct")
    lm_eval.add_argument("--lang", help="Belebele code; default: the samples' dialect")
    lm_eval.add_argument(
        "--out",
        required=True,
        help="predictions file (.jsonl), or the root of a predictions tree "
        "(then <out>/<model>/<weights>/<prompting>/<lang>.jsonl)",
    )
    lm_eval.add_argument(
        "--split", help="keep only the items of this Belebele-format JSONL (e.g. the test split)"
    )
    lm_eval.add_argument("--filter", help="lm-eval filter to use when samples have several")
    args = parser.parse_args(argv)
    if args.command == "import-lm-eval":
        return import_lm_eval_command(args)
    changed = explain_file(args.path) if args.row is None else explain_row(args.path, args.row)
    if changed:
        print(f"\n{changed} file(s) changed since they were recorded; rebuild with snakemake.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
