"""Rule prepare_data: validate one language's rows and apply the shared split."""

import logging

from xlt.data.belebele import Split, check_gold, read_belebele, write_language
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False) as job:
    lang = snakemake.wildcards.lang
    rows = read_belebele(snakemake.input.checked)
    split = Split.load(snakemake.input.split)
    # A resource, not a param: changing the mode must not rerun the data (rules/data.smk).
    mode = snakemake.resources.gold_mismatch
    mismatches = check_gold(
        rows,
        read_belebele(snakemake.input.reference),
        path=snakemake.input.checked,
        reference=split.reference,
        reference_path=snakemake.input.reference,
        mode=mode,
    )
    n_train, n_test = write_language(
        rows,
        split,
        lang,
        snakemake.output.train,
        snakemake.output.test,
    )
    logging.getLogger("xlt").info("%s: %d train, %d test items", lang, n_train, n_test)
    for output in (snakemake.output.train, snakemake.output.test):
        job.record(
            output,
            inputs={
                "checked": snakemake.input.checked,
                "split": snakemake.input.split,
                "reference": snakemake.input.reference,
            },
            params={"lang": lang},
            gold_mismatch={"mode": mode, "items": mismatches},
        )
