# Analysis: tables, the transfer tests, figures and findings. Cheap aggregation: local rules.
#
# Two sources of predictions:
# - this workflow's own cells, results/predictions/... (the default); outputs under results/;
# - a predictions tree made elsewhere, `analysis.predictions_dir: <dir>` in the config
#   (e.g. filled with `xlt import-lm-eval ... --out <dir>`): the cells are the files found
#   there (filtered by `models:` and `languages:` when the config gives them), no rule can
#   rebuild them, `snakemake` runs these rules only, and the outputs go to `analysis.output_dir`
#   (default results/external/), never over the workflow's own tables.
#
# Every output is `update()`: Snakemake keeps the previous version while a job reruns and puts
# it back if the job fails, so bad input never costs the last good tables.
A = ANALYSIS.root
FIGURE_FILES = {name: f"{A}/figures/{name}.png" for name in ANALYSIS.figures()}
# Typological distances of every analysed language from every source (URIEL via lang2vec).
TYPOLOGY_LANGS = sorted({cell.lang for cell in ANALYSIS.cells})
TRANSFER_TABLES = ("transfer", "ft_vs_cot", "transfer_matrix", "typology")
ANALYSIS_OUTPUTS = [
    *(
        f"{A}/tables/{name}.csv"
        for name in ("scores", "items", "deltas", "deltas_seed_mean", *TRANSFER_TABLES)
    ),
    f"{A}/tables/typology_distances.csv",
    *FIGURE_FILES.values(),
    f"{A}/findings.md",
]


rule tables:
    input:
        predictions=ANALYSIS.predictions(),
        # Every cell must hold its language's test items and gold (none for a tree made elsewhere).
        tests=ANALYSIS.test_files(),
    output:
        scores=table("scores", "scores"),
        scores_prov=sidecar(f"{A}/tables/scores.csv"),
        item_table=table("items"),
        item_table_prov=sidecar(f"{A}/tables/items.csv"),
        deltas=table("deltas", "deltas"),
        deltas_prov=sidecar(f"{A}/tables/deltas.csv"),
        deltas_seed_mean=table("deltas_seed_mean", "deltas_seed_mean"),
        deltas_seed_mean_prov=sidecar(f"{A}/tables/deltas_seed_mean.csv"),
    log:
        f"{ANALYSIS.logs}/tables.log",
    params:
        analysis=STUDY.analysis.as_record(),
        study=STUDY.facts().as_record(),
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/tables.py"


rule typology:
    output:
        distances=table("typology_distances", "typology_distances"),
        distances_prov=sidecar(f"{A}/tables/typology_distances.csv"),
    log:
        f"{ANALYSIS.logs}/typology.log",
    params:
        langs=TYPOLOGY_LANGS,
        sources=STUDY.facts().as_record()["sources"],
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/typology.py"


rule transfer:
    input:
        item_table=f"{A}/tables/items.csv",
        scores=f"{A}/tables/scores.csv",
        seed_means=f"{A}/tables/deltas_seed_mean.csv",
        distances=f"{A}/tables/typology_distances.csv",
    output:
        **{name: table(name, name) for name in TRANSFER_TABLES},
        **{f"{name}_prov": sidecar(f"{A}/tables/{name}.csv") for name in TRANSFER_TABLES},
    log:
        f"{ANALYSIS.logs}/transfer.log",
    params:
        analysis=STUDY.analysis.as_record(),
        study=STUDY.facts().as_record(),
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/transfer.py"


rule figures:
    input:
        scores=f"{A}/tables/scores.csv",
        seed_means=f"{A}/tables/deltas_seed_mean.csv",
        ft_vs_cot=f"{A}/tables/ft_vs_cot.csv",
        matrix=f"{A}/tables/transfer_matrix.csv",
    output:
        **{
            name: report(update(path), f"../report/fig_{name}.rst", category="Figures")
            for name, path in FIGURE_FILES.items()
        },
        **{f"{name}_prov": sidecar(path) for name, path in FIGURE_FILES.items()},
    log:
        f"{ANALYSIS.logs}/figures.log",
    params:
        ci_level=STUDY.analysis.ci_level,
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/figures.py"


rule findings:
    input:
        transfer=f"{A}/tables/transfer.csv",
        ft_vs_cot=f"{A}/tables/ft_vs_cot.csv",
        scores=f"{A}/tables/scores.csv",
        typology=f"{A}/tables/typology.csv",
    output:
        findings=report(
            update(f"{A}/findings.md"), caption="../report/findings.rst", category="Findings"
        ),
        prov=sidecar(f"{A}/findings.md"),
    log:
        f"{ANALYSIS.logs}/findings.log",
    params:
        alpha=STUDY.analysis.alpha,
        toy_models=STUDY.models_from("build"),
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/findings.py"
