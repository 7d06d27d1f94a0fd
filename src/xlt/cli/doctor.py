"""`xlt doctor [WORKDIR]`: what an interrupted run left behind and what to run (xlt.doctor)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `xlt doctor` on the `xlt` command's subparsers."""
    parser = subparsers.add_parser("doctor", help="what an interrupted run left and what to run")
    parser.add_argument("workdir", nargs="?", default=".", help="the workflow's directory")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the findings; 1 if one blocks the next run."""
    from xlt.doctor import diagnose, environment_line, report

    findings = diagnose(args.workdir)
    print(environment_line())
    print(report(findings))
    return 1 if any(f.blocking for f in findings) else 0
