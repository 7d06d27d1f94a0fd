rule evaluate:
    input:
        data="results/data/{lang}/test.jsonl",
        model=get_model_marker,
        adapter=get_adapter,
    output:
        predictions="results/predictions/{model}/{weights}/{prompting}/{lang}.jsonl",
        prov="results/predictions/{model}/{weights}/{prompting}/{lang}.jsonl.prov.json",
    log:
        "logs/evaluate/{model}/{weights}/{prompting}/{lang}.log",
    params:
        template=lambda wildcards: get_template(wildcards.prompting),
        chat=lambda wildcards: config["models"][wildcards.model]["chat"],
        dtype=lambda wildcards: config["models"][wildcards.model].get("dtype", "auto"),
        batch_size=lambda wildcards: config["models"][wildcards.model].get(
            "eval_batch_size", config["evaluate"].get("batch_size", 8)
        ),
        max_length=config["evaluate"].get("max_length"),
        max_new_tokens=lambda wildcards: config["evaluate"]["max_new_tokens"][wildcards.prompting],
        extraction=config["evaluate"]["extraction"],
        backend=lambda wildcards: config["models"][wildcards.model].get("backend", "hf"),
    threads: model_threads("evaluate")
    resources:
        **model_resources("evaluate"),
    group:
        "eval-{model}"
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/evaluate.py"


rule score:
    input:
        predictions="results/predictions/{model}/{weights}/{prompting}/{lang}.jsonl",
    output:
        scores="results/scores/{model}/{weights}/{prompting}/{lang}.json",
        prov="results/scores/{model}/{weights}/{prompting}/{lang}.json.prov.json",
    log:
        "logs/score/{model}/{weights}/{prompting}/{lang}.log",
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/score.py"
