rule download_belebele:
    output:
        RAW_HUB_DATA,
    log:
        "logs/download_belebele/{lang}.log",
    params:
        dataset=STUDY.data.hub_dataset,
        revision=STUDY.data.hub_revision,
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/download_belebele.py"


# Every language's raw rows are checked by their own job first, and everything downstream reads
# the checked copy: a bad line stops the run here, before any job that would replace a finished
# output (a demo model, an adapter) has started.
rule check_data:
    input:
        raw=per_job(lambda wildcards: STUDY.raw_data(wildcards.lang)),
    output:
        checked=ITEMS,
        prov=f"{ITEMS}.prov.json",
    log:
        "logs/check_data/{lang}.log",
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/check_data.py"


rule split:
    input:
        reference=ITEMS.format(lang=STUDY.data.reference),
    output:
        split=SPLIT,
        prov=f"{SPLIT}.prov.json",
    log:
        "logs/split.log",
    params:
        reference=STUDY.data.reference,
        n_test=STUDY.data.n_test,
        seed=STUDY.data.split_seed,
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/split.py"


# Gold answers must match the reference language's for the same id; `data.gold_mismatch: warn`
# keeps them with a warning. A resource, not a param: flipping it must not rebuild every
# language's data and all that follows (`--forcerun prepare_data` checks again).
rule prepare_data:
    input:
        checked=ITEMS,
        split=SPLIT,
        reference=ITEMS.format(lang=STUDY.data.reference),
    output:
        train=DATA.format(lang="{lang}", split="train"),
        test=DATA.format(lang="{lang}", split="test"),
        train_prov=DATA.format(lang="{lang}", split="train") + ".prov.json",
        test_prov=DATA.format(lang="{lang}", split="test") + ".prov.json",
    log:
        "logs/prepare_data/{lang}.log",
    resources:
        gold_mismatch=STUDY.data.gold_mismatch,
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/prepare_data.py"
