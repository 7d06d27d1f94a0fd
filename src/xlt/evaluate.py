"""Evaluate one grid cell (model × weights × prompting × language) into a predictions file."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlt.data import read_items
from xlt.io import write_jsonl
from xlt.modeling import ModelRef, load_model, load_tokenizer
from xlt.prompts import PromptTemplate, answer_continuation, build_prompt, template_from_record
from xlt.scoring import score_options

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSettings:
    """How a cell is evaluated; everything here is recorded in provenance."""

    template: PromptTemplate
    chat: bool = False
    batch_size: int = 8
    dtype: str = "auto"
    max_length: int | None = None

    @classmethod
    def from_params(cls, params: Any) -> EvalSettings:
        """Build settings from Snakemake params (a mapping or attribute object)."""
        get = params.get if hasattr(params, "get") else lambda k, d=None: getattr(params, k, d)
        return cls(
            template=template_from_record(dict(get("template"))),
            chat=bool(get("chat", False)),
            batch_size=int(get("batch_size", 8)),
            dtype=str(get("dtype", "auto")),
            max_length=get("max_length"),
        )


def context_window(model: Any, configured: int | None) -> int | None:
    """The usable context length: the configured one, else the model's maximum positions."""
    if configured:
        return configured
    return getattr(model.config, "max_position_embeddings", None)


def predict_direct(
    rows: list[dict[str, Any]],
    model: Any,
    tokenizer: Any,
    settings: EvalSettings,
    cell: dict[str, str],
) -> list[dict[str, Any]]:
    """Score the option labels of every row by log-likelihood; one prediction record per row."""
    template = settings.template
    prompts = [build_prompt(r, template, tokenizer, settings.chat) for r in rows]
    continuations = [
        answer_continuation(template, label, settings.chat) for label in template.labels
    ]
    logprobs = score_options(
        model,
        tokenizer,
        prompts,
        continuations,
        batch_size=settings.batch_size,
        max_length=context_window(model, settings.max_length),
        item_ids=[r["id"] for r in rows],
        chat=settings.chat,
    )
    records = []
    for row, prompt, scores in zip(rows, prompts, logprobs.tolist(), strict=True):
        records.append(
            {
                "id": row["id"],
                **cell,
                "prompt": prompt,
                "labels": list(template.labels),
                "option_logprobs": scores,
                "pred_loglik": max(range(len(scores)), key=scores.__getitem__) + 1,
                "generation": None,
                "pred_gen": None,
                "gold": int(row["correct_answer_num"]),
                "template": template.id,
            }
        )
    return records


def evaluate_cell(
    data: str | Path,
    model: str | Path,
    adapter: str | Path | None,
    settings: EvalSettings,
    out: str | Path,
    cell: dict[str, str],
) -> int:
    """Evaluate one cell and write its predictions (atomically); return the number of items.

    `cell` holds the grid coordinates written into every line: model, weights, prompting, lang.
    """
    rows = read_items(data)
    ref = ModelRef.load(model)
    tokenizer = load_tokenizer(ref)
    lm = load_model(ref, adapter=adapter or None, dtype=settings.dtype)
    log.info("evaluating %s on %d items", cell, len(rows))
    if cell.get("prompting", "direct") != "direct":
        raise ValueError(f"prompting '{cell['prompting']}' is not supported by this version.")
    records = predict_direct(rows, lm, tokenizer, settings, cell)
    write_jsonl(out, records)
    return len(records)
