"""The `analysis:` section of a study config, with its defaults (no heavy imports here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

# Weak/strong models split at this mean base accuracy over targets unless the config says
# otherwise: fixed before the results are seen, so a model's band does not depend on the others.
DEFAULT_BAND_THRESHOLD = 0.5


@dataclass(frozen=True)
class AnalysisSettings:
    """The `analysis:` section of a study config, with defaults for configs that lack it."""

    n_bootstrap: int = 1000
    n_permutations: int = 1000
    seed: int = 0
    ci_level: float = 0.95
    alpha: float = 0.05
    bands: str | Mapping[str, float] | None = None
    band_threshold: float | None = None
    mixed_model: bool = True
    mixed_min_models: int = 3
    # Accuracy by guessing (1 / number of options: Belebele has four): log-odds gains are of
    # the accuracy above it (`xlt.analysis.language_level.logit_contrasts`).
    chance: float = 0.25
    predictions_dir: str | None = None
    output_dir: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AnalysisSettings:
        """Settings from a whole study config (its `analysis:` section, if any)."""
        return cls(**(config.get("analysis") or {}))

    @property
    def band_split(self) -> float | None:
        """The base-accuracy threshold of the weak/strong split, or None for the median split
        (`bands: median`); `band_threshold` is the older spelling of `bands: {threshold: x}`."""
        if self.bands == "median":
            return None
        if isinstance(self.bands, Mapping):
            return float(self.bands["threshold"])
        if self.band_threshold is not None:
            return float(self.band_threshold)
        return DEFAULT_BAND_THRESHOLD

    def as_record(self) -> dict[str, Any]:
        """A plain dict, for rule params and provenance."""
        return asdict(self)
