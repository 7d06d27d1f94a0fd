"""`xlt explain TABLE --row N`: the files behind a file or a table row (xlt.provenance.explain)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `xlt explain` on the `xlt` command's subparsers."""
    parser = subparsers.add_parser("explain", help="trace a table row or a file back to its inputs")
    parser.add_argument("path", help="a results file, e.g. results/tables/deltas.csv")
    parser.add_argument("--row", type=int, help="row number (0-based) of a CSV table")
    parser.add_argument("--json", action="store_true", help="print the chain as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the chain (text or JSON); 1 when a file in it changed since it was recorded."""
    from xlt.provenance.explain import explain
    from xlt.provenance.records import shown

    chain = explain(args.path, args.row)
    if args.json:
        print(json.dumps(chain.as_dict(), indent=2, default=str))
    else:
        print(chain.render())
    changed = chain.changed
    if changed and not args.json:
        print(
            f"\n{len(changed)} file(s) changed since they were recorded: "
            f"{', '.join(shown(p) for p in changed)}; rebuild with snakemake."
        )
    return 1 if changed else 0
