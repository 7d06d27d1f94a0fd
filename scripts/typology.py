"""Rule typology: distances of the study's languages from each source (URIEL via lang2vec)."""

from importlib import metadata

from xlt.analysis.tables import write_table
from xlt.analysis.typology import DISTANCES, URIEL_FALLBACK, distance_table
from xlt.provenance.jobs import run_job

with run_job(snakemake, torch_threads=False) as job:
    langs = list(snakemake.params.langs)
    sources = dict(snakemake.params.sources)
    write_table(distance_table(langs, sources), snakemake.output.distances)
    job.record(
        snakemake.output.distances,
        inputs={},
        params={"langs": langs, "sources": sources},
        lang2vec=metadata.version("lang2vec"),
        feature_sets=DISTANCES,
        uriel_fallback={k: v[0] for k, v in URIEL_FALLBACK.items()},
    )
