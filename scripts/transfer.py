"""Rule transfer: the Semitic-specific transfer tests and the FT-gain vs CoT-gain correlations."""

from xlt.jobs import start_job
from xlt.provenance import write_provenance
from xlt.tables import (
    AnalysisSettings,
    Study,
    ft_vs_cot_table,
    read_table,
    transfer_table,
    write_table,
)

started = start_job(snakemake.log[0])
settings = AnalysisSettings(**snakemake.params.analysis)
study = Study(**snakemake.params.study)
items = read_table(snakemake.input.item_table)
scores = read_table(snakemake.input.scores)
seed_means = read_table(snakemake.input.seed_means)
tables = {
    "transfer": transfer_table(items, scores, study, settings),
    "ft_vs_cot": ft_vs_cot_table(seed_means, settings),
}
for name, frame in tables.items():
    output = snakemake.output[name]
    write_table(frame, output)
    write_provenance(
        output,
        rule="transfer",
        inputs={k: snakemake.input[k] for k in ("item_table", "scores", "seed_means")},
        params={"analysis": settings.as_record(), "study": snakemake.params.study},
        started=started,
    )
