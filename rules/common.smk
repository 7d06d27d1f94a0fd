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


# Resources of the model-heavy rules (finetune, evaluate) come from the model's config entry
# (`models.<name>.resources.<rule>`), so a 4B and a 671B model get different requests from the
# same rule. slurm_request() maps it to the resource names that snakemake-executor-plugin-slurm
# turns into sbatch options; a local run only looks at threads, mem_mb, runtime and gpu.


def model_resource_settings(model, rule):
    """The `resources.<rule>` entry of a model's config (empty when not set)."""
    return config["models"][model].get("resources", {}).get(rule, {})


def slurm_request(settings):
    """Plugin resources for one model's `resources.<rule>` entry; unset keys are left out.

    `gpus` counts GPUs per node. On one node that is the plugin's `gpu` (`--gpus=N`, with
    `gpu_model`: `--gpus=<model>:N`); across `nodes` > 1 it is `gres` (`--gres=gpu[:<model>]:N`,
    which SLURM applies per node), since `--gpus` would count the job's total.
    """
    names = {
        "cpus": "cpus_per_task",  # --cpus-per-task (threads: gives the job the same number)
        "mem_mb": "mem_mb",  # --mem, per node
        "runtime": "runtime",  # --time, minutes
        "nodes": "nodes",  # --nodes
        "partition": "slurm_partition",  # --partition
        "account": "slurm_account",  # --account
        "constraint": "constraint",  # --constraint
    }
    request = {names[key]: value for key, value in settings.items() if key in names}
    gpus, gpu_model = settings.get("gpus", 0), settings.get("gpu_model")
    if gpus and settings.get("nodes", 1) > 1:
        request["gres"] = ":".join(["gpu", *([gpu_model] if gpu_model else []), str(gpus)])
    elif gpus:
        request["gpu"] = gpus
        if gpu_model:
            request["gpu_model"] = gpu_model
    return request


def profile_default_resource(name, wildcards, input, threads, attempt, rule):
    """What --default-resources (e.g. from the profile) gives `name` for this job, or None.

    A model that sets no partition must still get the profile's partition when another model
    sets one: a rule's resource replaces the default for all of its jobs, so fall back here.
    """
    from snakemake.resources import Resources

    defaults = workflow.resource_settings.default_resources
    if defaults is None:
        return None
    resource = Resources.from_mapping(defaults).get(name)
    if resource.is_evaluable():
        resource = resource.evaluate(
            wildcards,
            input=input,
            threads=threads,
            attempt=attempt,
            rulename=rule,
            async_run=workflow.async_run,
        )
    return resource.value


def model_resource(rule, name):
    """Resource callable: the model's request `name` for `rule`, else the default, else unset."""

    def get(wildcards, input, threads, attempt):
        value = slurm_request(model_resource_settings(wildcards.model, rule)).get(name)
        if value is None:
            value = profile_default_resource(name, wildcards, input, threads, attempt, rule)
        if value is None and name == "mem_mb":
            return 0  # a size resource must be a number; 0 requests nothing (no --mem)
        return value

    return get


def model_resources(rule):
    """Per-model resources of a rule, as Snakemake resource callables.

    Only resources that some model requests for this rule become rule resources, so the others
    (partition, account, ...) stay with the profile's default-resources; a model that lacks one
    that another model sets gets the default (None: not requested). `model_instances=1` lets
    the SLURM profile run a model's grouped evaluation cells one after another in one
    allocation (`--resources model_instances=1`, scope local); it limits nothing elsewhere.
    """
    names = {
        name for model in MODELS for name in slurm_request(model_resource_settings(model, rule))
    }
    resources = {name: model_resource(rule, name) for name in sorted(names)}
    resources["model_instances"] = 1
    return resources


def model_threads(rule):
    """Threads of a rule's job: the model's `cpus` for the rule (1 when not set)."""
    return lambda wildcards: model_resource_settings(wildcards.model, rule).get("cpus", 1)


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
    """What `snakemake` builds: every cell's scores and the analysis (rules/analysis.smk).

    With `analysis.predictions_dir` set, only the analysis of that external tree.
    """
    return [*ANALYSIS_SCORES, *ANALYSIS_OUTPUTS]
