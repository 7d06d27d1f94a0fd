"""The few Snakemake internals the workflow needs, in one place.

Snakemake's public interface (the Snakefile language, the plugin interfaces, the command line)
does not say which jobs a run has planned or why, and the adapter guard must know that before
any job runs; planning speed needs to tell Snakemake a function's parameters. Each such use is
one function here, and `tests/test_snakemake_internals.py` runs every one against the installed
Snakemake, so a release that moves them fails that test by name, not a user's run.

When an internal is gone at run time, the workflow stops with one `xlt: error:` line that names
the Snakemake version and the way back (the locked versions), never with a traceback.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from xlt.errors import XltError


class SnakemakeInterfaceError(XltError):
    """An internal of Snakemake that xlt relies on has moved in the installed release."""


def snakemake_version() -> str:
    """The installed Snakemake release."""
    return version("snakemake")


def moved(what: str, error: Exception) -> SnakemakeInterfaceError:
    """The error for an internal that is not where xlt expects it."""
    return SnakemakeInterfaceError(
        f"Snakemake {snakemake_version()} no longer offers {what} ({type(error).__name__}: "
        f"{error}), which xlt needs; install the locked versions "
        "(`pip install -r requirements/lock-cpu.txt`, README) or a Snakemake release "
        "that xlt's lock names"
    )


@dataclass(frozen=True)
class PlannedJob:
    """A job Snakemake will run, and Snakemake's own words for why."""

    job: Any
    rule: str
    reason: str


def planned_jobs(workflow: Any) -> list[PlannedJob]:
    """The jobs this run will execute, with their reasons (`workflow.dag`, an internal)."""
    try:
        dag = workflow.dag
        return [
            PlannedJob(job=job, rule=job.rule.name, reason=str(dag.reason(job)))
            for job in dag.needrun_jobs()
        ]
    except (AttributeError, TypeError) as error:
        raise moved("workflow.dag.needrun_jobs() and workflow.dag.reason(job)", error) from None


def declare_params(function: Callable) -> Callable:
    """Tell Snakemake the parameters of an input/params/resources function once.

    Snakemake inspects such a function's signature each time it calls it, several times a job,
    which dominates planning at scale; `snakemake.common.overwrite_function_params` (an internal)
    stores the answer. Without it planning is slower, not wrong, so a moved internal is an error
    only in the test that watches it.
    """
    try:
        from snakemake.common import overwrite_function_params
    except ImportError:
        return function
    overwrite_function_params(function, inspect.signature(function).parameters)
    return function


def default_resource_args(workflow: Any) -> list[str]:
    """The profile's `default-resources` as given (`name=value` strings), or none."""
    try:
        defaults = workflow.resource_settings.default_resources
        return list(defaults.args) if defaults else []
    except AttributeError as error:
        raise moved("workflow.resource_settings.default_resources.args", error) from None


def is_touch_run(workflow: Any) -> bool:
    """Whether this run only touches outputs (`--touch`), which deletes nothing."""
    try:
        return bool(workflow.touch)
    except AttributeError as error:
        raise moved("workflow.touch", error) from None


def configfiles_given(workflow: Any) -> bool:
    """Whether the command line named config files (`--configfile`), which then replace the
    Snakefile's default config instead of being merged into it."""
    try:
        return bool(workflow.overwrite_configfiles)
    except AttributeError as error:
        raise moved("workflow.overwrite_configfiles", error) from None


def config_file_paths(workflow: Any) -> list[str]:
    """The config files this run read: those given with `--configfile`, then those the
    Snakefile's `configfile:` loaded (`workflow.configfiles`, an internal)."""
    try:
        return [str(path) for path in workflow.configfiles]
    except (AttributeError, TypeError) as error:
        raise moved("workflow.configfiles", error) from None


def before_output_deletion(workflow: Any, check: Callable[[bool], None]) -> None:
    """Call `check(only_temp)` before `--delete-all-output` (False) or `--delete-temp-output`
    (True) deletes anything; `check` stops the run by raising.

    Those commands never reach `onstart`: Snakemake calls `workflow.delete_output` (an
    internal) on the parsed workflow instead of running it, so the parsed workflow's method is
    wrapped. A dry run (`-n`) deletes nothing and is let through.
    """
    try:
        delete_output = workflow.delete_output
    except AttributeError as error:
        raise moved("workflow.delete_output", error) from None

    def guarded(*args: Any, **kwargs: Any) -> Any:
        parameters = inspect.signature(delete_output).bind(*args, **kwargs)
        parameters.apply_defaults()
        if not parameters.arguments.get("dryrun", False):
            check(bool(parameters.arguments.get("only_temp", False)))
        return delete_output(*args, **kwargs)

    workflow.delete_output = guarded
