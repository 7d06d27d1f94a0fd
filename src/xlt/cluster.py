"""Cluster requests: what each model's `finetune` and `evaluate` jobs ask the cluster for.

The `resources.<rule>` entries of the study's models (README, "Resources per model") as
snakemake-executor-plugin-slurm resources, and the threads and GPUs of each job. The workflow
builds one `ClusterRequests` from the study's models, next to the `Study` (rules/common.smk).
Nothing here imports more than the standard library and xlt.study: it runs on every `snakemake`
call.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from xlt.study import MODEL_RULES, ModelSettings

# Model config keys -> snakemake-executor-plugin-slurm resource names (README, "Resources per
# model"). `gpus` is special: see `slurm_request`.
SLURM_NAMES = {
    "cpus": "cpus_per_task",  # --cpus-per-task (threads: the job gets the same number)
    "mem_mb": "mem_mb",  # --mem, per node
    "runtime": "runtime",  # --time, minutes
    "nodes": "nodes",  # --nodes
    "partition": "slurm_partition",  # --partition
    "account": "slurm_account",  # --account
    "constraint": "constraint",  # --constraint
}


def slurm_request(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The plugin resources for one `resources.<rule>` entry of a model; unset keys left out.

    `gpus` counts GPUs per node. On one node that is the plugin's `gpu` (`--gpus=N`, with
    `gpu_model`: `--gpus=<model>:N`); across `nodes` > 1 it is `gres` (`--gres=gpu[:<model>]:N`,
    which SLURM applies per node), since `--gpus` would count the job's total.
    """
    request = {SLURM_NAMES[key]: value for key, value in settings.items() if key in SLURM_NAMES}
    gpus, gpu_model = settings.get("gpus", 0), settings.get("gpu_model")
    if gpus and settings.get("nodes", 1) > 1:
        request["gres"] = ":".join(["gpu", *([gpu_model] if gpu_model else []), str(gpus)])
    elif gpus:
        request["gpu"] = gpus
        if gpu_model:
            request["gpu_model"] = gpu_model
    return request


@dataclass(frozen=True)
class ClusterRequests:
    """The cluster requests of a study's models: plugin resources, threads and GPUs per job."""

    models: Mapping[str, ModelSettings]

    def resources(
        self, model: str, rule: str, defaults: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The plugin resources of one model's `rule` job, from the config alone.

        `defaults` (e.g. the profile's default-resources) fill what the model leaves unset.
        """
        return {**(defaults or {}), **self._requests[(model, rule)]}

    @cached_property
    def _requests(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (name, rule): slurm_request(model.resources.get(rule, {}))
            for name, model in self.models.items()
            for rule in MODEL_RULES
        }

    def threads(self, model: str, rule: str) -> int:
        """Threads of a model's `rule` job: its `cpus` (1 when not set)."""
        return int(self.models[model].resources.get(rule, {}).get("cpus", 1))

    def requested_resources(self, rule: str) -> list[str]:
        """Resource names that some model requests for `rule` (the others stay with defaults)."""
        return sorted({name for model in self.models for name in self.resources(model, rule)})

    def gpus(self, model: str, rule: str) -> int:
        """GPUs per node of a model's `rule` job (0: CPU)."""
        return int(self.models[model].resources.get(rule, {}).get("gpus", 0))


def literal_defaults(args: Iterable[str]) -> dict[str, Any]:
    """Plain `name=value` default resources (as `--default-resources` gives them) as a mapping.

    Integers become ints; quoted strings and bare words (`gpu`, `n1-standard-4`: Snakemake reads
    these as strings too) become strings; expressions such as Snakemake's own
    `min(max(2*input.size_mb, 1000), 8000)` are left out, since they depend on the job.
    """
    found: dict[str, Any] = {}
    for arg in args:
        name, _, value = arg.partition("=")
        value = value.strip()
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            literal = value if re.fullmatch(r"[\w.:/@-]+", value) else None
        if isinstance(literal, int | str) and not isinstance(literal, bool):
            found[name] = literal
    return found
