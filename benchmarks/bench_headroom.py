"""Headroom is not Semitic-specific transfer: many-replicate rejection counts.

The slow version of tests/analysis/test_headroom.py, on the same simulated two-source studies
(tests/support/synthetic.py, `headroom_study`: 3 models, 100 items, 4 Semitic + 12 controls,
a guessing floor of 1/4, Semitic targets 2 logits lower, fine-tuning on arabic helping 1.5
logits and on english 0.3, CoT 0.6, all scaled by model), through the whole analysis
(`transfer_table`). Per scenario, how often each pooled row rejects at 0.05, and its mean
estimate:

    (a) headroom alone, no Semitic-specific effect;
    (b) a planted Semitic-specific effect of 0.7 logits for arabic, languages differing in
        gain (sd 0.15 logits);
    (c) headroom alone without a guessing floor, for the mixed model (logit link, no floor);

then the simulation of `xlt power` (`interaction_power`) at many replicates, with and without
headroom and a guessing floor.

    python benchmarks/bench_headroom.py [--replicates 100] [--mixed-replicates 40]
        [--power-replicates 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from xlt.analysis.cells import ItemIndex
from xlt.analysis.power import Design, interaction_power
from xlt.analysis.settings import AnalysisSettings
from xlt.analysis.stats import mixed_transfer
from xlt.analysis.transfer import build_unit, contrasts, transfer_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.synthetic import headroom_study

SETTINGS = AnalysisSettings(n_bootstrap=200, mixed_model=False)
UNEQUAL = {"arabic": 1.5, "english": 0.3}
ROWS = [
    ("interaction", "language_randomization_logit", None, "interaction, log-odds, randomization"),
    ("interaction", "language_meta_logit", None, "interaction, log-odds, meta-regression"),
    ("interaction", "language_randomization", None, "interaction, pp (descriptive), random."),
    ("interaction", "language_meta", None, "interaction, pp (descriptive), meta"),
    ("ft", "language_randomization_logit", None, "ft arabic, log-odds, randomization"),
    ("ft", "language_randomization", None, "ft arabic, pp, randomization"),
    ("ft", "ols", "semitic", "ft arabic, OLS semitic (log-odds)"),
    ("cot", "language_randomization_logit", None, "cot, log-odds, randomization"),
    ("cot", "language_randomization", None, "cot, pp, randomization"),
    ("cot", "ols", "semitic", "cot, OLS semitic (log-odds)"),
]


def _row(transfer, contrast, method, term):
    rows = transfer.query(
        "level == 'pooled' and scale == 'loglik' and contrast == @contrast and method == @method"
    )
    if contrast != "cot":
        rows = rows[rows["source"] == "arabic"]
    if term is not None:
        rows = rows[rows["term"] == term]
    return rows.iloc[0]


def transfer_scenario(replicates: int, seed: int, **study) -> None:
    counts = {label: [0, []] for *_, label in ROWS}
    for r in range(replicates):
        items, scores, facts = headroom_study(seed=seed + r, **study)
        transfer = transfer_table(items, scores, facts, SETTINGS)
        for contrast, method, term, label in ROWS:
            row = _row(transfer, contrast, method, term)
            counts[label][0] += int(row["p_value"] <= 0.05)
            counts[label][1].append(row["estimate"])
    for label, (k, estimates) in counts.items():
        print(
            f"  {label:42s} {k}/{replicates} ({k / replicates:.3f})"
            f"  mean estimate {np.mean(estimates):+.4f}"
        )


def mixed_scenario(replicates: int, seed: int, chance: float) -> None:
    rejections, estimates = 0, []
    for r in range(replicates):
        items, _, study = headroom_study(
            seed=seed + r, n_control=8, n_items=60, gains={"arabic": 1.0}, chance=chance
        )
        index = ItemIndex(items)
        cot = next(c for c in contrasts(index, study) if c.name == "cot")
        unit = build_unit(index, study, cot, sorted(items["model"].unique()), "loglik")
        term = mixed_transfer(unit.items(index, cot, "loglik"), "cot", seed=r)
        rejections += int(term.p_value <= 0.05)
        estimates.append(term.estimate)
    print(
        f"  mixed_logit cot:semitic, guessing floor {chance:g}: {rejections}/{replicates} "
        f"({rejections / replicates:.3f}), mean estimate {np.mean(estimates):+.4f} log-odds"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--mixed-replicates", type=int, default=40)
    parser.add_argument("--power-replicates", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.time()
    print(f"(a) headroom alone, sources {UNEQUAL}, no Semitic-specific effect:")
    transfer_scenario(args.replicates, args.seed + 10_000, gains=UNEQUAL)
    print("(b) planted Semitic-specific 0.7 logits for arabic, language sd 0.15:")
    transfer_scenario(
        args.replicates,
        args.seed + 20_000,
        gains=UNEQUAL,
        effects={"arabic": 0.7},
        sd_lang=0.15,
    )
    print("(c) mixed model under headroom alone (CoT gain by model only, 4 + 8 languages):")
    mixed_scenario(args.mixed_replicates, args.seed + 30_000, chance=0.0)
    mixed_scenario(args.mixed_replicates, args.seed + 30_000, chance=0.25)
    print("(d) xlt power's simulation of the interaction test, 4 + 16 languages, 7 models:")
    for headroom, gain, chance in ((0.0, 0.3, 0.25), (2.0, 1.0, 0.25), (2.0, 1.0, 0.0)):
        design = Design(
            n_semitic=4,
            n_control=16,
            n_seeds=3,
            effect=0.7,
            headroom=headroom,
            global_gain=gain,
            chance=chance,
        )
        result = interaction_power(design, args.power_replicates, args.seed)
        for test in result.tests:
            print(
                f"  headroom {headroom:g}, gains {gain:g}/{design.other_gain:g}, floor "
                f"{chance:g}: {test.label}: null {test.rejections_null}/{test.replicates}, "
                f"effect 0.7 {test.rejections_effect}/{test.replicates}"
            )
    print(f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
