"""Rule price: the study's projected GPU-hours and wall time (xlt cost), and the pilot table."""

import pandas as pd

from xlt import pilot
from xlt.analysis.tables import write_table
from xlt.cost import (
    PRICE_COLUMNS,
    price,
    price_rows,
    read_pilot_records,
    report,
    study_of_config,
)
from xlt.io import write_text
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False) as job:
    study = study_of_config(snakemake.params.config, base_dir=".")
    records = list(snakemake.input.pilot)
    result = price(study, pilot=read_pilot_records(records))
    write_table(pd.DataFrame(price_rows(result), columns=PRICE_COLUMNS), snakemake.output.price)
    write_text(snakemake.output.text, report(result) + "\n")
    pilot_rows = pilot.table_rows(records)
    write_table(pd.DataFrame(pilot_rows, columns=pilot.COLUMNS), snakemake.output.pilot)
    inputs = {"data": list(snakemake.input.data), "pilot": records}
    for output in (snakemake.output.price, snakemake.output.text):
        job.record(output, inputs=inputs, params={"assumptions": result.as_record()["assumptions"]})
    job.record(snakemake.output.pilot, inputs={"pilot": records})
