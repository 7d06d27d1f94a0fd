"""The price of a study before it runs: GPU-hours and wall time per rule, per model, in total.

`xlt cost CONFIG` lists every GPU job of the grid (one `finetune` per model × source × seed,
one `evaluate` per cell) with a projected duration, and schedules them under a limit on
concurrent jobs (`--jobs`, as Snakemake's) to give the wall time. A duration comes from one of
two bases, and the report says which one each model used:

- **pilot**: the rates `xlt pilot` measured on the model's real resources (training tokens/s,
  items/s per prompting, load time), from `results/pilot/{model}.json`;
- **estimate**: arithmetic on the model's size. Training costs 6·N FLOPs a token (8·N with
  gradient checkpointing, which recomputes the forward pass), prefill 2·N, both at a stated
  fraction (`mfu`) of the GPUs' peak; each decoding step reads the active weights once per
  batch, so it is bounded by memory bandwidth. N is the active parameters (`active_b`, else
  `size_b`). Prompt length and CoT length are assumptions (`Assumptions`), stated in the report.

Plain arithmetic: nothing here imports torch, and the tests check the numbers, not timings.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xlt.errors import XltError
from xlt.study import BASE, Study, Weights

HUB_ITEMS = 900  # Belebele: 900 questions in every language
BYTES_PER_PARAM = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "auto": 2.0, "4bit": 0.5}
ANSWER_TOKENS = 2  # the answer label (and end of turn) after the prompt of a training example
PILOT_DIR = "results/pilot"


class CostError(XltError, ValueError):
    """A config the price cannot be computed for; the message says what to add."""


@dataclass(frozen=True)
class Assumptions:
    """The throughput and length assumptions of estimate mode (each settable on the command line).

    Defaults: an H100 SXM (989 dense bf16 TFLOP/s, 3,350 GB/s), 35% of peak reached, weights
    read from storage at 2 GB/s when a job loads its model, 400 tokens a Belebele prompt (passage,
    question, four options, template), and CoT generations that use their whole budget
    (`cot_fraction` 1.0: an upper bound). CPU jobs (no GPU requested) use `cpu_tflops` and
    `cpu_mem_bw_gbs` for the whole job.
    """

    gpu_tflops: float = 989.0
    gpu_mem_bw_gbs: float = 3350.0
    mfu: float = 0.35
    load_gbs: float = 2.0
    prompt_tokens: int = 400
    cot_fraction: float = 1.0
    cpu_tflops: float = 0.1
    cpu_mem_bw_gbs: float = 20.0

    def describe(self) -> str:
        """One paragraph naming every assumption, for the report."""
        return (
            f"estimate: training 6·N FLOPs a token (8·N with gradient checkpointing), prefill "
            f"2·N, at {self.mfu:.0%} of {self.gpu_tflops:g} TFLOP/s a GPU; decoding reads the "
            f"active weights once a step per batch at {self.gpu_mem_bw_gbs:g} GB/s a GPU "
            f"(transformers with several GPUs splits layers, so one GPU's bandwidth; vLLM splits "
            f"tensors: all of them); a job loads its weights at {self.load_gbs:g} GB/s; "
            f"{self.prompt_tokens} tokens a prompt; CoT generates {self.cot_fraction:.0%} of "
            f"max_new_tokens.cot; CPU jobs {self.cpu_tflops:g} TFLOP/s, "
            f"{self.cpu_mem_bw_gbs:g} GB/s. N = active_b (else size_b)."
        )


@dataclass(frozen=True)
class PilotRates:
    """What a pilot measured for one model (the fields of results/pilot/{model}.json)."""

    model: str
    load_s: float
    train_tokens_per_s: float
    train_tokens_per_example: float
    items_per_s: Mapping[str, float]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PilotRates | None:
        """The rates of a passed pilot; None for a failed one or one that lacks a rate."""
        if record.get("status") != "pass":
            return None
        try:
            return cls(
                model=record["model"],
                load_s=float(record.get("load_s") or 0.0),
                train_tokens_per_s=float(record["train_tokens_per_s"]),
                train_tokens_per_example=float(record["train_tokens_per_example"]),
                items_per_s={k: float(v) for k, v in record["items_per_s"].items() if v},
            )
        except (KeyError, TypeError, ValueError):
            return None


def read_pilot(directory: str | Path) -> dict[str, PilotRates]:
    """The passed pilots under `directory` ({model}.json files), by model name."""
    return read_pilot_records(sorted(Path(directory).glob("*.json")))


def read_pilot_records(paths: Sequence[str | Path]) -> dict[str, PilotRates]:
    """The passed pilots among these `{model}.json` records, by model name."""
    found: dict[str, PilotRates] = {}
    for path in map(Path, paths):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        rates = PilotRates.from_record(record) if isinstance(record, Mapping) else None
        if rates is not None:
            found[rates.model] = rates
    return found


@dataclass(frozen=True)
class Job:
    """One job of the grid with its projected duration; `after` names the job it waits for."""

    rule: str
    model: str
    name: str
    seconds: float
    gpus: int
    requested_minutes: int | None = None
    after: str | None = None
    basis: str = "estimate"

    @property
    def key(self) -> str:
        return f"{self.rule}/{self.model}/{self.name}"

    @property
    def gpu_hours(self) -> float:
        return self.seconds * self.gpus / 3600

    @property
    def over_runtime(self) -> bool:
        """Whether the projection exceeds the runtime the config requests for the job."""
        return self.requested_minutes is not None and self.seconds > 60 * self.requested_minutes


# -- the grid's sizes ------------------------------------------------------------------------


def items_per_language(study: Study, langs: Sequence[str]) -> dict[str, int]:
    """Questions a language has: 900 on the hub (Belebele), else the lines of its local file."""
    data = study.config["data"]
    counts = {}
    for lang in langs:
        if data["source"] == "hub":
            counts[lang] = HUB_ITEMS
            continue
        path = study.base_dir / data["local_pattern"].format(lang=lang)
        try:
            with path.open(encoding="utf-8") as lines:
                counts[lang] = sum(1 for line in lines if line.strip())
        except OSError:
            raise CostError(f"{path}: the local data of {lang} is not there to count.") from None
    return counts


def counted_files(study: Study) -> list[str]:
    """The data files the price counts training examples in (none for the hub's Belebele)."""
    if study.config["data"]["source"] == "hub":
        return []
    langs = {lang for langs in study.sources.values() for lang in langs}
    return sorted(study.config["data"]["local_pattern"].format(lang=lang) for lang in langs)


def train_examples(study: Study, source: str) -> int:
    """Training examples of one adapter: every question of the source's languages but the
    `n_test` held out (the split holds out the same questions in every language)."""
    n_test = int(study.config["data"]["n_test"])
    counts = items_per_language(study, study.sources[source])
    return sum(max(0, count - n_test) for count in counts.values())


def train_steps(examples: int, train: Mapping[str, Any]) -> int:
    """Optimizer steps of one adapter: batches a epoch × epochs, capped by `max_steps`."""
    steps = math.ceil(examples / int(train["batch_size"])) * int(train["epochs"])
    return min(steps, int(train["max_steps"])) if train["max_steps"] else steps


def train_tokens(examples: int, train: Mapping[str, Any], tokens_per_example: float) -> float:
    """Tokens one adapter trains on: examples × epochs (or the steps `max_steps` allows)."""
    sequences = examples * int(train["epochs"])
    if train["max_steps"]:
        sequences = min(sequences, int(train["max_steps"]) * int(train["batch_size"]))
    return sequences * tokens_per_example


# -- durations in estimate mode --------------------------------------------------------------


def parameters(study: Study, model: str) -> tuple[float, float]:
    """(total, active) parameters of a model, in units; active = total for a dense model."""
    settings = study.models[model]
    if settings.size_b is None:
        raise CostError(
            f"models.{model}: no size_b; give its size (and active_b for a MoE) or run a pilot."
        )
    total = settings.size_b * 1e9
    if settings.architecture == "moe" and settings.active_b is None:
        raise CostError(
            f"models.{model}: a Mixture-of-Experts model needs active_b (active parameters, "
            "billions) for an estimate; or run a pilot."
        )
    return total, (settings.active_b or settings.size_b) * 1e9


def bytes_per_param(study: Study, model: str) -> float:
    """Bytes a weight takes when loaded: 0.5 under QLoRA (4bit), else by dtype (auto: bf16)."""
    settings = study.models[model]
    if settings.quantization == "4bit":
        return BYTES_PER_PARAM["4bit"]
    return BYTES_PER_PARAM.get(settings.dtype, 2.0)


def gpus_billed(study: Study, model: str, rule: str) -> int:
    """GPUs a model's `rule` job holds: GPUs per node × nodes (0: a CPU job)."""
    res = study.models[model].resources.get(rule, {})
    return int(res.get("gpus", 0)) * int(res.get("nodes", 1))


def _rates(study: Study, model: str, rule: str, a: Assumptions) -> tuple[float, float]:
    """(FLOP/s at the assumed utilisation, bytes/s) of a job's devices."""
    billed = gpus_billed(study, model, rule)
    if billed == 0:
        return a.cpu_tflops * 1e12 * a.mfu, a.cpu_mem_bw_gbs * 1e9
    return billed * a.gpu_tflops * 1e12 * a.mfu, a.gpu_mem_bw_gbs * 1e9


def load_seconds(study: Study, model: str, a: Assumptions) -> float:
    """Seconds a job spends reading the model's weights (all of them, not only active ones)."""
    total, _ = parameters(study, model)
    return total * bytes_per_param(study, model) / (a.load_gbs * 1e9)


def estimate_finetune_seconds(study: Study, model: str, tokens: float, a: Assumptions) -> float:
    """Load plus 6·N·tokens FLOPs (8·N with gradient checkpointing) at the assumed rate."""
    _, active = parameters(study, model)
    train = study.models[model].train
    per_token = 8.0 if train["gradient_checkpointing"] else 6.0
    flops_per_s, _ = _rates(study, model, "finetune", a)
    return load_seconds(study, model, a) + per_token * active * tokens / flops_per_s


def generated_tokens(study: Study, prompting: str, a: Assumptions) -> float:
    """Tokens generated an item: max_new_tokens (the bound), × cot_fraction for CoT."""
    budget = float(study.config["evaluate"]["max_new_tokens"][prompting])
    return budget * a.cot_fraction if prompting == "cot" else budget


def estimate_item_seconds(study: Study, model: str, prompting: str, a: Assumptions) -> float:
    """Seconds an item of one cell takes: prefill (the prompt for generation and again for
    scoring the labels; for CoT the scoring reads prompt + generation) at 2·N FLOPs a token,
    plus decoding, where each step reads the active weights of a batch (at most all weights)
    from memory once for the whole batch."""
    settings = study.models[model]
    total, active = parameters(study, model)
    generated = generated_tokens(study, prompting, a)
    prompt = float(a.prompt_tokens)
    prefill_tokens = 2 * prompt + (generated if prompting == "cot" else 0.0)
    flops_per_s, bandwidth = _rates(study, model, "evaluate", a)
    billed = gpus_billed(study, model, "evaluate")
    batch = max(1, settings.eval_batch_size)
    if billed > 1 and settings.backend == "vllm":
        bandwidth *= billed  # tensor parallel: every GPU streams its shard at once
    elif billed > 1:
        flops_per_s /= billed  # device_map="auto": layers in turn, one GPU busy at a time
    step_bytes = min(total, batch * active) * bytes_per_param(study, model)
    decode = generated * step_bytes / bandwidth / batch
    return 2 * active * prefill_tokens / flops_per_s + decode


# -- the jobs of a study ---------------------------------------------------------------------


def study_jobs(
    study: Study, assumptions: Assumptions, pilot: Mapping[str, PilotRates] | None = None
) -> list[Job]:
    """Every finetune and evaluate job of the grid with its projected duration."""
    examples = {source: train_examples(study, source) for source in study.sources}
    return [
        job
        for model in study.models
        for job in model_jobs(study, model, assumptions, (pilot or {}).get(model), examples)
    ]


def model_jobs(
    study: Study,
    model: str,
    assumptions: Assumptions,
    rates: PilotRates | None,
    examples: Mapping[str, int],
) -> list[Job]:
    """The finetune and evaluate jobs of one model (`examples`: training examples a source)."""
    n_test = int(study.config["data"]["n_test"])
    settings = study.models[model]
    jobs: list[Job] = []
    basis = "pilot" if rates else "estimate"
    per_example = (
        rates.train_tokens_per_example
        if rates
        else min(
            assumptions.prompt_tokens + ANSWER_TOKENS,
            settings.train["max_length"] or math.inf,
        )
    )
    requested = {
        rule: settings.resources.get(rule, {}).get("runtime") for rule in ("finetune", "evaluate")
    }
    for weights in study.adapter_weights:
        source = Weights.parse(weights).source
        tokens = train_tokens(examples[source], settings.train, per_example)
        seconds = (
            rates.load_s + tokens / rates.train_tokens_per_s
            if rates
            else estimate_finetune_seconds(study, model, tokens, assumptions)
        )
        billed = gpus_billed(study, model, "finetune")
        jobs.append(
            Job("finetune", model, weights, seconds, billed, requested["finetune"], None, basis)
        )
    billed = gpus_billed(study, model, "evaluate")
    for weights in study.weights:
        for prompting in study.promptings:
            if rates and prompting in rates.items_per_s:
                load, item = rates.load_s, 1.0 / rates.items_per_s[prompting]
                job_basis = "pilot"
            else:
                load = load_seconds(study, model, assumptions)
                item = estimate_item_seconds(study, model, prompting, assumptions)
                job_basis = "estimate"
            for lang in study.languages:
                jobs.append(
                    Job(
                        "evaluate",
                        model,
                        f"{weights}/{prompting}/{lang}",
                        load + n_test * item,
                        billed,
                        requested["evaluate"],
                        None if weights == BASE else f"finetune/{model}/{weights}",
                        job_basis,
                    )
                )
    return jobs


def wall_seconds(jobs: Sequence[Job], max_jobs: int | None = None) -> float:
    """Wall time of running `jobs` with at most `max_jobs` at once (None: no limit).

    A list schedule: whenever a slot frees, the longest job whose dependency has finished
    starts (fine-tuning first, as its evaluations wait for it). Queue waits are not modelled.
    """
    if not jobs:
        return 0.0
    slots = max_jobs or len(jobs)
    done_at: dict[str, float] = {}
    waiting = sorted(jobs, key=lambda job: (job.rule != "finetune", -job.seconds))
    running: list[tuple[float, str]] = []
    now = 0.0
    while waiting or running:
        ready = [job for job in waiting if job.after is None or job.after in done_at]
        while ready and len(running) < slots:
            job = ready.pop(0)
            waiting.remove(job)
            heapq.heappush(running, (now + job.seconds, job.key))
        if not running:
            raise CostError("a job waits for a job that is not in the grid.")
        now, key = heapq.heappop(running)
        done_at[key] = now
    return now


# -- the report ------------------------------------------------------------------------------


@dataclass
class Price:
    """The totals of a study's jobs, by rule and by model, and its scheduled wall time."""

    jobs: list[Job]
    max_jobs: int | None
    assumptions: Assumptions
    wall_s: float = 0.0
    by_rule: dict[str, dict[str, float]] = field(default_factory=dict)
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)
    # Models that could not be priced (no size for an estimate, no pilot): why, in one line.
    unpriced: dict[str, str] = field(default_factory=dict)

    @property
    def gpu_hours(self) -> float:
        return sum(job.gpu_hours for job in self.jobs)

    def as_record(self) -> dict[str, Any]:
        return {
            "gpu_hours": self.gpu_hours,
            "wall_hours": self.wall_s / 3600,
            "max_jobs": self.max_jobs,
            "by_rule": self.by_rule,
            "by_model": self.by_model,
            "assumptions": asdict(self.assumptions),
            "bases": {job.model: job.basis for job in self.jobs},
            "unpriced": self.unpriced,
        }


def _totals(jobs: Sequence[Job]) -> dict[str, float]:
    return {
        "jobs": len(jobs),
        "gpu_hours": sum(job.gpu_hours for job in jobs),
        "job_hours": sum(job.seconds for job in jobs) / 3600,
        "longest_job_hours": max((job.seconds for job in jobs), default=0.0) / 3600,
        "over_runtime": sum(job.over_runtime for job in jobs),
    }


def price(
    study: Study,
    max_jobs: int | None = None,
    assumptions: Assumptions | None = None,
    pilot: Mapping[str, PilotRates] | None = None,
) -> Price:
    """The price of a study: its jobs, totals by rule and model, and the wall time."""
    assumptions = assumptions or Assumptions()
    examples = {source: train_examples(study, source) for source in study.sources}
    jobs: list[Job] = []
    unpriced: dict[str, str] = {}
    for model in study.models:
        try:
            jobs += model_jobs(study, model, assumptions, (pilot or {}).get(model), examples)
        except CostError as exc:
            unpriced[model] = str(exc)
    result = Price(jobs, max_jobs, assumptions, wall_seconds(jobs, max_jobs), unpriced=unpriced)
    for rule in ("finetune", "evaluate"):
        result.by_rule[rule] = _totals([job for job in jobs if job.rule == rule])
    for model in study.models:
        if model in unpriced:
            continue
        mine = [job for job in jobs if job.model == model]
        result.by_model[model] = {
            **_totals(mine),
            "finetune_gpu_hours": sum(j.gpu_hours for j in mine if j.rule == "finetune"),
            "evaluate_gpu_hours": sum(j.gpu_hours for j in mine if j.rule == "evaluate"),
            "wall_hours_alone": wall_seconds(mine, max_jobs) / 3600,
        }
    return result


def _hours(value: float) -> str:
    return f"{value:,.1f}" if value >= 0.1 else f"{value:.3f}"


def report(result: Price, config_path: str = "") -> str:
    """The price as text: a table per rule, a table per model, the total, the basis."""
    limit = f"--jobs {result.max_jobs}" if result.max_jobs else "no limit on concurrent jobs"
    name = config_path or "the study"
    lines = [f"Price of {name} ({len(result.jobs)} finetune and evaluate jobs, {limit})"]
    lines += [
        "",
        f"{'rule':<10} {'jobs':>6} {'GPU-h':>10} {'job-h':>10} {'longest job h':>14} "
        f"{'over runtime':>13}",
    ]
    for rule, row in result.by_rule.items():
        lines.append(
            f"{rule:<10} {row['jobs']:>6} {_hours(row['gpu_hours']):>10} "
            f"{_hours(row['job_hours']):>10} "
            f"{_hours(row['longest_job_hours']):>14} {row['over_runtime']:>13}"
        )
    header = (
        f"{'model':<18} {'basis':<9} {'finetune GPU-h':>15} {'evaluate GPU-h':>15} "
        f"{'total GPU-h':>12} {'share':>6} {'wall h alone':>13} {'over runtime':>13}"
    )
    lines += ["", header]
    total = result.gpu_hours or 1.0
    bases = {job.model: job.basis for job in result.jobs if job.rule == "finetune"}
    bases.update({j.model: j.basis for j in result.jobs if j.basis == "pilot"})
    for model, row in sorted(result.by_model.items(), key=lambda kv: -kv[1]["gpu_hours"]):
        lines.append(
            f"{model:<18} {bases.get(model, 'estimate'):<9} "
            f"{_hours(row['finetune_gpu_hours']):>15} {_hours(row['evaluate_gpu_hours']):>15} "
            f"{_hours(row['gpu_hours']):>12} {row['gpu_hours'] / total:>6.0%} "
            f"{_hours(row['wall_hours_alone']):>13} {row['over_runtime']:>13}"
        )
    lines += [
        "",
        f"total: {_hours(result.gpu_hours)} GPU-hours; wall time {_hours(result.wall_s / 3600)} h "
        f"({limit}; not included: queue waits, each job's start-up, model downloads and "
        "conversions)",
    ]
    over = [job for job in result.jobs if job.over_runtime]
    if over:
        worst = max(over, key=lambda job: job.seconds / job.requested_minutes)
        lines.append(
            f"{len(over)} jobs are projected past their requested runtime; the worst: "
            f"{worst.key} {_hours(worst.seconds / 3600)} h for {worst.requested_minutes} min."
        )
    lines += [f"not priced: {model}: {why}" for model, why in result.unpriced.items()]
    measured = (
        "pilot rates where a model says pilot; otherwise " if "pilot" in bases.values() else ""
    )
    lines += ["", f"basis: {measured}{result.assumptions.describe()}"]
    return "\n".join(lines)


PRICE_COLUMNS = (
    "model",
    "rule",
    "basis",
    "jobs",
    "gpus_a_job",
    "gpu_hours",
    "job_hours",
    "longest_job_hours",
    "over_runtime",
    "share_of_gpu_hours",
)


def price_rows(result: Price) -> list[dict[str, Any]]:
    """The price as table rows: one per model and rule, then one `total` row per rule."""
    total = result.gpu_hours or 1.0
    rows = []
    groups = [(model, rule) for model in result.by_model for rule in ("finetune", "evaluate")]
    groups += [("total", rule) for rule in ("finetune", "evaluate")]
    for model, rule in groups:
        jobs = [j for j in result.jobs if j.rule == rule and model in ("total", j.model)]
        if not jobs:
            continue
        totals = _totals(jobs)
        bases = sorted({job.basis for job in jobs})
        rows.append(
            {
                "model": model,
                "rule": rule,
                "basis": "+".join(bases),
                "jobs": totals["jobs"],
                "gpus_a_job": max(job.gpus for job in jobs),
                "gpu_hours": totals["gpu_hours"],
                "job_hours": totals["job_hours"],
                "longest_job_hours": totals["longest_job_hours"],
                "over_runtime": totals["over_runtime"],
                "share_of_gpu_hours": totals["gpu_hours"] / total,
            }
        )
    return rows


def study_of_config(config: Mapping[str, Any], base_dir: str | Path = ".") -> Study:
    """The study of a workflow's (validated) config, for pricing: the training defaults, which
    the workflow leaves to the training code, filled in on a copy."""
    import copy

    from xlt.config import CHECKOUT_SCHEMA, apply_defaults

    filled = apply_defaults(copy.deepcopy(dict(config)), CHECKOUT_SCHEMA, fill_rule_params=True)
    return Study.from_config(filled, base_dir=base_dir)


def load_study(
    path: str | Path, schema: str | Path | None = None, base_dir: str | Path = "."
) -> Study:
    """The study of a config file, checked against the schema (config/schema.yaml beside it,
    else this checkout's) with every default filled, the training defaults too; relative paths
    in it (local data) are read from `base_dir`, the workflow's directory."""
    import yaml

    from xlt.config import CHECKOUT_SCHEMA, validate_config

    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CostError(f"{path}: cannot read it as YAML ({exc}).") from None
    schema = Path(schema) if schema else path.parent / "schema.yaml"
    validate_config(config, schema if schema.exists() else CHECKOUT_SCHEMA, fill_rule_params=True)
    return Study.from_config(config, base_dir=base_dir)
