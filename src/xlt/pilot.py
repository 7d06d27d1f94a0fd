"""A pilot of a study: every model's real path, in minutes, before the study's week.

`xlt pilot CONFIG` derives, for each model of a study config, a pilot config (`pilot_config`):
the same model entry (origin, dtype, backend, chat template, LoRA targets, batch size, sequence
length, launcher and resources), a few fine-tuning steps (`train.max_steps`; a checkpoint is
written midway, the job then stops as if preempted and Snakemake's retry resumes it), `items`
held-out questions, two evaluated languages of different scripts and
one source and seed. It then runs the study's own workflow on it, one Snakemake run per model,
in `results/pilot/runs/{model}/` (so nothing of the study's `results/` is written; a failing
model does not stop the others), with the Snakemake arguments the user gives (a SLURM profile:
the jobs get the model's real requests). From the sidecars it writes
`results/pilot/{model}.json` and the table `results/pilot/pilot.csv`: pass or fail with the
one-line error, peak accelerator and host memory, training tokens/s, items/s per prompting,
mean generated tokens for CoT, load time. A rerun repeats only the models that did not pass.
`xlt cost CONFIG --pilot` then prices the study with the measured rates.
"""

from __future__ import annotations

import copy
import csv
import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xlt.provenance.jobs import ERROR_PREFIX
from xlt.study import MODEL_MARKER, Study

PILOT_DIR = "results/pilot"
STEPS = 10
ITEMS = 8
COLUMNS = (
    "model",
    "status",
    "error",
    "load_s",
    "prepare_model_s",
    "train_tokens_per_s",
    "train_tokens_per_example",
    "items_per_s_direct",
    "items_per_s_cot",
    "cot_mean_generated_tokens",
    "resumed_from_step",
    "peak_accelerator_mb",
    "peak_host_mb",
    "seconds",
)


def pilot_languages(languages: Sequence[str]) -> list[str]:
    """Two evaluated languages of different scripts (the first two when all share one)."""
    from xlt.languages import language

    first = languages[0]
    other = next((c for c in languages[1:] if language(c).script != language(first).script), None)
    return [first, other] if other else list(languages[:2])


def _absolute(path: str, base_dir: Path) -> str:
    """A config path made absolute (the pilot runs in its own directory)."""
    expanded = Path(path).expanduser()
    return str(expanded if expanded.is_absolute() else (base_dir / expanded).resolve())


def pilot_config(
    config: Mapping[str, Any],
    model: str,
    steps: int = STEPS,
    items: int = ITEMS,
    base_dir: str | Path = ".",
) -> dict[str, Any]:
    """The config of one model's pilot: the study's, cut to `steps` training steps, `items`
    test questions, two languages, one source and one seed; paths made absolute."""
    base_dir = Path(base_dir).resolve()
    pilot = copy.deepcopy(dict(config))
    entry = copy.deepcopy(dict(config["models"][model] or {}))
    train = dict(entry.get("train", {}))
    train["max_steps"] = steps
    # A checkpoint midway, then the job stops as if preempted; the retry resumes from it.
    train["checkpoint_every"] = max(1, steps // 2)
    train["preempt_at_step"] = max(1, steps // 2)
    entry["train"] = train
    if "path" in entry:
        entry["path"] = _absolute(entry["path"], base_dir)
    if "gguf" in entry and "package" not in entry["gguf"]:
        entry["gguf"] = {**entry["gguf"], "file": _absolute(entry["gguf"]["file"], base_dir)}
    pilot["models"] = {model: entry}
    source = next(iter(config["sources"]))
    pilot["sources"] = {source: list(config["sources"][source])}
    pilot["seeds"] = [config["seeds"][0]]
    pilot["languages"] = pilot_languages(config["languages"])
    pilot["data"] = {**config["data"], "n_test": items}
    if config["data"].get("local_pattern"):
        pilot["data"]["local_pattern"] = _absolute(config["data"]["local_pattern"], base_dir)
    pilot["templates_file"] = _absolute(config["templates_file"], base_dir)
    return pilot


def pilot_targets(study: Study) -> list[str]:
    """The files a pilot makes: every adapter and every predictions file of its grid."""
    return [*study.adapters(), *(cell.predictions() for cell in study.cells)]


def first_error(run_dir: Path, output: str) -> str:
    """The one line that says why a pilot failed: the first `xlt: error:` of a job log, else
    of Snakemake's output, else the first exception a job raised, else the last line that
    names an error."""
    for log in sorted((run_dir / "logs").rglob("*.log")) if (run_dir / "logs").exists() else []:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(ERROR_PREFIX):
                return f"{log.relative_to(run_dir)}: {line[len(ERROR_PREFIX) :]}"[:400]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if ERROR_PREFIX in line:
            return line[line.index(ERROR_PREFIX) + len(ERROR_PREFIX) :][:400]
    # The exception a job's script raised (Snakemake's own wrappers name no cause).
    wrappers = ("CalledProcessError", "RuleException", "WorkflowError")
    raised = [
        line
        for line in lines
        if re.match(r"^[\w.]*(Error|Exception): \S", line) and not line.startswith(wrappers)
    ]
    if raised:
        return raised[0][:400]
    named = [line for line in lines if "error" in line.lower() or "exception" in line.lower()]
    return (named[-1] if named else lines[-1] if lines else "snakemake failed")[:400]


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _generated_tokens(run_dir: Path, marker: str, generations: list[str]) -> float | None:
    """Mean tokens of the CoT generations, counted with the model's own tokenizer."""
    if not generations:
        return None
    import contextlib

    try:
        from xlt.models.loading import ModelRef, load_tokenizer

        with contextlib.chdir(run_dir):  # the marker's paths are relative to the pilot's run
            tokenizer = load_tokenizer(ModelRef.load(marker))
        counts = [
            len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in generations
        ]
    except Exception:  # a count is a nicety; the pilot passed
        return None
    return round(sum(counts) / len(counts), 1)


def collect(run_dir: Path, study: Study, model: str) -> dict[str, Any]:
    """The measurements of a finished pilot, from its sidecars and predictions."""
    settings = study.models[model]
    peaks: list[Mapping[str, Any]] = []
    tokens = seconds = sequences = 0.0
    resumed: list[int] = []
    for adapter in study.adapters():
        prov = _read(run_dir / f"{adapter}.prov.json")
        training = prov.get("training", {})
        resumed += training.get("resumed_from", [])
        tokens += training.get("tokens", 0)
        seconds += training.get("seconds", 0)
        sequences += training.get("steps", 0) * int(settings.train["batch_size"])
        peaks.append(prov.get("peak_memory") or {})
    loads: list[float] = []
    items = {p: 0.0 for p in study.promptings}
    predict = {p: 0.0 for p in study.promptings}
    generations: list[str] = []
    for cell in study.cells:
        prov = _read(run_dir / f"{cell.predictions()}.prov.json")
        measured = prov.get("measured", {})
        if measured.get("items_predicted"):
            loads.append(measured.get("load_s", 0.0))
            items[cell.prompting] += measured["items_predicted"]
            predict[cell.prompting] += measured.get("predict_s", 0.0)
        peaks.append(prov.get("peak_memory") or {})
        if cell.prompting == "cot":
            with (run_dir / cell.predictions()).open(encoding="utf-8") as lines:
                generations += [json.loads(line).get("generation") or "" for line in lines]
    marker = MODEL_MARKER.format(model=model)
    prepared = _read(run_dir / f"{marker}.prov.json")

    def peak(key: str) -> float | None:
        values = [p[key] for p in peaks if p.get(key) is not None]
        return max(values) if values else None

    return {
        "load_s": round(sum(loads) / len(loads), 3) if loads else None,
        "prepare_model_s": _duration(prepared),
        "train_tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "train_tokens_per_example": round(tokens / sequences, 1) if sequences else None,
        "items_per_s": {
            p: round(items[p] / predict[p], 4) if predict[p] else None for p in study.promptings
        },
        "cot_mean_generated_tokens": _generated_tokens(run_dir, marker, generations),
        "resumed_from_step": min(resumed) if resumed else None,
        "peak_accelerator_mb": peak("accelerator_mb"),
        "peak_host_mb": peak("host_mb"),
    }


def _duration(prov: Mapping[str, Any]) -> float | None:
    """Seconds between a sidecar's `started` and `finished` times."""
    from datetime import datetime

    try:
        began = datetime.fromisoformat(prov["started"])
        ended = datetime.fromisoformat(prov["finished"])
    except (KeyError, TypeError, ValueError):
        return None
    return round((ended - began).total_seconds(), 3)


def run_model(
    config: Mapping[str, Any],
    model: str,
    out: Path,
    snakemake_args: Sequence[str],
    steps: int = STEPS,
    items: int = ITEMS,
    snakefile: str | Path = "Snakefile",
) -> dict[str, Any]:
    """Run one model's pilot through the workflow and return its record (pass or fail)."""
    import time

    import yaml

    from xlt.config import apply_defaults

    run_dir = (out / "runs" / model).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    derived = pilot_config(config, model, steps, items, base_dir=Path(snakefile).resolve().parent)
    config_file = run_dir / "pilot.yaml"
    config_file.write_text(yaml.safe_dump(derived, sort_keys=False), encoding="utf-8")
    # The run's own Snakemake checks the config; here the study only reads its settings.
    schema = Path(snakefile).resolve().parent / "config" / "schema.yaml"
    apply_defaults(derived, schema, fill_rule_params=True)
    study = Study.from_config(derived, base_dir=run_dir)
    if "--retries" not in snakemake_args:  # the stopped fine-tuning resumes in a retry
        snakemake_args = [*snakemake_args, "--retries", "1"]
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(Path(snakefile).resolve()),
        "--directory",
        str(run_dir),
        "--configfile",
        str(config_file),
        *snakemake_args,
        *pilot_targets(study),
    ]
    began = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = round(time.perf_counter() - began, 1)
    (out / f"{model}.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    record: dict[str, Any] = {"model": model, "steps": steps, "items": items, "seconds": elapsed}
    if result.returncode != 0:
        return {**record, "status": "fail", "error": first_error(run_dir, result.stderr)}
    try:
        measured = collect(run_dir, study, model)
    except (OSError, ValueError, KeyError) as exc:
        return {**record, "status": "fail", "error": f"pilot outputs unreadable: {exc}"}
    return {**record, "status": "pass", "error": "", **measured}


def passed(out: Path, model: str) -> bool:
    """Whether a model's pilot passed before (a rerun skips it)."""
    path = out / f"{model}.json"
    try:
        return _read(path).get("status") == "pass"
    except (OSError, ValueError):
        return False


def table_rows(records: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The rows of the pilot table, one per `{model}.json` record, in the order given."""
    rows = []
    for record_path in records:
        record = _read(Path(record_path))
        for prompting, rate in (record.get("items_per_s") or {}).items():
            record[f"items_per_s_{prompting}"] = rate
        rows.append({key: record.get(key) for key in COLUMNS})
    return rows


def record_paths(out: Path, models: Sequence[str]) -> list[Path]:
    """The `{model}.json` records under `out` of the models that have one."""
    return [out / f"{model}.json" for model in models if (out / f"{model}.json").exists()]


def write_table(out: Path, models: Sequence[str]) -> Path:
    """results/pilot/pilot.csv: one row per model that has a record."""
    path = out / "pilot.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table_rows(record_paths(out, models)))
    return path


def run_pilot(
    config_path: str | Path,
    out: str | Path = PILOT_DIR,
    snakemake_args: Sequence[str] = ("--cores", "2"),
    steps: int = STEPS,
    items: int = ITEMS,
    models: Sequence[str] | None = None,
    force: bool = False,
    snakefile: str | Path = "Snakefile",
) -> list[dict[str, Any]]:
    """Pilot every model (or `models`) of a study config that has not passed yet."""
    import yaml

    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(models or config["models"])
    records = []
    for model in names:
        if not force and passed(out, model):
            print(f"{model}: passed before (results in {out}/{model}.json)")
            records.append(_read(out / f"{model}.json"))
            continue
        print(f"{model}: pilot running ({steps} steps, {items} items a cell)", flush=True)
        record = run_model(config, model, out, snakemake_args, steps, items, snakefile)
        (out / f"{model}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"{model}: {record['status']}" + (f": {record['error']}" if record["error"] else ""))
        records.append(record)
    write_table(out, list(config["models"]))
    return records
