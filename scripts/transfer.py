"""Rule transfer: the Semitic-specific transfer tests (language-level and conditional), the
FT-gain vs CoT-gain correlations, the source × target matrix and the typology regression."""

from xlt.analysis.correlation import ft_vs_cot_table
from xlt.analysis.matrix import transfer_matrix_table
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.tables import read_table, write_table
from xlt.analysis.transfer import transfer_table
from xlt.analysis.typology import typology_table
from xlt.provenance.jobs import run_job
from xlt.study import StudyFacts

INPUTS = ("item_table", "scores", "seed_means", "distances")

with run_job(snakemake, torch_threads=False) as job:
    settings = AnalysisSettings(**snakemake.params.analysis)
    study = StudyFacts(**snakemake.params.study)
    items = read_table(snakemake.input.item_table)
    scores = read_table(snakemake.input.scores)
    seed_means = read_table(snakemake.input.seed_means)
    distances = read_table(snakemake.input.distances)
    tables = {
        "transfer": transfer_table(items, scores, study, settings),
        "ft_vs_cot": ft_vs_cot_table(seed_means, settings),
        "transfer_matrix": transfer_matrix_table(items, study, settings),
        "typology": typology_table(items, distances, study, settings),
    }
    for name, frame in tables.items():
        write_table(frame, snakemake.output[name])
        job.record(
            snakemake.output[name],
            inputs={k: snakemake.input[k] for k in INPUTS},
            params={"analysis": settings.as_record(), "study": snakemake.params.study},
        )
