# Analysis: tables, the transfer tests, figures and findings. Cheap aggregation: local rules.
#
# Two sources of predictions:
# - this workflow's own cells, results/predictions/... (the default);
# - a predictions tree made elsewhere, `analysis.predictions_dir: <dir>` in the config
#   (e.g. filled with `xlt import-lm-eval ... --out <dir>`): the cells are the files found
#   there, `<dir>/<model>/<weights>/<prompting>/<lang>.jsonl`, no rule can rebuild them, and
#   `snakemake` runs these rules only (tables, transfer, figures, findings).
import os

from xlt.tables import AnalysisSettings, Study, find_cells


ANALYSIS = AnalysisSettings.from_config(config)
STUDY = vars(Study.from_config(config))  # sources and model facts, as rule params
EXTERNAL = ANALYSIS.predictions_dir is not None
ANALYSIS_CELLS = find_cells(ANALYSIS.predictions_dir) if EXTERNAL else cells()
ANALYSIS_PREDICTIONS = (
    [os.path.join(ANALYSIS.predictions_dir, m, w, p, f"{l}.jsonl") for m, w, p, l in ANALYSIS_CELLS]
    if EXTERNAL
    else get_prediction_files()
)
# Score files of the workflow's own cells; an external tree's metrics are computed by `tables`.
ANALYSIS_SCORES = [] if EXTERNAL else get_score_files()

# Deltas need fine-tuned or cot cells; the FT-vs-CoT figure needs both.
HAS_FT = any(w != "base" for _, w, _, _ in ANALYSIS_CELLS)
HAS_COT = any(w == "base" and p == "cot" for _, w, p, _ in ANALYSIS_CELLS)
FIGURES = [
    "accuracy",
    *(["delta_heatmap", "base_vs_delta"] if HAS_FT or HAS_COT else []),
    *(["ft_vs_cot"] if HAS_FT and HAS_COT else []),
]
FIGURE_FILES = {name: f"results/figures/{name}.png" for name in FIGURES}
FIGURE_OUTPUTS = {
    **{n: report(f, f"../report/fig_{n}.rst", category="Figures") for n, f in FIGURE_FILES.items()},
    **{f"{n}_prov": f"{f}.prov.json" for n, f in FIGURE_FILES.items()},
}
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
        scores=ANALYSIS_SCORES,
        predictions=ANALYSIS_PREDICTIONS,
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
        analysis=ANALYSIS.as_record(),
        study=STUDY,
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
        analysis=ANALYSIS.as_record(),
        study=STUDY,
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
        **FIGURE_OUTPUTS,
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
        alpha=ANALYSIS.alpha,
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/findings.py"
