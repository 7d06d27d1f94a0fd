"""Rule tables: scores, items, deltas (per seed) and deltas_seed_mean, from the cells' files."""

from xlt.jobs import start_job
from xlt.provenance import write_provenance
from xlt.tables import (
    AnalysisSettings,
    Study,
    cells_from_files,
    deltas_table,
    items_table,
    scores_table,
    seed_mean_table,
    write_table,
)

OUTPUT_KEYS = {"items": "item_table"}  # `items` is a reserved name in Snakemake

started = start_job(snakemake.log[0])
settings = AnalysisSettings(**snakemake.params.analysis)
study = Study(**snakemake.params.study)
cells = cells_from_files(snakemake.input.predictions, snakemake.input.scores)
items = items_table(cells)
tables = {
    "scores": scores_table(cells, study),
    "items": items,
    "deltas": deltas_table(items, study, settings),
    "deltas_seed_mean": seed_mean_table(items, study, settings),
}
inputs = {"scores": list(snakemake.input.scores), "predictions": list(snakemake.input.predictions)}
for name, frame in tables.items():
    output = snakemake.output[OUTPUT_KEYS.get(name, name)]
    write_table(frame, output)
    write_provenance(
        output,
        rule="tables",
        inputs=inputs,
        params={"analysis": settings.as_record(), "study": snakemake.params.study},
        started=started,
    )
