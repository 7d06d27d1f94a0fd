# xlt: cross-lingual transfer studies as a build graph. See README.md and config/config.yaml.
from snakemake.utils import min_version

min_version("9.0")


# A study config given with --configfile replaces the demo config instead of being merged into
# it (Snakemake merges mappings recursively, so the demo's models would leak into a study).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/analysis.smk"


rule all:
    input:
        ANALYSIS_OUTPUTS,
    default_target: True
