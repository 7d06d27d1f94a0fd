"""Rule tables: scores, items, deltas (per seed) and deltas_seed_mean, from the predictions."""

from xlt.analysis.cells import items_table, load_cells, scores_table
from xlt.analysis.paired import deltas_table, seed_mean_table
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.tables import write_table
from xlt.provenance.jobs import run_job
from xlt.study import StudyFacts

OUTPUT_KEYS = {"items": "item_table"}  # `items` is a reserved name in Snakemake

with run_job(snakemake, torch_threads=False) as job:
    settings = AnalysisSettings(**snakemake.params.analysis)
    study = StudyFacts(**snakemake.params.study)
    tests = list(snakemake.input.tests)
    cells = load_cells(snakemake.input.predictions, tests=tests)
    items = items_table(cells)
    tables = {
        "scores": scores_table(cells, study, settings.ci_level),
        "items": items,
        "deltas": deltas_table(items, study, settings),
        "deltas_seed_mean": seed_mean_table(items, study, settings),
    }
    for name, frame in tables.items():
        output = snakemake.output[OUTPUT_KEYS.get(name, name)]
        write_table(frame, output)
        job.record(
            output,
            inputs={"predictions": list(snakemake.input.predictions), "tests": tests},
            params={"analysis": settings.as_record(), "study": snakemake.params.study},
        )
