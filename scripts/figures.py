"""Rule figures: delta heatmap, base accuracy vs delta, accuracy bars, FT vs CoT gain."""

from xlt import figures
from xlt.jobs import start_job
from xlt.provenance import write_provenance
from xlt.tables import read_table

started = start_job(snakemake.log[0])
scores = read_table(snakemake.input.scores)
seed_means = read_table(snakemake.input.seed_means)
correlations = read_table(snakemake.input.ft_vs_cot)
draw = {
    "delta_heatmap": lambda out: figures.delta_heatmap(seed_means, out),
    "base_vs_delta": lambda out: figures.base_vs_delta(seed_means, out),
    "accuracy": lambda out: figures.accuracy_bars(scores, out),
    "ft_vs_cot": lambda out: figures.ft_vs_cot(seed_means, correlations, out),
}
for name, make in draw.items():
    if name not in snakemake.output.keys():  # noqa: SIM118 (a Namedlist: `in` tests values)
        continue
    make(snakemake.output[name])
    write_provenance(
        snakemake.output[name],
        rule="figures",
        inputs={k: snakemake.input[k] for k in ("scores", "seed_means", "ft_vs_cot")},
        started=started,
    )
