"""`xlt import-lm-eval SAMPLES ...`: an lm-evaluation-harness `--log_samples` file as a
predictions file that the analysis rules can read (xlt.analysis.importers)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `xlt import-lm-eval` on the `xlt` command's subparsers."""
    parser = subparsers.add_parser(
        "import-lm-eval",
        help="convert lm-evaluation-harness --log_samples output (a Belebele task) to predictions",
    )
    parser.add_argument("samples", help="samples_<task>_<date>.jsonl written by lm_eval")
    parser.add_argument("--model", required=True, help="model name (a directory of the tree)")
    parser.add_argument("--weights", required=True, help="base or ft-<source>-s<seed>")
    parser.add_argument("--prompting", required=True, help="prompting condition, e.g. direct")
    parser.add_argument("--lang", help="Belebele code; default: the samples' dialect")
    parser.add_argument(
        "--out",
        required=True,
        help="predictions file (.jsonl), or the root of a predictions tree "
        "(then <out>/<model>/<weights>/<prompting>/<lang>.jsonl)",
    )
    parser.add_argument(
        "--split", help="keep only the items of this Belebele-format JSONL (e.g. the test split)"
    )
    parser.add_argument("--filter", help="lm-eval filter to use when samples have several")
    parser.add_argument(
        "--extraction", default="lenient", help="extractor for generations: strict or lenient"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Convert one samples file and print where it went."""
    from xlt.analysis.importers import import_lm_eval

    path = import_lm_eval(
        args.samples,
        model=args.model,
        weights=args.weights,
        prompting=args.prompting,
        lang=args.lang,
        out=args.out,
        split=args.split,
        filter_name=args.filter,
        extraction=args.extraction,
    )
    print(path)
    return 0
