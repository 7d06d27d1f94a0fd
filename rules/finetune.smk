# One LoRA adapter per model × source × seed. The adapter directory is written atomically at
# the end and write-protected; checkpoints live hidden beside it
# (results/adapters/{model}/.{weights}.checkpoints/, not an output, so Snakemake keeps them when
# a preempted job fails) and a rerun of the job resumes from the latest one. Models with more
# than one GPU are launched through accelerate (train.accelerate_config); see README.


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
        quantization=lambda wildcards: config["models"][wildcards.model].get(
            "quantization", "none"
        ),
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
