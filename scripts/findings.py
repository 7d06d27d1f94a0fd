"""Rule findings: results/findings.md, the answer in words, from the tables only."""

from xlt.findings import findings_markdown
from xlt.io import write_text
from xlt.jobs import start_job
from xlt.provenance import write_provenance
from xlt.tables import read_table

started = start_job(snakemake.log[0])
text = findings_markdown(
    read_table(snakemake.input.transfer),
    read_table(snakemake.input.ft_vs_cot),
    read_table(snakemake.input.scores),
    alpha=snakemake.params.alpha,
)
write_text(snakemake.output.findings, text)
write_provenance(
    snakemake.output.findings,
    rule="findings",
    inputs={k: snakemake.input[k] for k in ("transfer", "ft_vs_cot", "scores")},
    params={"alpha": snakemake.params.alpha},
    started=started,
)
