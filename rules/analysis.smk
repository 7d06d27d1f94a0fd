rule tables:
    input:
        scores=get_score_files,
        predictions=get_prediction_files,
    output:
        scores="results/tables/scores.csv",
        deltas="results/tables/deltas.csv",
        scores_prov="results/tables/scores.csv.prov.json",
        deltas_prov="results/tables/deltas.csv.prov.json",
    log:
        "logs/tables.log",
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/tables.py"
