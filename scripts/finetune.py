"""Rule finetune: train one LoRA adapter (model × source × seed), resuming a preempted run.

One process (CPU or one GPU) trains here; a model with more GPUs (`resources.finetune.gpus` ×
`nodes` > 1) re-executes through `accelerate launch -m xlt.finetune_cli`. Exit status 75 means
"stopped by SIGTERM after a checkpoint": rerun (Snakemake `--retries`, SLURM requeue) resumes.
"""

import logging
import sys
from pathlib import Path

from xlt.finetune import PREEMPTED_EXIT_CODE, SUMMARY_FILE, Preempted
from xlt.finetune_cli import FinetuneJob, launch_plan, run_launched
from xlt.io import read_json, sha256_path
from xlt.jobs import start_job
from xlt.modeling import ModelRef
from xlt.provenance import write_provenance

started = start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
job = FinetuneJob(
    model=snakemake.input.model,
    train_files=list(snakemake.input.train),
    split=snakemake.input.split,
    out_dir=snakemake.output.adapter,
    template=dict(params.template),
    chat=params.chat,
    lora=dict(params.lora),
    train=dict(params.train),
    seed=params.seed,
    quantization=params.quantization,
)
plan = launch_plan(snakemake.config["models"][snakemake.wildcards.model], job.train)
if plan.distributed:
    code = run_launched(
        job, plan, base_dir=Path(snakemake.scriptdir).parent, threads=snakemake.threads
    )
    if code:
        sys.exit(code)
    summary = read_json(Path(job.out_dir) / SUMMARY_FILE)
else:
    try:
        summary = job.run()
    except Preempted as exc:
        logging.getLogger("xlt.finetune").warning("%s", exc)
        sys.exit(PREEMPTED_EXIT_CODE)

ref = ModelRef.load(snakemake.input.model)
write_provenance(
    snakemake.output.adapter,
    rule="finetune",
    inputs={
        "model": snakemake.input.model,
        "train": list(snakemake.input.train),
        "split": snakemake.input.split,
    },
    params={k: v for k, v in params.items()},
    started=started,
    model={
        "name": ref.name,
        "load_from": ref.load_from,
        "revision": ref.revision,
        "weights_sha256": ref.weights_sha256,
    },
    data_sha256={path: sha256_path(path) for path in snakemake.input.train},
    template_id=params.template["id"],
    seed=params.seed,
    training={k: v for k, v in summary.items() if k != "losses"},
)
