"""Finished adapters are never replaced by a rerun, whoever runs it.

Snakemake removes a job's outputs just before the job runs. For an adapter, hours or days of
GPU time, that must not happen silently: `protected()` only stops users who cannot write the
file (root can), so the workflow checks the plan itself before any job starts. Every planned
`finetune` job whose adapter directory exists stops the run with a message naming the adapter,
what changed since it was trained (its recorded parameters and input hashes against the
current ones) and how to keep or move it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlt.errors import DataError, XltError
from xlt.io import read_json, read_jsonl, sha256_path
from xlt.provenance import read_provenance, resolve_recorded


class AdapterRebuildError(XltError):
    """A run would retrain (and so first delete) a finished adapter."""


@dataclass(frozen=True)
class PlannedTraining:
    """A planned finetune job: its adapter directory, params, inputs and Snakemake's reason."""

    adapter: str
    params: Mapping[str, Any]
    inputs: Mapping[str, str | list[str]]
    reason: str = ""


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        found: dict[str, Any] = {}
        for key, item in value.items():
            found.update(_flatten(f"{prefix}.{key}" if prefix else str(key), item))
        return found
    return {prefix: value}


def changed_settings(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """`key: old → new` for every setting that differs (nested keys joined by dots)."""
    old, new = _flatten("", recorded), _flatten("", current)
    changes = []
    for key in sorted(set(old) | set(new)):
        if json.dumps(old.get(key), sort_keys=True) != json.dumps(new.get(key), sort_keys=True):
            changes.append(f"{key}: {old.get(key, '(unset)')!r} → {new.get(key, '(unset)')!r}")
    return changes


def changed_inputs(
    recorded: Mapping[str, Any], current: Mapping[str, str | list[str]]
) -> list[str]:
    """Inputs whose content differs from what the adapter was trained on."""
    hashes = {}
    for value in recorded.values():
        for entry in value if isinstance(value, list) else [value]:
            hashes[entry["path"]] = entry["sha256"]
    changes = []
    for value in current.values():
        for path in [value] if isinstance(value, str) else value:
            known = hashes.get(path)
            exists = resolve_recorded(path).exists()
            if known is None:
                changes.append(f"{path} (new input)")
            elif exists and sha256_path(path) != known:
                changes.append(f"{path} (content changed)")
    return changes


def damaged_inputs(current: Mapping[str, str | list[str]]) -> list[tuple[str, str]]:
    """(path, what is wrong) for each JSON or JSONL input (a model marker, training data) that
    cannot be read: a damaged file, which Snakemake sees only as a changed one."""
    readers = {".json": read_json, ".jsonl": read_jsonl}
    found = []
    for value in current.values():
        for path in [value] if isinstance(value, str) else value:
            reader = readers.get(Path(path).suffix)
            if reader and Path(path).is_file():
                try:
                    reader(path)
                except DataError as exc:
                    problem = str(exc).split("; fix or remove that line")[0].removesuffix(".")
                    found.append((path, problem))
    return found


def explain_rebuild(planned: PlannedTraining) -> str | None:
    """Why rerunning this job would replace a finished adapter, or None if none exists."""
    adapter = Path(planned.adapter)
    if not adapter.exists() or not any(adapter.iterdir()):
        return None
    damaged = damaged_inputs(planned.inputs)
    if damaged:
        path, problem = damaged[0]
        return (
            f"{adapter} is a finished adapter and this run would retrain it, because an input "
            f"changed: {problem}. That file is damaged, not changed, and the adapter is "
            f"intact: restore {path} from a backup, or remake only it (`snakemake --cores 1 "
            f"--forcerun {path} -- {path}`, which reruns the rule that made it), then keep the "
            f"adapter with `snakemake --touch {adapter}`."
        )
    try:
        record = read_provenance(adapter)
    except (FileNotFoundError, XltError):
        record = {}
    changes = changed_settings(record.get("params", {}), planned.params) if record else []
    changes += changed_inputs(record.get("inputs", {}), planned.inputs) if record else []
    touch = (
        f"`snakemake --touch {adapter}` (with this run's --configfile; the cells evaluated "
        "with it then rerun, as it is newer than their predictions)"
    )
    if not record:
        what = "it has no provenance sidecar"
        keep = f"run {touch}"
    elif changes:
        what = "; ".join(changes[:4]) + ("; ..." if len(changes) > 4 else "")
        keep = f"restore the settings, or run {touch} if the change should not retrain it"
    elif "code has changed" in planned.reason.lower():
        # An upgrade or an edit of the training script: the settings and data are the same.
        what = (
            "the finetune rule's code changed since it was trained; its settings and data did not"
        )
        keep = (
            "run with `--rerun-triggers mtime params input` (code changes then rerun nothing), "
            f"or {touch}"
        )
    elif "forced" in planned.reason.lower():
        what = "the command forces it: --forcerun, --forceall, -R or --forcetargets"
        keep = "run without forcing it (force only the rules after it, e.g. `--forcerun evaluate`)"
    else:
        what = (
            "what it was trained from would be made again first; Snakemake says: "
            f"{planned.reason or 'rerun'}"
        )
        keep = f"find what changed upstream and restore it, or run {touch}"
    return (
        f"{adapter} is a finished adapter and this run would retrain it, replacing it ({what}). "
        f"Finished adapters are never replaced: to keep it, {keep}; to train anew, move it "
        f"aside first (mv {adapter} {adapter}.old; mv {adapter}.prov.json "
        f"{adapter}.old.prov.json)."
    )


def refuse_rebuilds(planned: Iterable[PlannedTraining]) -> None:
    """Raise AdapterRebuildError naming the first (by path) planned job that would replace a
    finished adapter, and how many others would."""
    messages = [
        message
        for job in sorted(planned, key=lambda job: job.adapter)
        if (message := explain_rebuild(job))
    ]
    if messages:
        others = len(messages) - 1
        more = f" ({others} other finished adapter(s) likewise.)" if others else ""
        raise AdapterRebuildError(messages[0] + more)


def finished(adapter: str | Path) -> bool:
    """Whether `adapter` is a finished adapter directory (it exists and is not empty)."""
    path = Path(adapter)
    return path.is_dir() and any(path.iterdir())


def retire_hint(adapter: str | Path) -> str:
    """The commands that retire a finished adapter: move it and its sidecar out of results/."""
    adapter = Path(adapter)
    aside = Path("retired") / adapter.parent.name
    return f"mkdir -p {aside} && mv {adapter} {adapter}.prov.json {aside}/"


def refuse_output_deletion(adapters: Iterable[str], only_temp: bool) -> None:
    """Raise AdapterRebuildError when `snakemake --delete-all-output` (or
    `--delete-temp-output`) runs while any of the workflow's `adapters` is finished.

    Both are refused, whatever a rule's output flags say today, so that no change to a rule
    can make either command take an adapter; the user retires an adapter by moving it.
    """
    found = sorted(str(a) for a in adapters if finished(a))
    if not found:
        return
    command = "--delete-temp-output" if only_temp else "--delete-all-output"
    raise AdapterRebuildError(
        f"snakemake {command} is refused while the workflow has finished adapters "
        f"({len(found)}: {', '.join(found)}): no Snakemake command deletes a finished adapter. "
        f"To retire one, move it and its sidecar out of results/ by hand "
        f"({retire_hint(found[0])}); once none is left, the command runs."
    )
