"""Rule evaluate: predictions of one cell (model × weights × prompting × language)."""

from xlt.evaluate import EvalSettings, evaluate_cell
from xlt.io import sha256_path
from xlt.jobs import start_job
from xlt.modeling import ModelRef
from xlt.provenance import write_provenance

started = start_job(snakemake.log[0], snakemake.threads)
wildcards = snakemake.wildcards
adapter = snakemake.input.adapter or None
# GPUs are a resource, not a param: rescheduling a model must not invalidate its cells.
settings = EvalSettings.from_params(
    snakemake.params, prompting=wildcards.prompting, gpus=int(snakemake.resources.get("gpu", 1))
)
cell = {
    "lang": wildcards.lang,
    "model": wildcards.model,
    "weights": wildcards.weights,
    "prompting": wildcards.prompting,
}
evaluate_cell(
    data=snakemake.input.data,
    model=snakemake.input.model,
    adapter=adapter,
    settings=settings,
    out=snakemake.output.predictions,
    cell=cell,
)
ref = ModelRef.load(snakemake.input.model)
inputs = {"data": snakemake.input.data, "model": snakemake.input.model}
if adapter:
    inputs["adapter"] = adapter
write_provenance(
    snakemake.output.predictions,
    rule="evaluate",
    inputs=inputs,
    params={k: v for k, v in snakemake.params.items()},
    started=started,
    cell=cell,
    model={
        "name": ref.name,
        "load_from": ref.load_from,
        "revision": ref.revision,
        "weights_sha256": ref.weights_sha256,
    },
    adapter_sha256=sha256_path(adapter) if adapter else None,
    data_sha256=sha256_path(snakemake.input.data),
    template_id=settings.template.id,
    decoding={
        "generation": "greedy",
        "max_new_tokens": settings.max_new_tokens,
        "extraction": settings.extraction,
        "batch_size": settings.batch_size,
        "dtype": settings.dtype,
    },
)
