"""Rule build_demo_model: build a tiny local model for the offline demo."""

from xlt.models.demo import DemoModelSpec, build_demo_model
from xlt.models.loading import local_model_ref
from xlt.provenance.jobs import run_job

with run_job(snakemake) as job:
    spec_params = {k: v for k, v in snakemake.params.spec.items() if k != "corpus"}
    spec = DemoModelSpec(**spec_params, chat=snakemake.params.chat)
    build_demo_model(list(snakemake.input.corpus), spec, snakemake.output.model)
    ref = local_model_ref(snakemake.wildcards.model, snakemake.output.model)
    ref.save(snakemake.output.marker)
    job.record(
        snakemake.output.marker,
        inputs={"corpus": list(snakemake.input.corpus)},
        params={"spec": dict(snakemake.params.spec), "chat": snakemake.params.chat},
        model=ref.facts(),
    )
