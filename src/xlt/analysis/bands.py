"""Weak and strong models: the baseline bands the transfer tests are also run within."""

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
    target languages (sources excluded): at `band_threshold` if set (strong ≥ threshold), else
    at the median of the models (strong > median), so the split is stated, not chosen later.
    """
    base = scores[
        (scores["weights"] == "base")
        & (scores["prompting"] == "direct")
        & ~scores["lang"].isin(study.source_langs())
    ]
    accuracy = base.groupby("model", sort=False)["accuracy_loglik"].mean().to_dict()
    if settings.band_threshold is not None:
        cut = settings.band_threshold
        band = {m: "strong" if a >= cut else "weak" for m, a in accuracy.items()}
        rule = f"threshold: strong if mean base loglik accuracy over targets >= {cut:.3g}"
    else:
        cut = float(np.median(list(accuracy.values()))) if accuracy else math.nan
        band = {m: "strong" if a > cut else "weak" for m, a in accuracy.items()}
        rule = f"median split: strong if mean base loglik accuracy over targets > {cut:.3g}"
    return Bands(band, {m: float(a) for m, a in accuracy.items()}, rule)
