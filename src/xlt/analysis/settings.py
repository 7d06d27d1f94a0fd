"""The `analysis:` section of a study config, with its defaults (no heavy imports here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class AnalysisSettings:
    """The `analysis:` section of a study config, with defaults for configs that lack it."""

    n_bootstrap: int = 1000
    n_permutations: int = 1000
    seed: int = 0
    ci_level: float = 0.95
    alpha: float = 0.05
    band_threshold: float | None = None
    mixed_model: bool = True
    mixed_min_models: int = 3
    predictions_dir: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AnalysisSettings:
        """Settings from a whole study config (its `analysis:` section, if any)."""
        return cls(**(config.get("analysis") or {}))

    def as_record(self) -> dict[str, Any]:
        """A plain dict, for rule params and provenance."""
        return asdict(self)
