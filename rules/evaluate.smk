# One predictions file per cell (model × weights × prompting × language). Its metrics are
# computed by the analysis (rule tables) from this file alone. `update()`: Snakemake keeps the
# previous predictions while a cell is re-evaluated and puts them back if the new run fails.


rule evaluate:
    input:
        data=DATA.format(lang="{lang}", split="test"),
        model=MODEL_MARKER,
        adapter=per_job(lambda wildcards: STUDY.adapter(wildcards.model, wildcards.weights)),
    output:
        predictions=update(PREDICTIONS),
        prov=update(f"{PREDICTIONS}.prov.json"),
    log:
        EVAL_LOG,
    params:
        settings=per_job(lambda wildcards: STUDY.eval_params(wildcards.model, wildcards.prompting)),
    threads: per_job(lambda wildcards: CLUSTER.threads(wildcards.model, "evaluate"))
    resources:
        **model_resources("evaluate"),
    group:
        "eval-{model}"
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/evaluate.py"
