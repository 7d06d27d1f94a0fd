"""Rule download_model: fetch a hub model into the cache and pin its resolved commit."""

from xlt.jobs import start_job
from xlt.modeling import download_model
from xlt.provenance import write_provenance

started = start_job(snakemake.log[0])
ref = download_model(snakemake.wildcards.model, snakemake.params.hub_id, snakemake.params.revision)
ref.save(snakemake.output.marker)
write_provenance(
    snakemake.output.marker,
    rule="download_model",
    inputs={},
    params={"hub_id": snakemake.params.hub_id, "revision": snakemake.params.revision},
    started=started,
    model={"name": ref.name, "load_from": ref.load_from, "revision": ref.revision},
)
