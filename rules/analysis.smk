# Analysis: tables, the transfer tests, figures and findings. Cheap aggregation: local rules.
#
# Two sources of predictions:
# - this workflow's own cells, results/predictions/... (the default);
# - a predictions tree made elsewhere, `analysis.predictions_dir: <dir>` in the config
#   (e.g. filled with `xlt import-lm-eval ... --out <dir>`): the cells are the files found
#   there, no rule can rebuild them, and `snakemake` runs these rules only.
FIGURE_FILES = {name: f"results/figures/{name}.png" for name in STUDY.figures()}
ANALYSIS_OUTPUTS = [
    *(
        f"results/tables/{name}.csv"
        for name in ("scores", "items", "deltas", "deltas_seed_mean", "transfer", "ft_vs_cot")
    ),
    *FIGURE_FILES.values(),
    "results/findings.md",
]


rule tables:
    input:
        predictions=STUDY.analysis_predictions(),
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


rule transfer:
    input:
        item_table="results/tables/items.csv",
        scores="results/tables/scores.csv",
        seed_means="results/tables/deltas_seed_mean.csv",
    output:
        transfer=report(
            "results/tables/transfer.csv", caption="../report/transfer.rst", category="Tables"
        ),
        transfer_prov="results/tables/transfer.csv.prov.json",
        ft_vs_cot=report(
            "results/tables/ft_vs_cot.csv", caption="../report/ft_vs_cot.rst", category="Tables"
        ),
        ft_vs_cot_prov="results/tables/ft_vs_cot.csv.prov.json",
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
    output:
        findings=report(
            "results/findings.md", caption="../report/findings.rst", category="Findings"
        ),
        prov="results/findings.md.prov.json",
    log:
        "logs/analysis/findings.log",
    params:
        alpha=STUDY.analysis.alpha,
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/findings.py"
