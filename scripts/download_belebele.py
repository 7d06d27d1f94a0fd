"""Rule download_belebele: one language of Belebele from the hub into a local JSONL file."""

from xlt.data.belebele import load_belebele_hub
from xlt.io import write_jsonl
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False):
    rows = load_belebele_hub(
        snakemake.wildcards.lang,
        revision=snakemake.params.revision,
        dataset=snakemake.params.dataset,
    )
    write_jsonl(snakemake.output[0], rows)
