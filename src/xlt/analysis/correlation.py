"""Does fine-tuning help where CoT helps? Correlation of the two gains over cells and models."""

from __future__ import annotations

import math

import pandas as pd

from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.stats import correlation, rng_for

FT_VS_COT_COLUMNS = [
    "source",
    "scale",
    "level",
    "n",
    "pearson_r",
    "pearson_ci_low",
    "pearson_ci_high",
    "pearson_p",
    "spearman_rho",
    "spearman_ci_low",
    "spearman_ci_high",
    "spearman_p",
    "note",
    "predictions_files",
]


def ft_vs_cot_table(
    seed_means: pd.DataFrame, settings: AnalysisSettings | None = None
) -> pd.DataFrame:
    """Correlation of the fine-tuning gain (seed mean) with the CoT gain, over model × language
    cells (source languages excluded) and over models (their mean gains), with intervals that
    resample the cells or the models. Without cot cells the row says so and the numbers are NaN.
    """
    settings = settings or AnalysisSettings()
    rows = []
    ft = seed_means[seed_means["source"].notna() & ~seed_means["is_source"].astype(bool)]
    for (source, scale), frame in ft.groupby(["source", "scale"], sort=True):
        paired = frame[frame["delta"].notna() & frame["cot_delta"].notna()]
        by_model = paired.groupby("model")[["delta", "cot_delta"]].mean()
        for level, points in (("cells", paired), ("models", by_model)):
            row = {"source": source, "scale": scale, "level": level}
            if paired.empty:
                rows.append({**row, "n": 0, "note": "needs cot cells (base/cot)"})
                continue
            rng = rng_for(settings.seed, "ft_vs_cot", source, scale, level)
            corr = correlation(
                points["delta"], points["cot_delta"], settings.n_bootstrap, rng, settings.ci_level
            )
            files = [*paired["base_file"], *paired["cot_file"]]
            files += [f for fs in paired["ft_files"] for f in str(fs).split(";")]
            rows.append(
                {
                    **row,
                    "n": corr.n,
                    "pearson_r": corr.pearson,
                    "pearson_ci_low": corr.pearson_low,
                    "pearson_ci_high": corr.pearson_high,
                    "pearson_p": corr.pearson_p,
                    "spearman_rho": corr.spearman,
                    "spearman_ci_low": corr.spearman_low,
                    "spearman_ci_high": corr.spearman_high,
                    "spearman_p": corr.spearman_p,
                    "note": ""
                    if math.isfinite(corr.pearson)
                    else f"needs >= 4 {level} with varying gains (have {corr.n})",
                    "predictions_files": ";".join(dict.fromkeys(files)),
                }
            )
    return pd.DataFrame(rows).reindex(columns=FT_VS_COT_COLUMNS)
