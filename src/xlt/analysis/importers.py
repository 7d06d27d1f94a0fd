"""Importers: evaluations made elsewhere, converted into xlt's predictions format.

`import_lm_eval` reads the per-sample log of lm-evaluation-harness (`lm_eval --log_samples`,
file `samples_<task>_<date>.jsonl`) for a Belebele task and writes one predictions line per
item, so the analysis rules can use evaluations a lab already has. Two layouts are read:

- lm-eval >= 0.4.3: JSON lines; `arguments` is `{"gen_args_<i>": {"arg_0": context,
  "arg_1": continuation}}`; `resps`/`filtered_resps` hold strings (`[["-1.23", "False"], ...]`).
- lm-eval 0.4.0-0.4.2: one indented JSON array; `arguments` is `[[context, continuation], ...]`
  and responses are numbers and booleans.

A `multiple_choice` task (as lm-eval's `belebele_<lang>`) gives one (log-likelihood,
is-greedy) response per option: `option_logprobs` and `pred_loglik`. A `generate_until` task
gives the generated text, read by xlt's own extractor (`xlt.evaluate.extract`, the same rules
and trail fields as a cell evaluated here); lm-eval's filtered answer is kept beside it.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xlt.errors import MissingFileError
from xlt.evaluate.extract import EXTRACTORS, extraction_fields
from xlt.io import DataError, read_jsonl, write_jsonl
from xlt.languages import check_codes
from xlt.provenance import now, write_provenance
from xlt.study import Cell, is_weights_name

LETTERS = ("A", "B", "C", "D")
PROMPTING = re.compile(r"^[a-z][a-z0-9_]*$")


def read_samples(path: str | Path) -> list[dict[str, Any]]:
    """The samples of an lm-eval log: JSON lines, or one JSON array (older versions); .gz ok."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"{path}: no such samples file; give the samples_<task>_<date>.jsonl that "
            "`lm_eval --log_samples` wrote."
        )
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        text = fh.read()
    if text.lstrip().startswith("["):
        try:
            samples = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not a valid JSON array ({exc.msg}).") from exc
    else:
        samples = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                samples.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg}).") from exc
    if not all(isinstance(s, dict) for s in samples):
        raise DataError(f"{path}: expected one JSON object per sample.")
    return samples


def sample_arguments(sample: dict[str, Any]) -> list[list[Any]]:
    """The request arguments of a sample, one list per request, in either layout."""
    arguments = sample.get("arguments")
    if isinstance(arguments, dict):
        requests = sorted(arguments, key=lambda k: int(k.rsplit("_", 1)[-1]))
        return [
            [arguments[r][a] for a in sorted(arguments[r], key=lambda k: int(k.split("_")[-1]))]
            for r in requests
        ]
    if isinstance(arguments, list):
        return [list(a) if isinstance(a, list | tuple) else [a] for a in arguments]
    raise DataError(f"doc_id {sample.get('doc_id')}: no 'arguments' in this sample.")


def _as_float(value: Any) -> float:
    """A log-likelihood as lm-eval writes it: a number, or its string (newer versions)."""
    while isinstance(value, list | tuple):
        value = value[0]
    return float(value)


def item_id(doc: dict[str, Any]) -> str:
    """xlt's item id of a Belebele row: `<link>#<question_number>`."""
    return f"{doc['link']}#{int(doc['question_number'])}"


def doc_options(doc: dict[str, Any]) -> list[str] | None:
    """The answer texts of a Belebele doc (mc_answer1..4), if it has all four."""
    options = [doc.get(f"mc_answer{i}") for i in range(1, len(LETTERS) + 1)]
    return [str(o) for o in options] if all(isinstance(o, str) for o in options) else None


def convert_sample(
    sample: dict[str, Any],
    model: str,
    weights: str,
    prompting: str,
    lang: str,
    extraction: str = "lenient",
) -> dict[str, Any]:
    """One lm-eval sample as one xlt predictions record; a generation is read by the
    `extraction` extractor of `xlt.evaluate.extract`."""
    doc = sample.get("doc") or {}
    missing = [k for k in ("link", "question_number", "correct_answer_num") if k not in doc]
    if missing:
        raise DataError(
            f"doc_id {sample.get('doc_id')}: the sample's doc lacks {missing}; is this a "
            "Belebele task log (lm_eval --tasks belebele_<lang> --log_samples)?"
        )
    gold = int(doc["correct_answer_num"])
    target = str(sample.get("target", "")).strip()
    if target.isdigit() and int(target) + 1 != gold:
        raise DataError(
            f"doc_id {sample.get('doc_id')}: target {target} (0-based) does not match "
            f"correct_answer_num {gold}."
        )
    arguments = sample_arguments(sample)
    responses = sample.get("filtered_resps", sample.get("resps"))
    record: dict[str, Any] = {
        "id": item_id(doc),
        "lang": lang,
        "model": model,
        "weights": weights,
        "prompting": prompting,
        "prompt": arguments[0][0],
    }
    generative = len(arguments[0]) > 1 and isinstance(arguments[0][1], dict)
    if generative:
        raw = sample.get("resps") or [[None]]
        generation = raw[0][0] if isinstance(raw[0], list) else raw[0]
        trail = extraction_fields(
            None if generation is None else str(generation), LETTERS, doc_options(doc), extraction
        )
        record.update(
            labels=list(LETTERS),
            option_logprobs=None,
            pred_loglik=None,
            generation=generation,
            pred_gen=trail.pop("pred_gen"),
            **trail,
            lm_eval_filtered=responses[0] if responses else None,
        )
    else:
        labels = [str(a[1]).strip() for a in arguments]
        if len(responses) != len(labels):
            raise DataError(
                f"doc_id {sample.get('doc_id')}: {len(responses)} responses for "
                f"{len(labels)} options."
            )
        logprobs = [_as_float(r) for r in responses]
        best = max(range(len(logprobs)), key=lambda i: logprobs[i])
        record.update(
            labels=labels,
            option_logprobs=logprobs,
            pred_loglik=best + 1 if all(math.isfinite(x) for x in logprobs) else None,
            generation=None,
            pred_gen=None,
        )
    record.update(
        gold=gold,
        source="lm-eval",
        doc_id=sample.get("doc_id"),
        doc_hash=sample.get("doc_hash"),
        prompt_hash=sample.get("prompt_hash"),
    )
    return record


def split_ids(path: str | Path) -> set[str]:
    """Item ids of a Belebele-format or predictions JSONL (e.g. results/data/<lang>/test.jsonl)."""
    rows = read_jsonl(path)
    return {r["id"] if "id" in r else item_id(r) for r in rows}


def _one_filter(samples: Iterable[dict[str, Any]], name: str | None, path: Path) -> list[dict]:
    samples = list(samples)
    filters = sorted({str(s.get("filter", "none")) for s in samples})
    if name is None and len(filters) > 1:
        raise DataError(f"{path}: samples of several filters {filters}; choose one with --filter.")
    chosen = name or filters[0]
    if chosen not in filters:
        raise DataError(f"{path}: no samples with filter '{chosen}' (have {filters}).")
    return [s for s in samples if str(s.get("filter", "none")) == chosen]


def predictions_path(out: str | Path, model: str, weights: str, prompting: str, lang: str) -> Path:
    """`out` itself if it names a .jsonl file, else the cell's place in the tree under `out`."""
    out = Path(out)
    if out.suffix == ".jsonl":
        return out
    return Path(Cell(model, weights, prompting, lang).predictions(out))


def import_lm_eval(
    samples: str | Path,
    *,
    model: str,
    weights: str,
    prompting: str,
    out: str | Path,
    lang: str | None = None,
    split: str | Path | None = None,
    filter_name: str | None = None,
    extraction: str = "lenient",
) -> Path:
    """Convert an lm-eval `--log_samples` file into a predictions file with a provenance sidecar.

    `lang` defaults to the samples' Belebele `dialect`; `split` keeps only the items of a
    Belebele-format file (the held-out test set, so no fine-tuning item is analysed);
    `extraction` is the extractor (an id of `xlt.evaluate.extract.EXTRACTORS`) that reads
    generations. Returns the predictions path.
    """
    started = now()
    samples = Path(samples)
    if not is_weights_name(weights):
        raise DataError(f"--weights '{weights}' is neither 'base' nor ft-<source>-s<seed>.")
    if extraction not in EXTRACTORS:
        raise DataError(f"--extraction '{extraction}' must be one of {sorted(EXTRACTORS)}.")
    if not PROMPTING.match(prompting):
        raise DataError(f"--prompting '{prompting}' must be a lower-case name such as direct.")
    rows = _one_filter(read_samples(samples), filter_name, samples)
    if not rows:
        raise DataError(f"{samples}: no samples.")
    dialects = {str((r.get("doc") or {}).get("dialect")) for r in rows} - {"None"}
    if lang is None:
        if len(dialects) != 1:
            raise DataError(
                f"{samples}: cannot tell the language ({sorted(dialects)}); pass --lang."
            )
        lang = dialects.pop()
    elif dialects and dialects != {lang}:
        raise DataError(f"{samples}: samples are in {sorted(dialects)}, not --lang {lang}.")
    check_codes([lang], where="--lang")
    records = [convert_sample(r, model, weights, prompting, lang, extraction) for r in rows]
    if split is not None:
        keep = split_ids(split)
        records = [r for r in records if r["id"] in keep]
        if not records:
            raise DataError(f"{samples}: no item is in the split {split}.")
    seen: set[str] = set()
    for record in records:
        if record["id"] in seen:
            raise DataError(f"{samples}: item {record['id']} appears twice.")
        seen.add(record["id"])
    records.sort(key=lambda r: (r["doc_id"] is None, r["doc_id"], r["id"]))
    path = predictions_path(out, model, weights, prompting, lang)
    write_jsonl(path, records)
    inputs: dict[str, Any] = {"samples": str(samples)}
    if split is not None:
        inputs["split"] = str(split)
    write_provenance(
        path,
        rule="import_lm_eval",
        inputs=inputs,
        params={"filter": filter_name, "n_items": len(records), "extraction": extraction},
        started=started,
        cell={"model": model, "weights": weights, "prompting": prompting, "lang": lang},
    )
    return path
