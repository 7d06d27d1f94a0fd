"""The finished adapter: PEFT's files and the training summary, written so that identical runs
give identical bytes, and the run facts (wall time, resumes) kept beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xlt.io import atomic_dir, read_json, write_json
from xlt.train.checkpoints import adapter_state, sync_files

SUMMARY_FILE = "xlt_training.json"
# Facts of how a run went, not of what it made (wall time, where it resumed): they stay out of
# the adapter directory, so that identical runs give byte-identical adapters and output hashes.
RUN_FACTS = ("seconds", "resumed_from")


def save_adapter(accelerator: Any, model: Any, out_dir: Path, summary: dict[str, Any]) -> None:
    """Gather the adapter (every process takes part) and write it from the main process only,
    atomically, with the training summary beside it.

    The directory is a pure function of the run's inputs: the summary inside leaves out
    `RUN_FACTS` (kept in `run_facts_path(out_dir)`), and PEFT's unordered config fields are
    sorted, so two identical runs write the same bytes.
    """
    weights = adapter_state(accelerator, model)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        with atomic_dir(out_dir) as tmp:
            unwrapped.save_pretrained(tmp, state_dict=weights)
            sort_unordered_config(unwrapped, Path(tmp))
            made = {k: v for k, v in summary.items() if k not in RUN_FACTS}
            write_json(Path(tmp) / SUMMARY_FILE, made)
            sync_files(Path(tmp))  # on disk before the rename publishes it
        write_json(run_facts_path(out_dir), {k: summary[k] for k in RUN_FACTS if k in summary})
    accelerator.wait_for_everyone()


def sort_unordered_config(model: Any, directory: Path) -> None:
    """Rewrite `adapter_config.json` with the fields PEFT holds as sets (`target_modules`, ...)
    sorted: PEFT writes a set in hash order, which changes from one process to the next."""
    from peft.utils import CONFIG_NAME

    config = model.peft_config["default"]
    unordered = [key for key, value in config.to_dict().items() if isinstance(value, set)]
    if not unordered:
        return
    path = directory / CONFIG_NAME
    record = json.loads(path.read_text(encoding="utf-8"))
    for key in unordered:
        record[key] = sorted(record[key])
    # PEFT's own layout (indent 2, sorted keys, no final newline), so only the order changes.
    path.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")


def run_facts_path(out_dir: str | Path) -> Path:
    """Where the run facts of an adapter (wall time, resumed steps) are kept: hidden beside it."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.run.json"


def read_summary(out_dir: str | Path) -> dict[str, Any]:
    """The training summary of a written adapter, with its run facts when they are there."""
    summary = read_json(Path(out_dir) / SUMMARY_FILE)
    facts = run_facts_path(out_dir)
    return {**summary, **(read_json(facts) if facts.exists() else {})}
