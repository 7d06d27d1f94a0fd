# The study's grid and settings come from one object, xlt.study.Study, built once from the
# validated config; its models' cluster requests (CLUSTER, xlt.cluster) and the cells the analysis
# reads (ANALYSIS, xlt.discovery) are built from it. The rules only declare files and read these.
import re
import sys
from pathlib import Path

from xlt.cluster import ClusterRequests, literal_defaults
from xlt.cost import PILOT_DIR, counted_files
from xlt.config import check_config, check_config_files, check_data_sizes, validate_config
from xlt.data.belebele import check_data_files
from xlt.discovery import AnalysisInputs
from xlt.provenance.jobs import config_errors_exit
from xlt.lock import use_checkout_source
from xlt.snakemake_internals import config_file_paths, declare_params, default_resource_args
from xlt.summary import run_summary
from xlt.train.guard import PlannedTraining, refuse_output_deletion, refuse_rebuilds
from xlt.study import (
    ADAPTER,
    DATA,
    EVAL_LOG,
    FINETUNE_LOG,
    ITEMS,
    LANG_CODE,
    MODEL_DIR,
    MODEL_MARKER,
    PREDICTIONS,
    RAW_HUB_DATA,
    SPLIT,
    WEIGHTS_NAME,
    ADAPTER_NAME,
    Study,
)


BASE_DIR = Path(workflow.basedir)
# Rule scripts import this checkout's xlt, also in a rule's conda environment (envs/xlt.yaml).
use_checkout_source(BASE_DIR)
# A bad config stops here, before any job, with one line: `xlt: error: <key, problem, fix>`.
with config_errors_exit():
    check_config_files(config_file_paths(workflow))  # a key given twice, by file and lines
    validate_config(config, BASE_DIR / "config" / "schema.yaml")
    templates = config.get("templates_file", "config/templates.yaml")
    CONFIG_DIR = Path(".") if Path(templates).exists() else BASE_DIR
    check_config(config, base_dir=CONFIG_DIR)
    STUDY = Study.from_config(config, base_dir=CONFIG_DIR)
    ANALYSIS = AnalysisInputs(STUDY)
    if not ANALYSIS.external:
        check_data_sizes(STUDY.config, STUDY.raw_data(STUDY.data.reference))
    ANALYSIS.cells  # a bad predictions tree or undeclared source stops the run here
CLUSTER = ClusterRequests(STUDY.models)
# The profile's plain default resources (partition, account, ...): a model that leaves a key
# unset that another model sets gets the default instead of nothing.
PROFILE_DEFAULTS = literal_defaults(default_resource_args(workflow))


def per_job(function):
    """Mark an input, params, threads or resources function as taking only the wildcards.

    Snakemake inspects a function's signature each time it calls it, several times per job, which
    dominates planning at scale (12,000 cells: ~0.3 million inspections); told the parameters,
    it skips that.
    """
    return declare_params(function)


def refuse_deletion(only_temp):
    """`--delete-all-output` (`--delete-temp-output` when `only_temp`) while a finished adapter
    exists: one `xlt: error:` line naming them and how to retire one, exit status 1."""
    with config_errors_exit():
        refuse_output_deletion(STUDY.adapters(), only_temp)


def alternatives(names):
    """A wildcard constraint that matches exactly these names (never, when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


wildcard_constraints:
    model=alternatives(STUDY.models),
    weights=WEIGHTS_NAME,
    prompting=alternatives(STUDY.promptings),
    lang=LANG_CODE,


def model_resources(rule):
    """Resources of a model's `rule` jobs, as Snakemake resource callables of the wildcards.

    Only names some model requests become rule resources (the rest stay with the profile).
    `model_instances=1` lets the SLURM profile run a model's grouped evaluation cells one after
    another in one allocation (scope local); it limits nothing elsewhere.
    """
    resources = {
        name: per_job(
            lambda wildcards, name=name: CLUSTER.resources(
                wildcards.model, rule, PROFILE_DEFAULTS
            ).get(name, 0 if name == "mem_mb" else None)
        )
        for name in CLUSTER.requested_resources(rule)
    }
    return {**resources, "model_instances": 1}


def table(name, caption=None):
    """An analysis table (rules/analysis.smk), captioned in the report when `caption` is given.

    `update()`: Snakemake keeps the previous version while the job reruns and puts it back if
    the job fails, so bad input never costs the last good tables.
    """
    path = update(f"{ANALYSIS.root}/tables/{name}.csv")
    return report(path, caption=f"../report/{caption}.rst", category="Tables") if caption else path


def sidecar(path):
    """The provenance sidecar of an analysis output (kept and restored like the output)."""
    return update(f"{path}.prov.json")
