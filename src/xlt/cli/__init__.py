"""The `xlt` command.

- `xlt explain TABLE --row N` traces a table row back to the files behind it (`--json`);
- `xlt audit [results/]` checks a whole results tree (hashes, cells, test splits, orphans);
- `xlt crate results/ OUT` exports the tree's provenance as a Workflow Run RO-Crate;
- `xlt cost CONFIG [--jobs N] [--pilot DIR]` prices a study: GPU-hours and wall time (xlt.cost);
- `xlt pilot CONFIG [-- SNAKEMAKE ARGS]` runs every model's real path briefly (xlt.pilot);
- `xlt power [--config STUDY.yaml]` says what a design can show (xlt.cli.power);
- `xlt import-lm-eval SAMPLES ...` converts an lm-evaluation-harness `--log_samples` file into
  a predictions file that the analysis rules can read;
- `xlt languages [--semitic]` lists the Belebele codes with family, genus and script;
- `xlt doctor` says what an interrupted run left behind and what to run.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from xlt.cli import (
    audit,
    cost,
    crate,
    doctor,
    explain,
    import_lm_eval,
    languages,
    pilot,
    power,
)
from xlt.errors import XltError

# One module per subcommand, each with `add_parser(subparsers)` and `run(args) -> int`; listed
# in the order `xlt --help` shows them.
SUBCOMMANDS = (explain, audit, crate, import_lm_eval, power, cost, pilot, languages, doctor)


def version() -> str:
    """The version of the installed `xlt` distribution (what `xlt --version` prints)."""
    try:
        return metadata.version("xlt")
    except metadata.PackageNotFoundError:
        return "unknown (xlt is not installed: pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    """The `xlt` parser: every subcommand, each parser's `run` set as its default."""
    parser = argparse.ArgumentParser(prog="xlt", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SUBCOMMANDS:
        command.add_parser(sub).set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # `xlt pilot CONFIG -- <snakemake arguments>`: what follows `--` goes to Snakemake.
    passthrough = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = build_parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.passthrough = passthrough
    try:
        return args.run(args)
    except (XltError, FileNotFoundError) as exc:
        print(f"xlt {args.command}: error: {exc}", file=sys.stderr)
        return 2
