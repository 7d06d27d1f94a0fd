"""Rule tables: scores.csv (one row per cell) and deltas.csv (fine-tuned minus base)."""

from xlt.io import atomic_path
from xlt.jobs import start_job
from xlt.provenance import write_provenance
from xlt.tables import deltas_table, scores_table

started = start_job(snakemake.log[0])
scores = scores_table(list(snakemake.input.scores))
deltas = deltas_table(scores)
for frame, output in ((scores, snakemake.output.scores), (deltas, snakemake.output.deltas)):
    with atomic_path(output) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    write_provenance(
        output,
        rule="tables",
        inputs={
            "scores": list(snakemake.input.scores),
            "predictions": list(snakemake.input.predictions),
        },
        started=started,
    )
