"""Weak and strong models: the baseline bands the transfer tests are also run within.

A band should be fixed before the results are seen: a threshold on base accuracy set in the
config (default 0.5, `analysis.bands: {threshold: x}`) or a model's own `band: weak|strong`.
The data-driven median split (`analysis.bands: median`) is available when asked for, but then a
model's band depends on which other models are in the study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xlt.analysis.settings import AnalysisSettings
from xlt.study import StudyFacts


@dataclass(frozen=True)
class Bands:
    """Weak and strong models by their base accuracy, and the rule that split them."""

    band: dict[str, str]
    base_accuracy: dict[str, float]
    rule: str

    def models(self, band: str) -> list[str]:
        return [m for m, b in self.band.items() if b == band]


def model_bands(scores: pd.DataFrame, study: StudyFacts, settings: AnalysisSettings) -> Bands:
    """Split models into weak and strong by mean base/direct log-likelihood accuracy over the
    target languages (sources excluded): a model's configured `band` first, then the threshold
    of `analysis.bands` (strong ≥ threshold; 0.5 by default), or the median of the models
    (strong > median) when `analysis.bands: median`. `rule` says which, in words."""
    base = scores[
        (scores["weights"] == "base")
        & (scores["prompting"] == "direct")
        & ~scores["lang"].isin(study.source_langs())
    ]
    accuracy = base.groupby("model", sort=False)["accuracy_loglik"].mean().to_dict()
    fixed = {m: study.models.get(m, {}).get("band") for m in accuracy}
    fixed = {m: b for m, b in fixed.items() if b}
    free = {m: a for m, a in accuracy.items() if m not in fixed}
    cut = settings.band_split
    if cut is not None:
        band = {m: "strong" if a >= cut else "weak" for m, a in free.items()}
        rule = f"fixed threshold: strong if mean base loglik accuracy over targets >= {cut:.3g}"
    else:
        cut = float(np.median(list(free.values()))) if free else math.nan
        band = {m: "strong" if a > cut else "weak" for m, a in free.items()}
        rule = (
            f"median split (data-driven: a model's band depends on the others): strong if mean "
            f"base loglik accuracy over targets > {cut:.3g}"
        )
    if fixed:
        named = ", ".join(f"{m} {b}" for m, b in fixed.items())
        rule = f"set per model in the config ({named})" + (f"; others: {rule}" if free else "")
    ordered = {m: fixed.get(m) or band[m] for m in accuracy}
    return Bands(ordered, {m: float(a) for m, a in accuracy.items()}, rule)
