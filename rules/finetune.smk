# One LoRA adapter per model × source × seed. The adapter directory is written atomically at
# the end and write-protected; checkpoints live hidden beside it
# (results/adapters/{model}/.{weights}.checkpoints/, not an output, so Snakemake keeps them when
# a preempted job fails) and a rerun of the job resumes from the latest one. A job whose
# resources give it more than one GPU (the model's `resources.finetune`: gpus × nodes) is
# launched through accelerate (train.accelerate_config; xlt.train.launch.train_adapter); see README.


rule finetune:
    input:
        model=MODEL_MARKER,
        train=per_job(lambda wildcards: STUDY.source_train(wildcards.weights)),
        split=SPLIT,
    output:
        adapter=protected(directory(ADAPTER)),
        prov=f"{ADAPTER}.prov.json",
    log:
        FINETUNE_LOG,
    params:
        settings=per_job(
            lambda wildcards: STUDY.finetune_params(wildcards.model, wildcards.weights)
        ),
    wildcard_constraints:
        weights=ADAPTER_NAME,
    threads: per_job(lambda wildcards: CLUSTER.threads(wildcards.model, "finetune"))
    resources:
        **model_resources("finetune"),
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/finetune.py"
