rule download_belebele:
    output:
        "results/raw/belebele/{lang}.jsonl",
    log:
        "logs/download_belebele/{lang}.log",
    params:
        dataset=config["data"].get("hub_dataset", "facebook/belebele"),
        revision=config["data"].get("hub_revision"),
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/download_belebele.py"


rule split:
    input:
        reference=raw_data_file(config["data"]["reference"]),
    output:
        split="results/data/split.json",
        prov="results/data/split.json.prov.json",
    log:
        "logs/split.log",
    params:
        reference=config["data"]["reference"],
        n_test=config["data"]["n_test"],
        seed=config["data"]["split_seed"],
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/split.py"


rule prepare_data:
    input:
        raw=get_raw_data,
        split="results/data/split.json",
    output:
        train="results/data/{lang}/train.jsonl",
        test="results/data/{lang}/test.jsonl",
        train_prov="results/data/{lang}/train.jsonl.prov.json",
        test_prov="results/data/{lang}/test.jsonl.prov.json",
    log:
        "logs/prepare_data/{lang}.log",
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/prepare_data.py"
