"""`xlt crate results/ OUT`: a results tree's provenance as a Workflow Run RO-Crate
(xlt.provenance.crate)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `xlt crate` on the `xlt` command's subparsers."""
    parser = subparsers.add_parser("crate", help="export provenance as a Workflow Run RO-Crate")
    parser.add_argument("root", help="results directory, e.g. results/")
    parser.add_argument("out", help="directory to write the crate into")
    parser.add_argument(
        "--snakefile", default="Snakefile", help="the workflow (default: Snakefile)"
    )
    parser.add_argument("--no-data", action="store_true", help="describe files without copying")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the crate and print where it went."""
    from xlt.provenance.crate import write_crate

    print(write_crate(args.root, args.out, snakefile=args.snakefile, copy_data=not args.no_data))
    return 0
