# Analysis: tables, the transfer tests, figures and findings. Cheap aggregation: local rules.
#
# Two sources of predictions:
# - this workflow's own cells, results/predictions/... (the default);
# - a predictions tree made elsewhere, `analysis.predictions_dir: <dir>` in the config
#   (e.g. filled with `xlt import-lm-eval ... --out <dir>`): the cells are the files found
#   there, no rule can rebuild them, and `snakemake` runs these rules only.
FIGURE_FILES = {name: f"results/figures/{name}.png" for name in STUDY.figures()}
# The source × target heatmap needs fine-tuned cells.
if any(not cell.parsed_weights.is_base for cell in STUDY.analysis_cells):
    FIGURE_FILES["transfer_matrix"] = "results/figures/transfer_matrix.png"
# Typological distances of every analysed language from every source (URIEL via lang2vec).
TYPOLOGY_LANGS = sorted({cell.lang for cell in STUDY.analysis_cells})
TRANSFER_TABLES = ("transfer", "ft_vs_cot", "transfer_matrix", "typology")
ANALYSIS_OUTPUTS = [
    *(
        f"results/tables/{name}.csv"
        for name in ("scores", "items", "deltas", "deltas_seed_mean", *TRANSFER_TABLES)
    ),
    "results/tables/typology_distances.csv",
    *FIGURE_FILES.values(),
    "results/findings.md",
]


rule tables:
    input:
        predictions=STUDY.analysis_predictions(),
        # Every cell must hold its language's test items and gold (none for a tree made elsewhere).
        tests=(
            []
            if STUDY.analysis.predictions_dir
            else [DATA.format(lang=lang, split="test") for lang in STUDY.languages]
        ),
    output:
        scores=report(
            "results/tables/scores.csv", caption="../report/scores.rst", category="Tables"
        ),
        scores_prov="results/tables/scores.csv.prov.json",
        item_table="results/tables/items.csv",
        item_table_prov="results/tables/items.csv.prov.json",
        deltas=report(
            "results/tables/deltas.csv", caption="../report/deltas.rst", category="Tables"
        ),
        deltas_prov="results/tables/deltas.csv.prov.json",
        deltas_seed_mean=report(
            "results/tables/deltas_seed_mean.csv",
            caption="../report/deltas_seed_mean.rst",
            category="Tables",
        ),
        deltas_seed_mean_prov="results/tables/deltas_seed_mean.csv.prov.json",
    log:
        "logs/analysis/tables.log",
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
        distances=report(
            "results/tables/typology_distances.csv",
            caption="../report/typology_distances.rst",
            category="Tables",
        ),
        distances_prov="results/tables/typology_distances.csv.prov.json",
    log:
        "logs/analysis/typology.log",
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
        item_table="results/tables/items.csv",
        scores="results/tables/scores.csv",
        seed_means="results/tables/deltas_seed_mean.csv",
        distances="results/tables/typology_distances.csv",
    output:
        **{
            name: report(
                f"results/tables/{name}.csv", caption=f"../report/{name}.rst", category="Tables"
            )
            for name in TRANSFER_TABLES
        },
        **{f"{name}_prov": f"results/tables/{name}.csv.prov.json" for name in TRANSFER_TABLES},
    log:
        "logs/analysis/transfer.log",
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
        scores="results/tables/scores.csv",
        seed_means="results/tables/deltas_seed_mean.csv",
        ft_vs_cot="results/tables/ft_vs_cot.csv",
        matrix="results/tables/transfer_matrix.csv",
    output:
        **{
            name: report(path, f"../report/fig_{name}.rst", category="Figures")
            for name, path in FIGURE_FILES.items()
        },
        **{f"{name}_prov": f"{path}.prov.json" for name, path in FIGURE_FILES.items()},
    log:
        "logs/analysis/figures.log",
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/figures.py"


rule findings:
    input:
        transfer="results/tables/transfer.csv",
        ft_vs_cot="results/tables/ft_vs_cot.csv",
        scores="results/tables/scores.csv",
        typology="results/tables/typology.csv",
    output:
        findings=report(
            "results/findings.md", caption="../report/findings.rst", category="Findings"
        ),
        prov="results/findings.md.prov.json",
    log:
        "logs/analysis/findings.log",
    params:
        alpha=STUDY.analysis.alpha,
        toy_models=STUDY.models_from("build"),
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/findings.py"
