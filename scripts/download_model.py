"""Rule download_model: fetch a hub model into the cache and pin its resolved commit."""

from xlt.models.loading import download_model
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False) as job:
    params = snakemake.params
    ref = download_model(snakemake.wildcards.model, params.hub_id, params.revision)
    ref.save(snakemake.output.marker)
    job.record(
        snakemake.output.marker,
        inputs={},
        params={"hub_id": params.hub_id, "revision": params.revision},
        model=ref.facts(),
    )
