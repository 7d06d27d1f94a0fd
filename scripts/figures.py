"""Rule figures: delta heatmap, base accuracy vs delta, accuracy bars, FT vs CoT gain, and the
source × target matrix."""

from xlt.analysis import figures
from xlt.analysis.tables import read_table
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False) as job:
    scores = read_table(snakemake.input.scores)
    seed_means = read_table(snakemake.input.seed_means)
    correlations = read_table(snakemake.input.ft_vs_cot)
    matrix = read_table(snakemake.input.matrix)
    level = snakemake.params.ci_level
    draw = {
        "delta_heatmap": lambda out: figures.delta_heatmap(seed_means, out, level),
        "base_vs_delta": lambda out: figures.base_vs_delta(seed_means, out),
        "accuracy": lambda out: figures.accuracy_bars(scores, out, level),
        "ft_vs_cot": lambda out: figures.ft_vs_cot(seed_means, correlations, out),
        "transfer_matrix": lambda out: figures.transfer_matrix(matrix, out, level),
    }
    for name, make in draw.items():
        if name not in snakemake.output.keys():  # noqa: SIM118 (a Namedlist: `in` tests values)
            continue
        make(snakemake.output[name])
        job.record(
            snakemake.output[name],
            inputs={k: snakemake.input[k] for k in ("scores", "seed_means", "ft_vs_cot", "matrix")},
            params={"ci_level": level},
        )
