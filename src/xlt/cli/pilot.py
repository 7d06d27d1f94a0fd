"""`xlt pilot CONFIG [-- SNAKEMAKE ARGS]`: every model's real path, briefly (xlt.pilot)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xlt.pilot import ITEMS, PILOT_DIR, STEPS, run_pilot


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `xlt pilot` on the `xlt` command's subparsers."""
    parser = subparsers.add_parser(
        "pilot",
        help="run every model's real path for a few steps and items (results/pilot/); "
        "Snakemake's arguments after --, e.g. -- --profile slurm (default: --cores 2)",
    )
    parser.add_argument("config", help="a study config, e.g. config/paper.yaml")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps ({STEPS})")
    parser.add_argument("--items", type=int, default=ITEMS, help=f"items a cell ({ITEMS})")
    parser.add_argument("--model", action="append", help="only this model (repeatable)")
    parser.add_argument("--out", default=PILOT_DIR, help=f"where results go ({PILOT_DIR})")
    parser.add_argument("--force", action="store_true", help="rerun models that passed")
    return parser


def run(args: argparse.Namespace) -> int:
    """Pilot the study's models; 0 when every model passed, 1 otherwise."""
    extra = list(getattr(args, "passthrough", None) or ["--cores", "2"])
    records = run_pilot(
        args.config, args.out, extra, args.steps, args.items, args.model, args.force
    )
    print(f"table: {Path(args.out) / 'pilot.csv'}")
    return 0 if all(r["status"] == "pass" for r in records) else 1
