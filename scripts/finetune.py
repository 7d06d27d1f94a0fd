"""Rule finetune: train one LoRA adapter (model × source × seed), resuming a preempted run.

One process (CPU or one GPU) trains here; a model with more GPUs (`resources.finetune.gpus` ×
`nodes` > 1) re-executes through `accelerate launch -m xlt.train.launch`. Exit status 75 means
"stopped by SIGTERM after a checkpoint": rerun (Snakemake `--retries`, SLURM requeue) resumes.
"""

import logging
import sys
from pathlib import Path

from xlt.jobs import run_job
from xlt.models.loading import ModelRef
from xlt.study import ModelSettings
from xlt.train.adapter import read_summary
from xlt.train.checkpoints import remove_checkpoints
from xlt.train.launch import FinetuneJob, launch_plan, run_launched
from xlt.train.stop import PREEMPTED_EXIT_CODE, Preempted

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
    model = snakemake.wildcards.model
    model_settings = ModelSettings.from_config(
        model, snakemake.config["models"][model], snakemake.config
    )
    plan = launch_plan(model_settings.resources["finetune"], training.train)
    if plan.distributed:
        code = run_launched(
            training, plan, base_dir=Path(snakemake.scriptdir).parent, threads=snakemake.threads
        )
        if code:
            sys.exit(code)
        summary = read_summary(training.out_dir)
    else:
        try:
            summary = training.run(keep_checkpoints=True)
        except Preempted as exc:
            logging.getLogger("xlt.train").warning("%s", exc)
            sys.exit(PREEMPTED_EXIT_CODE)

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
