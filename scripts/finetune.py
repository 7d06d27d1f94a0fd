"""Rule finetune: train one LoRA adapter (model × source × seed), resuming a preempted run.

`xlt.train.launch.train_adapter` trains on one process (CPU or one GPU), or, when the job's
resources give it more GPUs (`gpu`, or `gres` × `nodes`), through `accelerate launch`. Exit
status 75 means "stopped by SIGTERM after a checkpoint": rerun (Snakemake `--retries`, SLURM
requeue) resumes.
"""

import sys
from pathlib import Path

from xlt.models.loading import ModelRef
from xlt.provenance.jobs import run_job
from xlt.train.checkpoints import remove_checkpoints
from xlt.train.launch import FinetuneJob, train_adapter
from xlt.train.stop import TrainingStopped

with run_job(snakemake) as job:
    settings = snakemake.params.settings
    inputs = snakemake.input
    training = FinetuneJob(
        model=inputs.model,
        train_files=list(inputs.train),
        split=inputs.split,
        out_dir=snakemake.output.adapter,
        template=dict(settings["template"]),
        chat=settings["chat"],
        lora=dict(settings["lora"]),
        train=dict(settings["train"]),
        seed=settings["seed"],
        quantization=settings["quantization"],
    )
    try:
        summary = train_adapter(
            training,
            resources=dict(snakemake.resources.items()),
            base_dir=Path(snakemake.scriptdir).parent,
            threads=snakemake.threads,
        )
    except TrainingStopped as exc:
        sys.exit(exc.exit_code)

    job.record(
        snakemake.output.adapter,
        inputs={"model": inputs.model, "train": list(inputs.train), "split": inputs.split},
        params=dict(settings),
        model=ModelRef.load(inputs.model).facts(),
        data_sha256={path: job.sha256(path) for path in inputs.train},
        template_id=settings["template"]["id"],
        seed=settings["seed"],
        training={k: v for k, v in summary.items() if k != "losses"},
    )
    # Only now: a job that fails before this point loses its output, and the rerun resumes.
    remove_checkpoints(training.out_dir)
