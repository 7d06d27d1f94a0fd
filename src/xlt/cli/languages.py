"""`xlt languages [--semitic]`: the Belebele codes with family, genus and script."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `xlt languages` on the `xlt` command's subparsers."""
    parser = subparsers.add_parser("languages", help="list the Belebele language codes")
    parser.add_argument("--semitic", action="store_true", help="only the Semitic ones")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the registry, one code per line."""
    from xlt.languages import load_registry

    for code, lang in load_registry().items():
        if args.semitic and not lang.is_semitic:
            continue
        print(f"{code}\t{lang.name}\t{lang.family}\t{lang.genus}\t{lang.script}")
    return 0
