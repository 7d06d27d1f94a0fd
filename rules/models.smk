# Every model has a marker, results/models/{model}.json (where to load it from, which revision):
# the one model input of every later rule. How the marker is made depends on the model's origin.


rule build_demo_model:
    input:
        corpus=per_job(
            lambda wildcards: [
                ITEMS.format(lang=lang) for lang in STUDY.models[wildcards.model].build["corpus"]
            ]
        ),
    output:
        model=directory(MODEL_DIR),
        marker=MODEL_MARKER,
        prov=f"{MODEL_MARKER}.prov.json",
    log:
        "logs/build_demo_model/{model}.log",
    params:
        spec=per_job(lambda wildcards: STUDY.models[wildcards.model].build),
        chat=per_job(lambda wildcards: STUDY.models[wildcards.model].chat),
    wildcard_constraints:
        model=alternatives(STUDY.models_from("build")),
    threads: 2
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/build_demo_model.py"


rule download_model:
    output:
        marker=MODEL_MARKER,
        prov=f"{MODEL_MARKER}.prov.json",
    log:
        "logs/download_model/{model}.log",
    params:
        hub_id=per_job(lambda wildcards: STUDY.models[wildcards.model].hub_id),
        revision=per_job(lambda wildcards: STUDY.models[wildcards.model].revision),
    wildcard_constraints:
        model=alternatives(STUDY.models_from("hub_id")),
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/download_model.py"


rule register_model:
    input:
        weights=per_job(lambda wildcards: STUDY.models[wildcards.model].path),
    output:
        marker=MODEL_MARKER,
        prov=f"{MODEL_MARKER}.prov.json",
    log:
        "logs/register_model/{model}.log",
    wildcard_constraints:
        model=alternatives(STUDY.models_from("path")),
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/register_model.py"


rule convert_gguf:
    input:
        gguf=per_job(lambda wildcards: STUDY.gguf_file(wildcards.model)),
    output:
        model=directory(MODEL_DIR),
        marker=MODEL_MARKER,
        prov=f"{MODEL_MARKER}.prov.json",
    log:
        "logs/convert_gguf/{model}.log",
    params:
        gguf=per_job(lambda wildcards: STUDY.gguf_params(wildcards.model)),
    wildcard_constraints:
        model=alternatives(STUDY.models_from("gguf")),
    threads: 2
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/convert_gguf.py"
