"""Rule score: the metrics of one cell, derived from its predictions file."""

from xlt.io import read_jsonl, write_json
from xlt.jobs import start_job
from xlt.metrics import cell_metrics
from xlt.provenance import write_provenance

started = start_job(snakemake.log[0])
predictions = snakemake.input.predictions
cell = {key: snakemake.wildcards[key] for key in ("model", "weights", "prompting", "lang")}
write_json(
    snakemake.output.scores,
    {"cell": cell, "metrics": cell_metrics(read_jsonl(predictions)), "predictions": predictions},
)
write_provenance(
    snakemake.output.scores,
    rule="score",
    inputs={"predictions": predictions},
    started=started,
    cell=cell,
)
