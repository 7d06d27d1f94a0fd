rule finetune:
    input:
        model=get_model_marker,
        train=get_source_train,
        split="results/data/split.json",
    output:
        adapter=protected(directory("results/adapters/{model}/{weights}")),
        prov="results/adapters/{model}/{weights}.prov.json",
    log:
        "logs/finetune/{model}/{weights}.log",
    params:
        lora=lambda wildcards: model_setting(config, wildcards.model, "lora"),
        train=lambda wildcards: model_setting(config, wildcards.model, "train"),
        seed=lambda wildcards: parse_weights(wildcards.weights)[1],
        template=get_template("direct"),
        chat=lambda wildcards: config["models"][wildcards.model]["chat"],
    wildcard_constraints:
        weights=r"ft-[a-z0-9]+-s[0-9]+",
    threads: model_threads("finetune")
    resources:
        **model_resources("finetune"),
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/finetune.py"
