# xlt: cross-lingual transfer studies as a build graph. See README.md and config/config.yaml.
from snakemake.utils import min_version

min_version("9.0")


# A study config given with --configfile replaces the demo config instead of being merged into
# it (Snakemake merges mappings recursively, so the demo's models would leak into a study).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"


# An analysis of predictions made elsewhere (`analysis.predictions_dir`) runs the analysis only.
if not STUDY.external:

    include: "rules/data.smk"
    include: "rules/models.smk"
    include: "rules/finetune.smk"
    include: "rules/evaluate.smk"


include: "rules/analysis.smk"


rule all:
    input:
        ANALYSIS_OUTPUTS,
    default_target: True


# Before any job runs (and Snakemake removes its outputs): the data files that the run will
# check are read first, so a bad line is reported as such; then a planned rebuild of a finished
# adapter stops the run, as root too (README, "When something goes wrong").
onstart:
    with config_errors_exit():
        planned = list(workflow.dag.needrun_jobs())
        check_data_files(job.input.raw for job in planned if job.rule.name == "check_data")
        # `--touch` deletes nothing: it is how a user accepts a finished adapter as it is.
        if not workflow.touch:
            refuse_rebuilds(
                PlannedTraining(
                    adapter=job.output.adapter,
                    params=dict(job.params.settings),
                    inputs={"model": job.input.model, "train": list(job.input.train)},
                    reason=str(workflow.dag.reason(job)),
                )
                for job in planned
                if job.rule.name == "finetune"
            )


onsuccess:
    if not workflow.touch:
        print(run_summary(STUDY, STUDY.analysis_root), file=sys.stderr)
