"""`python -m xlt.train.launch JOB.json`: one fine-tuning job, all its settings in a JSON file.

This is what every process runs when a model gets more than one GPU: the rule's script writes
the job file and re-executes through `accelerate launch` (see `launch_command`):

    accelerate launch --config_file accelerate/fsdp.yaml --num_processes 8 \\
        -m xlt.train.launch results/adapters/m/.ft-arabic-s0.job.json

It also runs a job by hand, on one process, with the same result as the rule.
Exit status: 0 done; 75 (PREEMPTED_EXIT_CODE) stopped by SIGTERM/SIGUSR1 after writing a
checkpoint, run it again to resume; anything else is an error.

The rule calls `train_adapter`, which decides from the GPUs and nodes of the job's resources
whether to train in its own process or through `accelerate launch`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xlt.errors import MissingFileError
from xlt.io import read_json, write_json
from xlt.prompts import template_from_record
from xlt.provenance.jobs import CONSOLE
from xlt.train.adapter import read_summary
from xlt.train.loop import finetune
from xlt.train.settings import LoraSettings, TrainSettings
from xlt.train.stop import PREEMPTED_EXIT_CODE, STOP_SIGNALS, Preempted, TrainingStopped

log = logging.getLogger(__name__)
DEFAULT_PORT = 29500
# The relayed output of launched processes reaches only the rule's log, except the lines the
# single-process path sends to the console (records with extra=CONSOLE: training progress).
# Launched processes start those lines with CONSOLE_MARK when RELAY_ENV is set, and
# `run_launched` logs them with extra=CONSOLE again, so multi-GPU runs show their progress too.
CONSOLE_MARK = "[console] "
RELAY_ENV = "XLT_RELAY_CONSOLE"


@dataclass(frozen=True)
class FinetuneJob:
    """Every argument of `xlt.train.loop.finetune`, as plain JSON-able values."""

    model: str
    train_files: list[str]
    split: str
    out_dir: str
    template: dict[str, Any]
    chat: bool
    lora: dict[str, Any]
    train: dict[str, Any]
    seed: int
    quantization: str = "none"

    def save(self, path: str | Path) -> None:
        """Write the job file (atomically)."""
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> FinetuneJob:
        """Read a job file written by `save`."""
        return cls(**read_json(path))

    def run(
        self, on_step: Callable[[int], None] | None = None, keep_checkpoints: bool = False
    ) -> dict[str, Any]:
        """Train (or resume) the adapter; returns the training summary. `keep_checkpoints`:
        leave them for the caller to remove once the adapter is recorded."""
        return finetune(
            model=self.model,
            train_files=self.train_files,
            split=self.split,
            out_dir=self.out_dir,
            template=template_from_record(dict(self.template)),
            chat=self.chat,
            lora=LoraSettings(**self.lora),
            train=TrainSettings(**self.train),
            seed=self.seed,
            quantization=self.quantization,
            on_step=on_step,
            keep_checkpoints=keep_checkpoints,
        )


@dataclass(frozen=True)
class LaunchPlan:
    """How many processes train one adapter: one per GPU, on one node or several."""

    gpus_per_node: int = 0
    nodes: int = 1
    accelerate_config: str = "accelerate/fsdp.yaml"

    @property
    def processes(self) -> int:
        """Total processes (at least one: CPU or a single GPU)."""
        return max(1, self.gpus_per_node) * self.nodes

    @property
    def distributed(self) -> bool:
        """Whether the job needs `accelerate launch` (more than one process)."""
        return self.processes > 1


def launch_plan(
    resources: Mapping[str, Any], accelerate_config: str = TrainSettings.accelerate_config
) -> LaunchPlan:
    """The plan for a job's resources, as the rule asks them of the cluster
    (`xlt.study.slurm_request`): on one node `gpu` GPUs; across `nodes` > 1 the GPUs per node
    in `gres` (`gpu[:<model>]:N`). `accelerate_config` is the model's `train.accelerate_config`.

    Resources the job does not have count as none: without a GPU resource (a local run, or a
    model without `gpus`) the job trains on one process, CPU or one GPU, as without a launcher.
    """
    return LaunchPlan(
        gpus_per_node=_gpus_per_node(resources),
        nodes=int(resources.get("nodes") or 1),
        accelerate_config=accelerate_config,
    )


def _gpus_per_node(resources: Mapping[str, Any]) -> int:
    """GPUs per node of a job: its `gpu` resource, else the GPU count of its `gres`, else 0."""
    if resources.get("gpu"):
        return int(resources["gpu"])
    for request in str(resources.get("gres") or "").split(","):
        kind, *rest = request.strip().split(":")
        if kind == "gpu" and rest and rest[-1].isdigit():
            return int(rest[-1])
    return 0


def accelerate_config_path(plan: LaunchPlan, base_dir: str | Path) -> Path:
    """The launcher config file; a relative name is taken from the workflow's directory."""
    path = Path(plan.accelerate_config)
    path = path if path.is_absolute() else Path(base_dir) / path
    if not path.is_file():
        raise MissingFileError(
            f"accelerate config {path} not found; set `finetune.train.accelerate_config` (or "
            "`models.<name>.train.accelerate_config` for this model) to accelerate/fsdp.yaml, "
            "accelerate/deepspeed_zero3.yaml or a file of your own."
        )
    return path


def head_node() -> str:
    """The first node of the SLURM allocation (the rendezvous host), else this host."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST")
    if nodelist:
        try:
            hosts = subprocess.run(
                ["scontrol", "show", "hostnames", nodelist],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.split()
            if hosts:
                return hosts[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return socket.gethostname()


def launch_command(
    plan: LaunchPlan,
    job_file: str | Path,
    config_file: str | Path,
    python: str = sys.executable,
    head: str | None = None,
    port: int = DEFAULT_PORT,
) -> list[str]:
    """The command that runs `job_file` on `plan.processes` processes.

    One node: `accelerate launch` from this interpreter. Several nodes (inside a SLURM
    allocation): one `accelerate launch` per node through `srun`, each with its node's rank.
    """
    launcher = [python, "-m", "accelerate.commands.launch", "--config_file", str(config_file)]
    launcher += ["--num_processes", str(plan.processes), "--num_machines", str(plan.nodes)]
    program = ["-m", "xlt.train.launch", str(job_file)]
    if plan.nodes == 1:
        return [*launcher, *program]
    launcher += ["--main_process_ip", head or head_node(), "--main_process_port", str(port)]
    per_node = f'{shlex.join(launcher)} --machine_rank "$SLURM_NODEID" {shlex.join(program)}'
    srun = ["srun", "--overlap", f"--nodes={plan.nodes}", "--ntasks-per-node=1"]
    return [*srun, "--kill-on-bad-exit=1", "bash", "-c", per_node]


def job_file_path(out_dir: str | Path) -> Path:
    """Where the rule writes the job file for the launched processes: hidden beside the output."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.job.json"


def run_launched(
    job: FinetuneJob, plan: LaunchPlan, base_dir: str | Path, threads: int | None = None
) -> int:
    """Run `job` through `accelerate launch` and relay its output to this process's log.

    SIGTERM/SIGUSR1 received here are passed on to the launcher (which passes them to every
    process); a run stopped that way returns PREEMPTED_EXIT_CODE, whatever the launcher returns.
    """
    job_file = job_file_path(job.out_dir)
    job.save(job_file)
    command = launch_command(plan, job_file, accelerate_config_path(plan, base_dir))
    env = {**os.environ, RELAY_ENV: "1"}
    if threads:
        per_process = max(1, threads // max(1, plan.gpus_per_node))
        env["OMP_NUM_THREADS"] = str(per_process)
    log.info("launching %d processes on %d node(s): %s", plan.processes, plan.nodes, command)
    stopped: list[str] = []
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    def forward(signum: int, _frame: Any) -> None:
        stopped.append(signal.Signals(signum).name)
        process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _stop_signals()}
    try:
        assert process.stdout is not None
        for line in process.stdout:
            relay(line)
        code = process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == 0:
        job_file.unlink(missing_ok=True)
        return 0
    if stopped:
        log.warning(
            "%s received: the launched run stopped; run the job again to resume.", stopped[0]
        )
        return PREEMPTED_EXIT_CODE
    return code


class LaunchFailed(TrainingStopped):
    """The processes under `accelerate launch` exited with `exit_code` (PREEMPTED_EXIT_CODE:
    stopped by SIGTERM/SIGUSR1 after a checkpoint, run the job again to resume)."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(f"the launched training processes exited with status {exit_code}")
        self.exit_code = exit_code


def train_adapter(
    job: FinetuneJob,
    resources: Mapping[str, Any],
    base_dir: str | Path,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) the adapter of `job` on the GPUs its `resources` give it (a Snakemake
    job's resources, read as `launch_plan` says): here on one process, else through
    `accelerate launch` on one process per GPU. Returns the training summary.

    The checkpoints are left for the caller to remove once the adapter is recorded. Training
    that ends without an adapter raises TrainingStopped (Preempted, LaunchFailed), whose
    `exit_code` the job exits with. `base_dir` is where a relative accelerate config is found;
    `threads`, the job's CPU threads, are shared among the launched processes.
    """
    accelerate_config = job.train.get("accelerate_config", TrainSettings.accelerate_config)
    plan = launch_plan(resources, accelerate_config)
    if not plan.distributed:
        try:
            return job.run(keep_checkpoints=True)
        except Preempted as exc:
            log.warning("%s", exc)
            raise
    code = run_launched(job, plan, base_dir, threads)
    if code:
        raise LaunchFailed(code)
    return read_summary(job.out_dir)


def relay(line: str) -> None:
    """Log one output line of the launched processes; a marked line also reaches the console."""
    head, mark, rest = line.rstrip().partition(CONSOLE_MARK)
    if mark:  # searched, not only at the start: a launcher may prefix lines with the rank
        log.info("%s", head + rest, extra=CONSOLE)
    else:
        log.info("%s", head)


class _ConsoleMarkFormatter(logging.Formatter):
    """Starts the lines of console records with CONSOLE_MARK, for the relaying parent."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return CONSOLE_MARK + line if getattr(record, "console", False) else line


def _stop_signals() -> list[signal.Signals]:
    return [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]


def configure_logging(log_file: str | None = None, mark_console: bool = False) -> None:
    """INFO from the main process only (RANK 0 or no launcher), warnings from every process;
    with `mark_console`, console records go to stderr marked for `run_launched` (see
    CONSOLE_MARK)."""
    rank = int(os.environ.get("RANK", "0"))
    form = f"%(levelname)s %(name)s [rank {rank}]: %(message)s"
    stderr = logging.StreamHandler(sys.stderr)
    if mark_console:
        stderr.setFormatter(_ConsoleMarkFormatter(form))
    handlers: list[logging.Handler] = [stderr]
    if log_file and rank == 0:
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        handlers=handlers,
        force=True,
        format=form,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one job file; return the exit status (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m xlt.train.launch", description=__doc__)
    parser.add_argument("job", help="JSON file with the job's settings (FinetuneJob)")
    parser.add_argument("--log", help="also append the log to this file")
    args = parser.parse_args(argv)
    configure_logging(args.log, mark_console=bool(os.environ.get(RELAY_ENV)))
    try:
        # The rule records the adapter after this returns; it removes the checkpoints then.
        summary = FinetuneJob.load(args.job).run(keep_checkpoints=True)
    except Preempted as exc:
        log.warning("%s", exc)
        return PREEMPTED_EXIT_CODE
    log.info("adapter written: %d steps, last loss %s", summary["steps"], summary["last_loss"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
