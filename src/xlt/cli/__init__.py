"""The `xlt` command.

- `xlt explain TABLE --row N` traces a table row back to the files behind it (`--json`);
- `xlt audit [results/]` checks a whole results tree (hashes, cells, test splits, orphans);
- `xlt crate results/ OUT` exports the tree's provenance as a Workflow Run RO-Crate;
- `xlt cost CONFIG [--jobs N] [--pilot DIR]` prices a study: GPU-hours and wall time (xlt.cost);
- `xlt pilot CONFIG [-- SNAKEMAKE ARGS]` runs every model's real path briefly (xlt.pilot);
- `xlt power [--config STUDY.yaml]` says what a design can show (xlt.power_cli);
- `xlt import-lm-eval SAMPLES ...` converts an lm-evaluation-harness `--log_samples` file into
  a predictions file that the analysis rules can read;
- `xlt languages [--semitic]` lists the Belebele codes with family, genus and script;
- `xlt doctor` says what an interrupted run left behind and what to run.
"""

from __future__ import annotations

import argparse
import sys

from xlt import cost, pilot, power_cli
from xlt.errors import XltError


def explain_command(args: argparse.Namespace) -> int:
    """`xlt explain`: the chain behind a file or a table row (logic in xlt.audit)."""
    from xlt.audit import explain_command as run

    return run(args.path, args.row, args.json)


def audit_command(args: argparse.Namespace) -> int:
    """`xlt audit`: check a results tree (logic in xlt.audit)."""
    from xlt.audit import audit_command as run

    return run(args.root)


def crate_command(args: argparse.Namespace) -> int:
    """`xlt crate`: export a results tree's provenance as an RO-Crate (logic in xlt.crate)."""
    from xlt.crate import write_crate

    print(write_crate(args.root, args.out, snakefile=args.snakefile, copy_data=not args.no_data))
    return 0


def languages_command(args: argparse.Namespace) -> int:
    """`xlt languages`: the registry, one code per line."""
    from xlt.languages import load_registry

    for code, lang in load_registry().items():
        if args.semitic and not lang.is_semitic:
            continue
        print(f"{code}\t{lang.name}\t{lang.family}\t{lang.genus}\t{lang.script}")
    return 0


def doctor_command(args: argparse.Namespace) -> int:
    """`xlt doctor`: findings about an interrupted run; 1 if one blocks the next run."""
    from xlt.doctor import diagnose, environment_line, report

    findings = diagnose(args.workdir)
    print(environment_line())
    print(report(findings))
    return 1 if any(f.blocking for f in findings) else 0


def import_lm_eval_command(args: argparse.Namespace) -> int:
    """`xlt import-lm-eval`: convert one lm-eval samples file, print where it went."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xlt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    explain = sub.add_parser("explain", help="trace a table row or a file back to its inputs")
    explain.add_argument("path", help="a results file, e.g. results/tables/deltas.csv")
    explain.add_argument("--row", type=int, help="row number (0-based) of a CSV table")
    explain.add_argument("--json", action="store_true", help="print the chain as JSON")
    audit = sub.add_parser("audit", help="check every sidecar, table row and predictions file")
    audit.add_argument("root", nargs="?", default="results", help="results directory")
    crate = sub.add_parser("crate", help="export provenance as a Workflow Run RO-Crate")
    crate.add_argument("root", help="results directory, e.g. results/")
    crate.add_argument("out", help="directory to write the crate into")
    crate.add_argument("--snakefile", default="Snakefile", help="the workflow (default: Snakefile)")
    crate.add_argument("--no-data", action="store_true", help="describe files without copying")
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
    lm_eval.add_argument(
        "--extraction", default="lenient", help="extractor for generations: strict or lenient"
    )
    power_cli.add_parser(sub)
    cost.add_parser(sub)
    pilot.add_parser(sub)
    languages = sub.add_parser("languages", help="list the Belebele language codes")
    languages.add_argument("--semitic", action="store_true", help="only the Semitic ones")
    doctor = sub.add_parser("doctor", help="what an interrupted run left and what to run")
    doctor.add_argument("workdir", nargs="?", default=".", help="the workflow's directory")
    argv = sys.argv[1:] if argv is None else list(argv)
    # `xlt pilot CONFIG -- <snakemake arguments>`: what follows `--` goes to Snakemake.
    passthrough = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.passthrough = passthrough
    commands = {
        "explain": explain_command,
        "audit": audit_command,
        "crate": crate_command,
        "import-lm-eval": import_lm_eval_command,
        "power": power_cli.run,
        "cost": cost.run,
        "pilot": pilot.run,
        "languages": languages_command,
        "doctor": doctor_command,
    }
    try:
        return commands[args.command](args)
    except (XltError, FileNotFoundError) as exc:
        print(f"xlt {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
