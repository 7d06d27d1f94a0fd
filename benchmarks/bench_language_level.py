"""Many-replicate rejection counts of the Semitic-vs-control tests on simulated Belebele studies.

For each scenario, each test's rejections/replicates with no Semitic effect (false positives,
languages still differing in gain with sd `--sd-lang` logits) and with the planted effect:

    (a) 4 Semitic + 12 control languages, planted effect (0.5 and 0.8 logits);
    (b) the same languages with no effect: the null with between-language heterogeneity;
    (c) the paper's 3 Semitic + 3 control design;

then the paper design's minimum detectable effect and the fewest control languages.

    python benchmarks/bench_language_level.py [--replicates 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from xlt.analysis.power import (
    Design,
    fewest_controls,
    format_report,
    minimum_detectable_effect,
    power,
)


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


if __name__ == "__main__":
    main()
