"""`xlt cost CONFIG [--jobs N] [--pilot DIR]`: the price of a study, GPU-hours and wall time
(xlt.cost)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from xlt.cost import PILOT_DIR, Assumptions, load_study, price, read_pilot, report


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `xlt cost` on the `xlt` command's subparsers."""
    parser = subparsers.add_parser(
        "cost", help="projected GPU-hours and wall time of a study, per rule and model"
    )
    parser.add_argument("config", help="a study config, e.g. config/paper.yaml")
    parser.add_argument("--jobs", type=int, help="concurrent jobs, as snakemake --jobs")
    parser.add_argument(
        "--pilot",
        nargs="?",
        const=PILOT_DIR,
        help=f"use the rates a pilot measured (default directory {PILOT_DIR})",
    )
    parser.add_argument("--json", action="store_true", help="print the totals as JSON")
    defaults = Assumptions()
    for name, help_text in (
        ("gpu_tflops", "peak dense TFLOP/s of one GPU in the model's dtype"),
        ("gpu_mem_bw_gbs", "memory bandwidth of one GPU, GB/s"),
        ("mfu", "fraction of peak FLOP/s reached"),
        ("load_gbs", "GB/s at which a job reads its model's weights"),
        ("prompt_tokens", "tokens of one prompt (passage, question, options, template)"),
        ("cot_fraction", "fraction of max_new_tokens.cot a CoT generation uses"),
        ("cpu_tflops", "TFLOP/s of a CPU job"),
        ("cpu_mem_bw_gbs", "memory bandwidth of a CPU job, GB/s"),
    ):
        default = getattr(defaults, name)
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=type(default),
            default=default,
            help=f"{help_text} (estimate mode; default {default:g})",
        )
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the price of a study (text, or the totals as JSON); 1 when a model is not priced."""
    assumptions = Assumptions(
        **{name: getattr(args, name) for name in Assumptions.__dataclass_fields__}
    )
    study = load_study(args.config)
    pilot = read_pilot(args.pilot) if args.pilot else None
    if args.pilot and not pilot:
        print(f"xlt cost: no passed pilot under {args.pilot}; estimating every model.")
    result = price(study, args.jobs, assumptions, pilot)
    if args.json:
        print(json.dumps(result.as_record(), indent=2))
    else:
        print(report(result, args.config))
    # A partial price is not a price: 1 when a model could not be priced (named in the output).
    return 1 if result.unpriced else 0
