"""Rule finetune: train one LoRA adapter (model × source × seed)."""

from xlt.finetune import LoraSettings, TrainSettings, finetune
from xlt.io import sha256_path
from xlt.jobs import start_job
from xlt.modeling import ModelRef
from xlt.prompts import template_from_record
from xlt.provenance import write_provenance

started = start_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
summary = finetune(
    model=snakemake.input.model,
    train_files=list(snakemake.input.train),
    split=snakemake.input.split,
    out_dir=snakemake.output.adapter,
    template=template_from_record(dict(params.template)),
    chat=params.chat,
    lora=LoraSettings(**params.lora),
    train=TrainSettings(**params.train),
    seed=params.seed,
)
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
