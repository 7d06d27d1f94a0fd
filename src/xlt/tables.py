"""Tables built from score and prediction files; every row names the files it came from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from xlt.config import parse_weights
from xlt.io import read_json, read_jsonl
from xlt.languages import language
from xlt.metrics import correct_loglik


def language_columns(code: str) -> dict[str, Any]:
    """Registry facts about a language, as table columns."""
    lang = language(code)
    return {
        "language": lang.name,
        "family": lang.family,
        "genus": lang.genus,
        "script": lang.script,
        "group": "semitic" if lang.is_semitic else "control",
    }


def scores_table(score_files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per evaluated cell with its metrics, language facts and source file."""
    rows = []
    for path in score_files:
        score = read_json(path)
        rows.append(
            {
                **score["cell"],
                **language_columns(score["cell"]["lang"]),
                **score["metrics"],
                "score_file": str(path),
                "predictions_file": score["predictions"],
            }
        )
    return pd.DataFrame(rows)


def correct_by_item(predictions: str | Path) -> dict[str, bool]:
    """Item id → whether the log-likelihood prediction is right."""
    return {r["id"]: correct_loglik(r) for r in read_jsonl(predictions)}


def paired_delta(base: dict[str, bool], tuned: dict[str, bool]) -> dict[str, Any]:
    """Accuracy of both cells on their shared items, and tuned minus base."""
    shared = sorted(base.keys() & tuned.keys())
    if not shared:
        raise ValueError("the two cells share no item ids; were they evaluated on the same split?")
    base_acc = sum(base[i] for i in shared) / len(shared)
    tuned_acc = sum(tuned[i] for i in shared) / len(shared)
    return {
        "n": len(shared),
        "base_accuracy": base_acc,
        "ft_accuracy": tuned_acc,
        "delta": tuned_acc - base_acc,
    }


def deltas_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Fine-tuned minus base (direct prompting, log-likelihood accuracy), paired by item.

    One row per model × adapter (source, seed) × language, with the base accuracy beside it.
    """
    direct = scores[scores["prompting"] == "direct"]
    base = direct[direct["weights"] == "base"].set_index(["model", "lang"])
    rows = []
    for cell in direct[direct["weights"] != "base"].itertuples(index=False):
        if (cell.model, cell.lang) not in base.index:
            continue
        base_cell = base.loc[(cell.model, cell.lang)]
        source, seed = parse_weights(cell.weights)
        delta = paired_delta(
            correct_by_item(base_cell["predictions_file"]), correct_by_item(cell.predictions_file)
        )
        rows.append(
            {
                "model": cell.model,
                "weights": cell.weights,
                "source": source,
                "seed": seed,
                "lang": cell.lang,
                **language_columns(cell.lang),
                "scale": "loglik",
                **delta,
                "base_file": base_cell["predictions_file"],
                "ft_file": cell.predictions_file,
            }
        )
    columns = [
        "model",
        "weights",
        "source",
        "seed",
        "lang",
        "language",
        "family",
        "genus",
        "script",
        "group",
        "scale",
        "n",
        "base_accuracy",
        "ft_accuracy",
        "delta",
        "base_file",
        "ft_file",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["model", "source", "seed", "group", "lang"], ignore_index=True)
