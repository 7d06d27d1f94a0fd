"""Rule evaluate: predictions of one cell (model × weights × prompting × language)."""

from xlt.evaluate.cell import EvalSettings, evaluate_cell
from xlt.models.loading import ModelRef
from xlt.provenance.jobs import run_job

with run_job(snakemake) as job:
    inputs = snakemake.input
    adapter = inputs.adapter[0] if inputs.adapter else None
    params = snakemake.params.settings
    # GPUs are a resource, not a param: rescheduling a model must not invalidate its cells.
    settings = EvalSettings.from_params(
        params,
        prompting=snakemake.wildcards.prompting,
        gpus=int(snakemake.resources.get("gpu", 1)),
    )
    cell = {key: snakemake.wildcards[key] for key in ("model", "weights", "prompting", "lang")}
    evaluate_cell(
        data=inputs.data,
        model=inputs.model,
        adapter=adapter,
        settings=settings,
        out=snakemake.output.predictions,
        cell=cell,
        hasher=job.sha256,
    )
    sources = {"data": inputs.data, "model": inputs.model}
    if adapter:
        sources["adapter"] = adapter
    job.record(
        snakemake.output.predictions,
        inputs=sources,
        params=dict(params),
        cell=cell,
        model=ModelRef.load(inputs.model).facts(),
        adapter_sha256=job.sha256(adapter) if adapter else None,
        data_sha256=job.sha256(inputs.data),
        template_id=settings.template.id,
        decoding=settings.decoding(),
    )
