"""Many-replicate rejection counts of the Semitic-vs-control tests on simulated Belebele studies.

For each scenario, each test's rejections/replicates with no Semitic effect (false positives,
languages still differing in gain with sd `--sd-lang` logits) and with the planted effect:

    (a) 4 Semitic + 12 control languages, planted effect (0.5 and 0.8 logits);
    (b) the same languages with no effect: the null with between-language heterogeneity;
    (c) the paper's 3 Semitic + 3 control design;

then the paper design's minimum detectable effect and the fewest control languages; then the
same questions through the whole analysis (`transfer_table` on item and score tables, the slow
version of tests/analysis/test_transfer.py): how often its pooled language-level rows, its
item-bootstrap DiD and its OLS reject with and without a planted Semitic effect.

    python benchmarks/bench_language_level.py [--replicates 1000] [--seed 0]
        [--transfer-replicates 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from xlt.analysis.power import (
    Design,
    fewest_controls,
    format_report,
    minimum_detectable_effect,
    power,
)
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.transfer import transfer_table

# The synthetic studies of the tests (tests/support/synthetic.py), so the benchmark measures
# exactly what the fast tests check a few replicates of.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.synthetic import language_study

TRANSFER_SCENARIOS = [
    (
        "planted effect 0.25, 5 Semitic + 12 controls, language sd 0.1, 40 items",
        {"n_semitic": 5, "effect": 0.25, "sd_lang": 0.1, "n_items": 40},
    ),
    (
        "no Semitic effect, 5 Semitic + 12 controls, language sd 0.15, 80 items",
        {"n_semitic": 5, "effect": 0.0, "sd_lang": 0.15, "n_items": 80},
    ),
    (
        "the paper's 3 + 3, planted effect 0.25, language sd 0.06, 60 items",
        {"n_semitic": 3, "n_control": 3, "effect": 0.25},
    ),
]
TRANSFER_ROWS = {
    "language_randomization": ("language_randomization", "semitic - control"),
    "language_meta": ("language_meta", "semitic - control"),
    "did (item bootstrap, conditional)": ("did", "semitic - control"),
    "ols semitic (languages fixed)": ("ols", "semitic"),
}


def scenarios(sd_lang: float) -> list[tuple[str, Design]]:
    """(title, design) of each scenario; every power run also gives the effect-0 counts."""
    wide = Design(n_semitic=4, n_control=12, sd_lang=sd_lang)
    paper = Design(n_semitic=3, n_control=3, sd_lang=sd_lang)
    return [
        ("(a, b) 4 + 12 languages, effect 0.5 logits", wide.with_(effect=0.5)),
        ("(a) 4 + 12 languages, effect 0.8 logits", wide.with_(effect=0.8)),
        ("(c) the paper's 3 + 3 design, effect 0.5 logits", paper.with_(effect=0.5)),
        ("(c) the paper's 3 + 3 design, effect 1.0 logits", paper.with_(effect=1.0)),
        (
            "(c') 3 + 3 with languages alike in logit gain (sd 0)",
            paper.with_(effect=0.5, sd_lang=0.0),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sd-lang", type=float, default=0.3)
    parser.add_argument(
        "--transfer-replicates",
        type=int,
        default=200,
        help="studies per scenario run through transfer_table (0: skip)",
    )
    args = parser.parse_args()

    for title, design in scenarios(args.sd_lang):
        start = time.perf_counter()
        results = power(design, args.replicates, args.seed)
        elapsed = time.perf_counter() - start
        print(f"=== {title} ({elapsed:.1f} s for 2 × {args.replicates} studies)")
        print(format_report(design, results))
        print()

    paper = Design(n_semitic=3, n_control=3, sd_lang=args.sd_lang, effect=0.5)
    reps = min(args.replicates, 400)
    print(f"=== planning for the paper's design ({reps} replicates per power evaluation)")
    for test in ("meta", "randomization"):
        mde = minimum_detectable_effect(paper, 0.8, test=test, replicates=reps, seed=args.seed)
        found = (
            f"{mde.logits:.3f} logits (≈ {mde.points:.1f} pp), power there {mde.power:.3f}"
            if mde.logits < float("inf")
            else "none (the test cannot reach it, or cannot reject at all)"
        )
        print(f"minimum detectable effect at power 0.8, {test}: {found}")
    limit = 40
    for effect in (0.5, 1.0, 1.5):
        few = fewest_controls(
            paper, 0.8, effect, replicates=reps, seed=args.seed, max_controls=limit
        )
        powered = (
            f"from {few.powered} (power {few.achieved_power:.3f})"
            if few.powered is not None
            else f"not with up to {limit} (power {few.achieved_power:.3f} at {limit})"
        )
        print(
            f"3 Semitic, effect {effect} logits: the randomization test can reject from "
            f"{few.randomization} controls, the t-test from {few.t_test}; power ≥ 0.8 "
            f"{powered}"
        )
    print()
    if args.transfer_replicates:
        transfer_report(args.transfer_replicates, args.seed)


def transfer_rejections(replicates: int, seed: int, study: dict) -> dict[str, int]:
    """Rejections at 0.05 of transfer_table's pooled rows over simulated studies."""
    settings = AnalysisSettings(n_bootstrap=500, mixed_model=False)
    counts = dict.fromkeys(TRANSFER_ROWS, 0)
    for r in range(replicates):
        items, scores, facts = language_study(seed=seed + r, **study)
        table = transfer_table(items, scores, facts, settings)
        pooled = table.query("level == 'pooled' and contrast == 'ft' and scale == 'loglik'")
        for name, (method, term) in TRANSFER_ROWS.items():
            row = pooled[(pooled["method"] == method) & (pooled["term"] == term)]
            counts[name] += int(row["p_value"].iloc[0] <= 0.05)
    return counts


def transfer_report(replicates: int, seed: int) -> None:
    """Print the rejection counts of the whole analysis in each scenario."""
    for title, study in TRANSFER_SCENARIOS:
        start = time.perf_counter()
        counts = transfer_rejections(replicates, seed, study)
        elapsed = time.perf_counter() - start
        print(f"=== transfer_table, {title} ({replicates} studies, {elapsed:.0f} s)")
        for name, k in counts.items():
            print(f"  {name}: {k}/{replicates} ({k / replicates:.3f}) reject at 0.05")
        print()


if __name__ == "__main__":
    main()
