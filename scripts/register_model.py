"""Rule register_model: a model directory already on disk (`path:`) becomes a model marker."""

from xlt.models.loading import model_directory_ref
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False) as job:
    ref = model_directory_ref(snakemake.wildcards.model, snakemake.input.weights)
    ref.save(snakemake.output.marker)
    job.record(snakemake.output.marker, inputs={}, model=ref.facts())
