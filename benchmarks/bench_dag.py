"""How long Snakemake takes to plan the paper's grid, against a trivial plan in the same run.

Both are dry runs (`snakemake -n`) of a fresh copy of the workflow, offline, as a user types them:
  paper   `snakemake -n --configfile config/paper.yaml`               the whole study grid
  peer    `snakemake -n --configfile config/paper.yaml --until split`  the same config and startup,
                                                                     a one-job plan
The peer pays for interpreter start, imports, config validation and parsing, so paper − peer is
the cost of the grid itself; printed as a ratio and as jobs planned per second.

    python benchmarks/bench_dag.py [--repeats 3] [--profile slurm]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "rules", "scripts", "config", "profiles", "resources", "envs", "slurm")


def plan(workdir: Path, *args: str) -> tuple[float, int]:
    """Seconds for one dry run, and the number of jobs it planned."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"snakemake -n {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)$", result.stdout + result.stderr, flags=re.M)
    return seconds, int(total.group(1)) if total else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--profile", help="plan with this profile too, e.g. slurm")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in WORKFLOW:
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, workdir / name)
            elif (REPO / name).exists():
                shutil.copy2(REPO / name, workdir / name)
        common = ["--configfile", "config/paper.yaml"]
        if args.profile:
            common += ["--profile", args.profile]
        paper, peer = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine state
            paper.append(plan(workdir, *common))
            peer.append(plan(workdir, *common, "--until", "split"))

    paper_s, jobs = min(paper)
    peer_s, peer_jobs = min(peer)
    grid_s = max(paper_s - peer_s, 1e-9)
    print(f"paper grid  {jobs:5d} jobs  {paper_s:6.2f} s  (best of {args.repeats})")
    print(f"peer        {peer_jobs:5d} jobs  {peer_s:6.2f} s  (--until split: startup + parse)")
    print(f"ratio paper/peer            {paper_s / peer_s:6.2f}x")
    print(f"jobs planned per second     {jobs / paper_s:8.0f}  (whole command)")
    print(f"grid jobs per second        {jobs / grid_s:8.0f}  (paper - peer: the grid alone)")


if __name__ == "__main__":
    main()
