"""Per-cell metrics derived from a predictions file, so no second truth can drift."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percent(level: float) -> str:
    """An interval level as a percentage, e.g. 0.95 -> "95%"."""
    return f"{100 * level:g}%"


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (well-behaved at small n and near 0/1),
    from statsmodels' `proportion_confint`."""
    if n == 0:
        return (math.nan, math.nan)
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=1 - level, method="wilson")
    return (max(0.0, float(low)), min(1.0, float(high)))


def correct_loglik(record: dict[str, Any]) -> bool:
    """Whether the most likely label is the gold option."""
    return record["pred_loglik"] is not None and record["pred_loglik"] == record["gold"]


def correct_generation(record: dict[str, Any]) -> bool:
    """Whether the answer extracted from the generation is the gold option (none = wrong)."""
    return record.get("pred_gen") is not None and record["pred_gen"] == record["gold"]


def _accuracy(flags: Sequence[bool], level: float, scale: str) -> dict[str, Any]:
    n, k = len(flags), sum(flags)
    low, high = wilson_interval(k, n, level)
    return {
        f"accuracy_{scale}": k / n if n else math.nan,
        f"ci_low_{scale}": low,
        f"ci_high_{scale}": high,
        f"correct_{scale}": k,
    }


def cell_metrics(records: Sequence[dict[str, Any]], level: float = 0.95) -> dict[str, Any]:
    """n, log-likelihood accuracy with a Wilson interval, and generative metrics when generated."""
    if not records:
        raise ValueError("a cell with no predictions has no metrics.")
    metrics: dict[str, Any] = {"n": len(records), "ci_level": level}
    metrics.update(_accuracy([correct_loglik(r) for r in records], level, "loglik"))
    generated = [r for r in records if r.get("generation") is not None]
    if generated:
        metrics.update(_accuracy([correct_generation(r) for r in records], level, "gen"))
        valid = sum(r.get("pred_gen") is not None for r in records)
        metrics["format_valid_rate"] = valid / len(records)
    else:
        metrics.update(accuracy_gen=None, format_valid_rate=None)
    return metrics
