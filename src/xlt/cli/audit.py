"""`xlt audit [results/]`: check a whole results tree (xlt.provenance.audit)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `xlt audit` on the `xlt` command's subparsers."""
    parser = subparsers.add_parser(
        "audit", help="check every sidecar, table row and predictions file"
    )
    parser.add_argument("root", nargs="?", default="results", help="results directory")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the one-screen summary; 1 when anything is wrong."""
    from xlt.provenance.audit import audit

    report = audit(args.root)
    print(report.render())
    return 1 if report.problems else 0
