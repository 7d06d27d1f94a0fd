"""Evaluate one grid cell (model × weights × prompting × language) into a predictions file.

`direct`: the model answers; the label log-likelihoods come from the same prefill as the first
generated token, so each item costs one prefill. `cot`: the model reasons, the answer is
extracted from the reasoning, and the labels are also scored after reasoning + answer cue.
Items are processed in shards written beside the output, so a killed job resumes where it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from xlt.data.belebele import read_items
from xlt.errors import DataError
from xlt.evaluate.backends import Backend, load_backend
from xlt.evaluate.extract import extraction_fields
from xlt.evaluate.generate import AnswerStop
from xlt.evaluate.scoring import bos_prefix, build_requests, encode
from xlt.io import read_jsonl, sha256_path, write_json, write_jsonl
from xlt.models.loading import ModelRef
from xlt.prompts import PromptTemplate, answer_continuation, build_prompt, template_from_record
from xlt.provenance.jobs import measure

log = logging.getLogger(__name__)
PROMPTINGS = ("direct", "cot")


@dataclass(frozen=True, kw_only=True)
class EvalSettings:
    """How a cell is evaluated; everything here is recorded in provenance.

    The config's settings come from the evaluate rule's params (`Study.eval_params`, with the
    schema's defaults filled); `shard_size` and `generate` are not config keys.
    """

    template: PromptTemplate
    prompting: str
    chat: bool
    batch_size: int
    dtype: str
    max_length: int | None
    max_new_tokens: int
    extraction: str
    shard_size: int = 64
    generate: bool = True
    backend: str
    tensor_parallel_size: int = 1

    def __post_init__(self) -> None:
        if self.prompting not in PROMPTINGS:
            raise ValueError(f"prompting must be one of {PROMPTINGS}, got '{self.prompting}'.")

    @classmethod
    def from_params(cls, params: Any, prompting: str, gpus: int) -> EvalSettings:
        """Build settings from Snakemake params (a mapping or an attribute object) for a
        `prompting` condition on `gpus` GPUs."""
        get = params.__getitem__ if isinstance(params, Mapping) else partial(getattr, params)
        return cls(
            template=template_from_record(dict(get("template"))),
            prompting=prompting,
            chat=bool(get("chat")),
            batch_size=int(get("batch_size")),
            dtype=str(get("dtype")),
            max_length=get("max_length"),
            max_new_tokens=int(get("max_new_tokens")),
            extraction=str(get("extraction")),
            backend=str(get("backend")),
            tensor_parallel_size=max(1, gpus),
        )

    def record(self) -> dict[str, Any]:
        """A JSON-able description, for provenance and the resume fingerprint."""
        return {**asdict(self), "template": self.template.as_record()}

    def decoding(self) -> dict[str, Any]:
        """The decoding settings, as provenance records them."""
        return {
            "generation": "greedy",
            "max_new_tokens": self.max_new_tokens,
            "extraction": self.extraction,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "backend": self.backend,
        }


def _options(row: dict[str, Any]) -> list[str]:
    return [row[f"mc_answer{i}"] for i in range(1, 5)]


def _label_requests(
    tokenizer: Any,
    prompts: Sequence[str],
    rows: Sequence[dict[str, Any]],
    settings: EvalSettings,
    window: int | None,
):
    template = settings.template
    continuations = [
        answer_continuation(template, label, settings.chat) for label in template.labels
    ]
    ids = [r["id"] for r in rows]
    return build_requests(tokenizer, prompts, continuations, window, ids, settings.chat)


def predict_direct(
    rows: Sequence[dict[str, Any]], backend: Backend, tokenizer: Any, settings: EvalSettings
) -> list[dict[str, Any]]:
    """Generate a short answer per row and score the labels (from the same prefill when the
    backend can)."""
    template = settings.template
    stop = AnswerStop(template.labels)
    prompts = [build_prompt(r, template, tokenizer, settings.chat, thinking=False) for r in rows]
    window = settings.max_length or backend.context_window
    requests = _label_requests(tokenizer, prompts, rows, settings, window)
    generations = None
    if settings.generate and backend.scores_while_generating:
        generations = backend.generate(
            [r.context for r in requests],
            settings.max_new_tokens,
            stop=stop,
            label_targets=[r.targets for r in requests],
        )
        logprobs = [g.label_logprobs for g in generations]
    else:
        logprobs = backend.score(requests, len(rows), len(template.labels)).tolist()
        if settings.generate:
            generations = backend.generate(
                plain_contexts(tokenizer, prompts, settings.chat),
                settings.max_new_tokens,
                stop=stop,
            )
    texts = [stop.cut(g.text) for g in generations] if generations else [None] * len(rows)
    return [
        _record(row, prompt, template, scores, text, settings)
        for row, prompt, scores, text in zip(rows, prompts, logprobs, texts, strict=True)
    ]


def plain_contexts(tokenizer: Any, prompts: Sequence[str], chat: bool) -> list[list[int]]:
    """Token ids of each prompt as the model reads it before answering (BOS first and trailing
    space stripped for plain prompts; a chat prompt as its template wrote it)."""
    prefix = [] if chat else bos_prefix(tokenizer)
    texts = prompts if chat else [p.rstrip() for p in prompts]
    return [[*prefix, *encode(tokenizer, text)] for text in texts]


def predict_cot(
    rows: Sequence[dict[str, Any]], backend: Backend, tokenizer: Any, settings: EvalSettings
) -> list[dict[str, Any]]:
    """Reason first, extract the final answer, then score the labels after an answer cue."""
    template = settings.template
    prompts = [build_prompt(r, template, tokenizer, settings.chat) for r in rows]
    generations = backend.generate(
        plain_contexts(tokenizer, prompts, settings.chat), settings.max_new_tokens
    )
    scored_contexts = [
        p + g.text + template.answer_cue for p, g in zip(prompts, generations, strict=True)
    ]
    continuations = [template.target_delimiter + label for label in template.labels]
    requests = build_requests(
        tokenizer,
        scored_contexts,
        continuations,
        settings.max_length or backend.context_window,
        [r["id"] for r in rows],
        settings.chat,
    )
    logprobs = backend.score(requests, len(rows), len(template.labels)).tolist()
    return [
        _record(row, prompt, template, scores, generation.text, settings)
        for row, prompt, scores, generation in zip(
            rows, prompts, logprobs, generations, strict=True
        )
    ]


def _record(
    row: dict[str, Any],
    prompt: str,
    template: PromptTemplate,
    scores: list[float],
    generation: str | None,
    settings: EvalSettings,
) -> dict[str, Any]:
    """One line of the predictions file (README, "The predictions format")."""
    trail = extraction_fields(generation, template.labels, _options(row), settings.extraction)
    return {
        "id": row["id"],
        "lang": row["lang"],
        "prompt": prompt,
        "labels": list(template.labels),
        "option_logprobs": scores,
        "pred_loglik": max(range(len(scores)), key=scores.__getitem__) + 1,
        "generation": generation,
        "pred_gen": trail.pop("pred_gen"),
        "gold": int(row["correct_answer_num"]),
        "template": template.id,
        **trail,
    }


def predict(
    rows: Sequence[dict[str, Any]], backend: Backend, tokenizer: Any, settings: EvalSettings
) -> list[dict[str, Any]]:
    """Predictions for rows under the cell's prompting condition."""
    if settings.prompting == "cot":
        return predict_cot(rows, backend, tokenizer, settings)
    return predict_direct(rows, backend, tokenizer, settings)


def fingerprint(
    settings: EvalSettings,
    data: str | Path,
    model: str | Path,
    adapter: str | Path | None,
    cell: dict[str, str],
    hasher: Callable[[str | Path], str] = sha256_path,
) -> str:
    """A hash of everything a shard depends on: shards from another setup are not reused."""
    facts = {
        "settings": settings.record(),
        "cell": cell,
        "data": hasher(data),
        "model": hasher(model),
        "adapter": hasher(adapter) if adapter else None,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def shard_dir(out: str | Path) -> Path:
    """Where finished shards of an unfinished cell wait: a hidden directory beside the output."""
    out = Path(out)
    return out.with_name(f".{out.name}.parts")


def evaluate_cell(
    data: str | Path,
    model: str | Path,
    adapter: str | Path | None,
    settings: EvalSettings,
    out: str | Path,
    cell: dict[str, str],
    hasher: Callable[[str | Path], str] = sha256_path,
) -> int:
    """Evaluate one cell and write its predictions (atomically); return the number of items.

    `cell` holds the grid coordinates written into every line: model, weights, prompting, lang.
    `hasher` hashes the inputs (a job passes its own, so each file is hashed once).
    The job's sidecar gets `measured`: `load_s` (loading the model), `predict_s` and
    `items_predicted` (the items evaluated now, not resumed from shards), for the pilot.
    """
    timings = {"load_s": 0.0, "predict_s": 0.0, "items_predicted": 0}
    rows = read_items(data)
    parts = shard_dir(out)
    stamp = fingerprint(settings, data, model, adapter, cell, hasher)
    stamp_file = parts / "fingerprint.json"
    if parts.exists() and (
        not stamp_file.exists() or json.loads(stamp_file.read_text())["fingerprint"] != stamp
    ):
        log.info("discarding shards of a different setup in %s", parts)
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    write_json(stamp_file, {"fingerprint": stamp})

    shards = [rows[i : i + settings.shard_size] for i in range(0, len(rows), settings.shard_size)]
    loaded = None
    records: list[dict[str, Any]] = []
    for number, shard in enumerate(shards):
        path = parts / f"shard-{number:05d}.jsonl"
        if path.exists():
            records.extend(read_jsonl(path))
            log.info("shard %d/%d: resumed from %s", number + 1, len(shards), path)
            continue
        if loaded is None:
            began = time.perf_counter()
            loaded = load_backend(
                settings.backend,
                ModelRef.load(model),
                adapter or None,
                settings.dtype,
                settings.batch_size,
                settings.tensor_parallel_size,
            )
            timings["load_s"] = round(time.perf_counter() - began, 3)
        began = time.perf_counter()
        shard_records = [
            {"id": r["id"], "lang": r["lang"], **_cell_fields(cell), **r}
            for r in predict(shard, *loaded, settings)
        ]
        timings["predict_s"] = round(timings["predict_s"] + time.perf_counter() - began, 3)
        timings["items_predicted"] += len(shard)
        write_jsonl(path, shard_records)
        records.extend(shard_records)
        log.info("shard %d/%d: %d items", number + 1, len(shards), len(shard))
    if [r["id"] for r in records] != [r["id"] for r in rows]:
        raise DataError(
            f"{parts}: shards do not cover the test items in order; delete that directory and "
            "run the job again to evaluate the cell afresh."
        )
    write_jsonl(out, records)
    shutil.rmtree(parts)
    for name, value in timings.items():
        measure(name, value)
    return len(records)


def _cell_fields(cell: dict[str, str]) -> dict[str, str]:
    return {key: cell[key] for key in ("model", "weights", "prompting") if key in cell}
