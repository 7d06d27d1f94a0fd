# xlt: cross-lingual transfer studies as a build graph. See README.md and config/config.yaml.
from snakemake.utils import min_version

from xlt.io import read_yaml
from xlt.provenance.jobs import config_errors_exit
from xlt.snakemake_internals import (
    before_output_deletion,
    configfiles_given,
    is_touch_run,
    planned_jobs,
)

min_version("9.0")


# `snakemake --report`: what the study is and how to read its tables (captions in report/).
report: "report/workflow.rst"


# A study config given with --configfile replaces the demo config instead of being merged into
# it (Snakemake merges mappings recursively, so the demo's models would leak into a study).
# Read by xlt first: a YAML syntax error or a key given twice is named by file and line.
if not configfiles_given(workflow):
    with config_errors_exit():
        read_yaml("config/config.yaml")

    configfile: "config/config.yaml"


include: "rules/common.smk"


# An analysis of predictions made elsewhere (`analysis.predictions_dir`) runs the analysis only.
if not ANALYSIS.external:

    include: "rules/data.smk"
    include: "rules/models.smk"
    include: "rules/finetune.smk"
    include: "rules/evaluate.smk"


include: "rules/analysis.smk"


# The price of the grid and the pilot's table (results/cost/): for the workflow's own grid.
if not ANALYSIS.external:

    include: "rules/cost.smk"


# `--delete-all-output` and `--delete-temp-output` never reach `onstart`: refused here while a
# finished adapter exists, as root too (README, "When something goes wrong").
if not ANALYSIS.external:
    before_output_deletion(workflow, refuse_deletion)


rule all:
    input:
        ANALYSIS_OUTPUTS,
        [] if ANALYSIS.external else COST_OUTPUTS,
    default_target: True


# Before any job runs (and Snakemake removes its outputs): the data files that the run will
# check are read first, so a bad line is reported as such; then a planned rebuild of a finished
# adapter stops the run, as root too (README, "When something goes wrong").
onstart:
    with config_errors_exit():
        planned = planned_jobs(workflow)
        check_data_files(p.job.input.raw for p in planned if p.rule == "check_data")
        # `--touch` deletes nothing: it is how a user accepts a finished adapter as it is.
        if not is_touch_run(workflow):
            refuse_rebuilds(
                PlannedTraining(
                    adapter=p.job.output.adapter,
                    params=dict(p.job.params.settings),
                    inputs={"model": p.job.input.model, "train": list(p.job.input.train)},
                    reason=p.reason,
                )
                for p in planned
                if p.rule == "finetune"
            )


onsuccess:
    if not is_touch_run(workflow):
        print(run_summary(STUDY, ANALYSIS.root), file=sys.stderr)
