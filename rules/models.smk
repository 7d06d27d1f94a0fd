rule build_demo_model:
    input:
        corpus=lambda wildcards: [
            raw_data_file(lang) for lang in config["models"][wildcards.model]["build"]["corpus"]
        ],
    output:
        model=directory("results/models/{model}"),
        marker="results/models/{model}.json",
        prov="results/models/{model}.json.prov.json",
    log:
        "logs/build_demo_model/{model}.log",
    params:
        spec=lambda wildcards: config["models"][wildcards.model]["build"],
        chat=lambda wildcards: config["models"][wildcards.model]["chat"],
    wildcard_constraints:
        model=alternatives(DEMO_MODELS),
    threads: 2
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/build_demo_model.py"


rule download_model:
    output:
        marker="results/models/{model}.json",
        prov="results/models/{model}.json.prov.json",
    log:
        "logs/download_model/{model}.log",
    params:
        hub_id=lambda wildcards: config["models"][wildcards.model]["hub_id"],
        revision=lambda wildcards: config["models"][wildcards.model].get("revision"),
    wildcard_constraints:
        model=alternatives(HUB_MODELS),
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/download_model.py"
