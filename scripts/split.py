"""Rule split: hold out whole passages of the reference language, once for every language."""

import logging

from xlt.data.belebele import make_split, read_belebele
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False) as job:
    params = dict(snakemake.params.items())
    split = make_split(
        read_belebele(snakemake.input.reference),
        n_test=params["n_test"],
        seed=params["seed"],
        reference=params["reference"],
    )
    split.save(snakemake.output.split)
    logging.getLogger("xlt").info(
        "held out %d items from %d passages", len(split.test_ids), len(split.test_links)
    )
    job.record(
        snakemake.output.split, inputs={"reference": snakemake.input.reference}, params=params
    )
