import re
from pathlib import Path

from snakemake.utils import validate

from xlt.config import (
    adapter_names,
    check_config,
    model_setting,
    parse_weights,
    prompt_template,
    weights_names,
)


validate(config, schema="../config/schema.yaml")
BASE_DIR = Path(workflow.basedir)
CONFIG_DIR = Path.cwd() if (Path.cwd() / config["templates_file"]).exists() else BASE_DIR
check_config(config, base_dir=CONFIG_DIR)

MODELS = list(config["models"])
DEMO_MODELS = [m for m in MODELS if "build" in config["models"][m]]
HUB_MODELS = [m for m in MODELS if "hub_id" in config["models"][m]]
NEVER = "(?!x)x"


def alternatives(names):
    """A wildcard constraint that matches exactly these names."""
    return "|".join(re.escape(n) for n in names) or NEVER


wildcard_constraints:
    model=alternatives(MODELS),
    weights=r"base|ft-[a-z0-9]+-s[0-9]+",
    prompting=alternatives(config["prompting"]),
    lang=r"[a-z]{3}_[A-Z][a-z]{3}",


def raw_data_file(lang):
    """Where one language's Belebele rows come from: a local file or the hub download."""
    if config["data"]["source"] == "local":
        return config["data"]["local_pattern"].format(lang=lang)
    return f"results/raw/belebele/{lang}.jsonl"


def get_raw_data(wildcards):
    return raw_data_file(wildcards.lang)


def get_model_marker(wildcards):
    return f"results/models/{wildcards.model}.json"


def get_adapter(wildcards):
    """The adapter directory of fine-tuned weights; nothing for the base weights."""
    if wildcards.weights == "base":
        return []
    return f"results/adapters/{wildcards.model}/{wildcards.weights}"


def get_source_train(wildcards):
    source, _ = parse_weights(wildcards.weights)
    return [f"results/data/{lang}/train.jsonl" for lang in config["sources"][source]]


def get_template(prompting):
    """Input-function factory: the prompt template record of one prompting condition."""
    return prompt_template(config, prompting, CONFIG_DIR).as_record()


def model_resources(rule):
    """Per-model resources of a rule, as Snakemake resource callables."""

    def get(key, default):
        return lambda wildcards: (
            config["models"][wildcards.model].get("resources", {}).get(rule, {}).get(key, default)
        )

    return {"mem_mb": get("mem_mb", 4000), "runtime": get("runtime", 60), "gpu": get("gpus", 0)}


def model_threads(rule):
    return lambda wildcards: (
        config["models"][wildcards.model].get("resources", {}).get(rule, {}).get("cpus", 1)
    )


def cells():
    """Every (model, weights, prompting, lang) cell of the grid."""
    return [
        (model, weights, prompting, lang)
        for model in MODELS
        for weights in weights_names(config)
        for prompting in config["prompting"]
        for lang in config["languages"]
    ]


def get_score_files(wildcards=None):
    return [f"results/scores/{m}/{w}/{p}/{l}.json" for m, w, p, l in cells()]


def get_prediction_files(wildcards=None):
    return [f"results/predictions/{m}/{w}/{p}/{l}.jsonl" for m, w, p, l in cells()]


def get_final_output():
    return [*get_score_files(), "results/tables/scores.csv", "results/tables/deltas.csv"]
