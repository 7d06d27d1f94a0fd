"""Rule findings: results/findings.md, the answer in words, from the tables only."""

from pathlib import Path

from xlt.analysis.findings import findings_markdown
from xlt.analysis.tables import read_table
from xlt.io import write_text
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False) as job:
    text = findings_markdown(
        read_table(snakemake.input.transfer),
        read_table(snakemake.input.ft_vs_cot),
        read_table(snakemake.input.scores),
        alpha=snakemake.params.alpha,
        typology=read_table(snakemake.input.typology),
        toy_models=snakemake.params.toy_models,
        tables_dir=Path(snakemake.input.transfer).parent.as_posix(),
    )
    write_text(snakemake.output.findings, text)
    job.record(
        snakemake.output.findings,
        inputs={k: snakemake.input[k] for k in ("transfer", "ft_vs_cot", "scores", "typology")},
        params={"alpha": snakemake.params.alpha, "toy_models": snakemake.params.toy_models},
    )
