"""Rule check_data: one language's raw Belebele rows, checked and normalised, before any use."""

import logging

from xlt.data.belebele import read_belebele
from xlt.io import write_jsonl
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False) as job:
    rows = read_belebele(snakemake.input.raw)
    write_jsonl(snakemake.output.checked, rows)
    logging.getLogger("xlt").info("%s: %d items", snakemake.input.raw, len(rows))
    job.record(snakemake.output.checked, inputs={"raw": snakemake.input.raw})
