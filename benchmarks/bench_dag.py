"""How long Snakemake takes to plan a study grid: this checkout against an earlier revision.

Dry runs (`snakemake -n`) of fresh copies of the workflow, offline, as a user types them:
  paper   `snakemake -n --configfile config/paper.yaml` (7 models × 7 languages)
  all     the same models on every Belebele language of the registry (122 codes)
each planned by this checkout and by `--baseline` (default: the last revision before the grid
became one library object, xlt.study), interleaved so both see the same machine, with and
without `--profile slurm`. Prints the median of the rounds, their spread, and the ratio.

    python benchmarks/bench_dag.py [--rounds 3] [--baseline REV] [--scales paper,all]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "rules", "scripts", "config", "profiles", "resources", "envs", "slurm")
BASELINE = "9648382"  # before xlt.study: cell paths in 9 places, a score job per cell


def checkout(revision: str | None, dest: Path) -> Path:
    """The workflow files (and src/) of `revision`, or of the working tree when None."""
    names = [*WORKFLOW, "src", "report", "accelerate"]
    if revision is None:
        archive = subprocess.run(
            ["tar", "-c", "-C", str(REPO), *[n for n in names if (REPO / n).exists()]],
            capture_output=True,
            check=True,
        ).stdout
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", revision, *names],
            capture_output=True,
            check=True,
        ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def all_languages_config(workdir: Path) -> str:
    """A copy of paper.yaml that evaluates every language of the registry."""
    registry = (workdir / "src" / "xlt" / "languages.tsv").read_text(encoding="utf-8")
    config = yaml.safe_load((workdir / "config" / "paper.yaml").read_text(encoding="utf-8"))
    config["languages"] = [line.split("\t")[0] for line in registry.splitlines()[1:] if line]
    (workdir / "config" / "all.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return "config/all.yaml"


def plan(workdir: Path, *args: str) -> tuple[float, int]:
    """Seconds for one dry run, and the number of jobs it planned."""
    env = {**os.environ, "PYTHONPATH": str(workdir / "src")}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"snakemake -n {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)$", result.stdout + result.stderr, flags=re.M)
    return seconds, int(total.group(1)) if total else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each plan")
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    parser.add_argument("--scales", default="paper,all", help="paper, all, or both")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        trees = {
            "this checkout": checkout(None, Path(tmp) / "new"),
            f"baseline {args.baseline}": checkout(args.baseline, Path(tmp) / "old"),
        }
        print(f"{'plan':36s} {'code':22s} {'jobs':>6s} {'median s':>9s} {'spread s':>9s}")
        for scale in args.scales.split(","):
            for profile in ([], ["--profile", "slurm"]):
                times: dict[str, list[float]] = {name: [] for name in trees}
                jobs: dict[str, int] = {}
                configs = {
                    name: "config/paper.yaml" if scale == "paper" else all_languages_config(tree)
                    for name, tree in trees.items()
                }
                for _ in range(args.rounds):
                    for name, tree in trees.items():
                        seconds, jobs[name] = plan(tree, "--configfile", configs[name], *profile)
                        times[name].append(seconds)
                label = f"{scale}{' --profile slurm' if profile else ''}"
                medians = {}
                for name, values in times.items():
                    medians[name] = statistics.median(values)
                    spread = max(values) - min(values)
                    print(
                        f"{label:36s} {name:22s} {jobs[name]:6d} {medians[name]:9.2f} {spread:9.2f}"
                    )
                new, old = medians.values()
                print(f"{label:36s} {'ratio new/old':22s} {'':6s} {new / old:9.2f}")


if __name__ == "__main__":
    main()
