"""`xlt power`: what a study design can show about Semitic-specific transfer, before it runs.

Simulates Belebele-like studies (`xlt.analysis.power`) with the design's models, items,
seeds and Semitic/control target languages, and prints each test's false-positive rate and
power, the smallest Semitic-specific effect the language-level tests detect with 80% power,
and the fewest control languages for which the language-level randomization test can reject
at all. The design comes from the flags, or from a study config (`--config`), whose
`languages` minus its source languages are counted as Semitic targets and controls; flags
given with `--config` override it.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlt.errors import ConfigError, XltError

DEFAULTS = {
    "models": 7,
    "items": 100,
    "semitic": 3,
    "controls": 3,
    "seeds": 1,
    "sd_lang": 0.3,
    "effect": 0.5,
    "alpha": 0.05,
    "headroom": 0.0,
    "other_gain": 0.1,
}
TARGET_POWER = 0.8


@dataclass(frozen=True)
class ConfigDesign:
    """The design facts of a study config: counts and the languages behind them."""

    path: str
    models: int
    items: int
    seeds: int
    semitic: list[str]
    controls: list[str]
    sources: list[str]

    def values(self) -> dict[str, int]:
        return {
            "models": self.models,
            "items": self.items,
            "seeds": self.seeds,
            "semitic": len(self.semitic),
            "controls": len(self.controls),
        }


def design_from_config(path: str | Path) -> ConfigDesign:
    """Models, test items, seeds and the Semitic/control targets (`languages` minus source
    languages) of a study config."""
    import yaml

    from xlt.languages import check_codes, language

    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--config {path}: cannot read it as YAML ({exc}).") from None
    if not isinstance(config, Mapping):
        raise ConfigError(f"--config {path}: not a study config (expected a mapping).")
    missing = [k for k in ("languages", "sources", "models", "data", "seeds") if k not in config]
    if missing:
        raise ConfigError(f"--config {path}: no {', '.join(missing)}; is it a study config?")
    check_codes(config["languages"], where=f"{path}: languages")
    sources = [code for codes in config["sources"].values() for code in codes]
    targets = [code for code in config["languages"] if code not in sources]
    return ConfigDesign(
        path=str(path),
        models=len(config["models"]),
        items=int(config["data"]["n_test"]),
        seeds=len(config["seeds"]),
        semitic=[c for c in targets if language(c).is_semitic],
        controls=[c for c in targets if not language(c).is_semitic],
        sources=list(dict.fromkeys(sources)),
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `xlt power` on the `xlt` command's subparsers."""
    parser = subparsers.add_parser(
        "power",
        help="power and false-positive rates of the Semitic-vs-control tests for a design",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="read the design from a study config (e.g. paper.yaml)")
    counts = (
        ("--models", "models evaluated"),
        ("--items", "test questions per language"),
        ("--semitic", "Semitic target languages"),
        ("--controls", "control target languages"),
        ("--seeds", "fine-tuning seeds per model"),
    )
    for flag, what in counts:
        name = flag.lstrip("-")
        parser.add_argument(flag, type=int, help=f"{what} (default {DEFAULTS[name]})")
    parser.add_argument(
        "--sd-lang",
        type=float,
        help="between-language sd of the gain, logits: how much languages differ in gain for "
        f"reasons other than family (default {DEFAULTS['sd_lang']})",
    )
    parser.add_argument(
        "--effect",
        type=float,
        help=f"Semitic-specific effect to test, logits (default {DEFAULTS['effect']})",
    )
    parser.add_argument("--alpha", type=float, help=f"test level (default {DEFAULTS['alpha']})")
    parser.add_argument(
        "--headroom",
        type=float,
        help="how many logits lower the Semitic targets start, for the Semitic-specific "
        f"(source × target interaction) test (default {DEFAULTS['headroom']})",
    )
    parser.add_argument(
        "--other-gain",
        type=float,
        help="general gain of the non-Semitic source, logits, against 0.3 for the Semitic "
        f"source, for the Semitic-specific test (default {DEFAULTS['other_gain']})",
    )
    parser.add_argument(
        "--replicates", type=int, default=200, help="simulated studies per evaluation"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    parser.add_argument(
        "--max-controls", type=int, default=40, help="search limit for the fewest controls"
    )
    return parser


def resolve(args: argparse.Namespace) -> tuple[dict[str, Any], ConfigDesign | None]:
    """The design's values: flags, else the config's, else the defaults."""
    found = design_from_config(args.config) if args.config else None
    values = {**DEFAULTS, **(found.values() if found else {})}
    for name in DEFAULTS:
        given = getattr(args, name)
        if given is not None:
            values[name] = given
    for name in ("models", "items", "semitic", "controls", "seeds"):
        if values[name] < 1:
            raise ConfigError(f"--{name}: must be at least 1 (got {values[name]}).")
    if values["items"] < 2:
        raise ConfigError("--items: at least 2 questions are needed for a sampling variance.")
    if not 0 < values["alpha"] < 1:
        raise ConfigError(f"--alpha: must be between 0 and 1 (got {values['alpha']}).")
    return values, found


def _design_lines(values: Mapping[str, Any], found: ConfigDesign | None) -> list[str]:
    if found is None:
        return ["Design: from the flags."]
    return [
        f"Design: from {found.path} ({found.models} models, {found.items} items, "
        f"{found.seeds} seed(s)); source languages left out: {', '.join(found.sources)}",
        f"  Semitic targets ({len(found.semitic)}): {', '.join(found.semitic) or 'none'}",
        f"  controls ({len(found.controls)}): {', '.join(found.controls) or 'none'}",
    ]


def _effect_text(logits: float, points: float) -> str:
    return f"{logits:.2f} logits (≈ {points:.1f} pp)"


def report(values: Mapping[str, Any], found: ConfigDesign | None, args: argparse.Namespace) -> str:
    """The whole `xlt power` text."""
    from xlt.analysis.language_level import can_reject
    from xlt.analysis.power import (
        Design,
        effect_points,
        fewest_controls,
        format_interaction,
        format_report,
        interaction_power,
        minimum_detectable_effect,
        power,
    )

    design = Design(
        n_models=values["models"],
        n_items=values["items"],
        n_semitic=values["semitic"],
        n_control=values["controls"],
        n_seeds=values["seeds"],
        sd_lang=values["sd_lang"],
        effect=values["effect"],
        alpha=values["alpha"],
        headroom=values["headroom"],
        other_gain=values["other_gain"],
    )
    reps, seed = args.replicates, args.seed
    lines = [*_design_lines(values, found), ""]
    lines += [format_report(design, power(design, reps, seed)), ""]
    lines += [format_interaction(design, interaction_power(design, reps, seed)), ""]
    mde = minimum_detectable_effect(
        design, TARGET_POWER, test="interaction_randomization", replicates=reps, seed=seed
    )
    text = (
        f"{mde.logits:.2f} logits (power there {mde.power:.2f})"
        if math.isfinite(mde.logits)
        else "none: the test cannot reach it in this design, at any effect up to 3 logits"
    )
    lines += [
        f"Smallest Semitic-specific effect the interaction's randomization test detects with "
        f"power {TARGET_POWER:g}: {text}.",
        "",
    ]
    lines.append(
        f"Smallest Semitic-vs-control effect of one source detected with power {TARGET_POWER:g} "
        f"(α = {design.alpha:g}; {reps} simulated studies per evaluation):"
    )
    for test, label in (
        ("randomization", "language-level randomization"),
        ("meta", "language-level meta-regression"),
    ):
        mde = minimum_detectable_effect(design, TARGET_POWER, test=test, replicates=reps, seed=seed)
        text = (
            _effect_text(mde.logits, mde.points) + f" (power there {mde.power:.2f})"
            if math.isfinite(mde.logits)
            else "none: the test cannot reach it in this design, at any effect up to 3 logits"
        )
        lines.append(f"  {label}: {text}")
    few = fewest_controls(
        design,
        TARGET_POWER,
        test="randomization",
        replicates=reps,
        seed=seed,
        max_controls=args.max_controls,
    )
    lines.append("")
    if few.randomization is None:
        lines.append(
            f"With {design.n_semitic} Semitic languages no number of controls up to "
            f"{args.max_controls} lets the randomization test reject at α = {design.alpha:g}."
        )
    else:
        floor = can_reject(
            design.n_semitic, few.randomization, design.alpha, max_relabellings=10**18
        ).smallest_p
        lines.append(
            f"Fewest control languages for which the language-level randomization test can "
            f"reject at α = {design.alpha:g} at all, with {design.n_semitic} Semitic: "
            f"{few.randomization} (smallest attainable p {floor:.3g})."
        )
    powered = (
        f"{few.powered} (power {few.achieved_power:.2f})"
        if few.powered is not None
        else f"none up to {args.max_controls} (power {few.achieved_power:.2f} there): the "
        f"spread among {design.n_semitic} Semitic languages caps it; add Semitic languages "
        "or test a larger effect"
    )
    effect = _effect_text(design.effect, effect_points(design))
    lines.append(
        f"Fewest controls for power {TARGET_POWER:g} at the design's effect, {effect}, with "
        f"the randomization test: {powered}."
    )
    lines += ["", verdict_line(design.n_semitic, design.n_control, design.alpha)]
    return "\n".join(lines)


def verdict_line(n_semitic: int, n_control: int, alpha: float) -> str:
    """Whether the language-level test of findings.md can reject in this design, in words."""
    from xlt.analysis.language_level import can_reject

    f = can_reject(n_semitic, n_control, alpha, max_relabellings=10**18)
    where = f"with {n_semitic} Semitic + {n_control} control languages"
    meta = (
        f"The meta-regression's t-test ({f.t_df} df) can formally reject but rests on "
        "normality that so few languages cannot check."
        if f.t_can_reject
        else "The meta-regression's t-test has no degrees of freedom left (one language a "
        "group) and cannot reject either."
    )
    if f.randomization_can_reject:
        return (
            f"Verdict: {where} the language-level test (randomization over language labels, "
            f"which findings.md's verdict rests on) can reject at α = {alpha:g}: its smallest "
            f"attainable p is {f.smallest_p:.3g}."
        )
    return (
        f"Verdict: {where} the language-level test cannot reject at α = {alpha:g}, whatever "
        f"the effect: the randomization over language labels, which findings.md's verdict "
        f"rests on, has {f.n_relabellings} relabellings and a smallest attainable p of "
        f"{f.smallest_p:.3g}. {meta} Add languages, not items or seeds."
    )


def run(args: argparse.Namespace) -> int:
    """`xlt power`: print the report; 2 with a one-line error for a bad design or config."""
    try:
        values, found = resolve(args)
        text = report(values, found, args)
    except XltError as exc:
        print(f"xlt power: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0
