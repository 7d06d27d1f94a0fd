"""Rule split: hold out whole passages of the reference language, once for every language."""

import logging

from xlt.data import make_split, read_belebele
from xlt.jobs import start_job
from xlt.provenance import write_provenance

started = start_job(snakemake.log[0])
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
write_provenance(
    snakemake.output.split,
    rule="split",
    inputs={"reference": snakemake.input.reference},
    params=params,
    started=started,
)
