"""Synthetic predictions trees whose true effects are set, for the analysis tests.

Item i of language l under model m is right with probability
    base_m + item_i + (gain_m + semitic_effect · [l is Semitic]) · [fine-tuned]
(a linear probability model kept inside (0, 1), so the true difference in differences is
exactly `semitic_effect`). Item difficulty is shared by every language and model, as Belebele's
parallel items are. CoT cells gain `gain_m` everywhere, so FT gain and CoT gain correlate.
`sources` fine-tunes on several named sources, each with its own Semitic-specific effect.

`language_study` makes the item and score tables of a study with many languages in memory
(no files), languages differing in gain for reasons other than family: the data on which a
language-level test must keep its size and a conditional one does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from xlt.study import Cell, StudyFacts, Weights

SOURCE = ["arb_Arab"]
SEMITIC = ["heb_Hebr", "amh_Ethi", "mlt_Latn", "tir_Ethi"]
CONTROL = ["eng_Latn", "fra_Latn", "tur_Latn", "jpn_Jpan"]
MODELS = {"weak-a": (0.30, 0.10), "weak-b": (0.35, 0.08), "strong-c": (0.55, 0.01)}


def cell_scores(items: pd.DataFrame) -> pd.DataFrame:
    """Each cell's format-free accuracy, as the scores table holds it."""
    return (
        items.groupby(["model", "weights", "prompting", "lang"], sort=False)["correct_loglik"]
        .mean()
        .rename("accuracy_loglik")
        .reset_index()
    )


def record(
    item: str, lang: str, model: str, weights: str, prompting: str, gold: int, right: bool, gen
) -> dict:
    """One predictions line: the gold option wins the log-likelihood iff `right`."""
    pred = gold if right else gold % 4 + 1
    logprobs = [-3.0, -3.0, -3.0, -3.0]
    logprobs[pred - 1] = -1.0
    line = {
        "id": item,
        "lang": lang,
        "model": model,
        "weights": weights,
        "prompting": prompting,
        "prompt": f"P: ... Q: {item}?\nAnswer:",
        "labels": ["1", "2", "3", "4"],
        "option_logprobs": logprobs,
        "pred_loglik": pred,
        "generation": None,
        "pred_gen": None,
        "gold": gold,
    }
    if gen is not None:
        line["generation"] = f"Reasoning... Answer: {gold if gen else pred}"
        line["pred_gen"] = gold if gen else pred
    return line


def write_tree(
    root: Path,
    semitic_effect: float = 0.15,
    n_items: int = 150,
    seeds: tuple[int, ...] = (0, 1),
    cot: bool = True,
    models: dict[str, tuple[float, float]] | None = None,
    seed: int = 0,
    sources: dict[str, float] | None = None,
) -> list[Path]:
    """Write `<root>/<model>/<weights>/<prompting>/<lang>.jsonl` files; return their paths.

    `sources` maps each fine-tuning source to its Semitic-specific effect (default: `arabic`
    with `semitic_effect`, the same draws as before sources existed)."""
    rng = np.random.default_rng(seed)
    models = models or MODELS
    sources = sources if sources is not None else {"arabic": semitic_effect}
    item_effect = rng.uniform(-0.15, 0.15, n_items)
    gold = rng.integers(1, 5, n_items)
    ids = [f"https://synthetic.test/p{i // 2}#{i % 2 + 1}" for i in range(n_items)]
    paths = []
    for model, (base, gain) in models.items():
        for lang in SOURCE + SEMITIC + CONTROL:
            cells = [("base", "direct", 0.0)]
            for source, source_effect in sources.items():
                effect = gain + (source_effect if lang in SEMITIC else 0.0)
                cells += [(Weights.adapter(source, s).name, "direct", effect) for s in seeds]
            if cot:
                cells.append(("base", "cot", gain))
            for weights, prompting, shift in cells:
                p = np.clip(base + item_effect + shift, 0.01, 0.99)
                right = rng.random(n_items) < p
                right_gen = rng.random(n_items) < p
                path = root / model / weights / prompting / f"{lang}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                lines = [
                    record(
                        ids[i],
                        lang,
                        model,
                        weights,
                        prompting,
                        int(gold[i]),
                        bool(right[i]),
                        bool(right_gen[i]),
                    )
                    for i in range(n_items)
                ]
                path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
                paths.append(path)
    return paths


SEMITIC_POOL = ["heb_Hebr", "amh_Ethi", "mlt_Latn", "tir_Ethi", "ary_Arab", "arz_Arab"]
CONTROL_POOL = [
    "fra_Latn", "jpn_Jpan", "kor_Hang", "pes_Arab", "urd_Arab", "hau_Latn", "som_Latn",
    "tur_Latn", "fin_Latn", "rus_Cyrl", "tam_Taml", "tha_Thai", "ind_Latn", "swh_Latn",
    "kat_Geor", "eus_Latn", "vie_Latn", "hin_Deva",
]  # fmt: skip
LANGUAGE_SOURCE = {"arabic": ["arb_Arab"]}


def language_study(
    n_semitic: int = 4,
    n_control: int = 12,
    effect: float = 0.0,
    sd_lang: float = 0.06,
    n_models: int = 2,
    n_items: int = 60,
    gain: float = 0.08,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, StudyFacts]:
    """(items, scores, study) of a one-source study with `n_semitic` + `n_control` target
    languages, in memory. Item i of language l under model m is right with probability
    base_m + item_i + lang_l + [fine-tuned] · (gain + effect · [l Semitic] + u_l), u_l ~
    N(0, sd_lang): the languages' own gains differ, so with `effect` 0 there is no
    Semitic-specific transfer but any set of languages shows some difference."""
    rng = np.random.default_rng(seed)
    langs = ["arb_Arab", *SEMITIC_POOL[:n_semitic], *CONTROL_POOL[:n_control]]
    ids = [f"https://synthetic.test/p{i // 2}#{i % 2 + 1}" for i in range(n_items)]
    item = rng.uniform(-0.15, 0.15, n_items)
    level = rng.normal(0.0, 0.05, len(langs))
    own = rng.normal(0.0, sd_lang, len(langs))
    frames = []
    for m in range(n_models):
        name, base = f"model-{m}", 0.35 + 0.1 * m
        for j, lang in enumerate(langs):
            lift = gain + effect * (lang in SEMITIC_POOL) + own[j]
            for weights, shift in (("base", 0.0), (Weights.adapter("arabic", 0).name, lift)):
                p = np.clip(base + item + level[j] + shift, 0.02, 0.98)
                right = (rng.random(n_items) < p).astype(int)
                frames.append(
                    pd.DataFrame(
                        {
                            "model": name,
                            "weights": weights,
                            "prompting": "direct",
                            "lang": lang,
                            "id": ids,
                            "correct_loglik": right,
                            "correct_gen": np.nan,
                            "predictions_file": Cell(name, weights, "direct", lang).predictions(
                                "synthetic"
                            ),
                        }
                    )
                )
    items = pd.concat(frames, ignore_index=True)
    scores = cell_scores(items)
    scores["is_source"] = scores["lang"].isin(LANGUAGE_SOURCE["arabic"])
    return items, scores, StudyFacts(sources=LANGUAGE_SOURCE)


HEADROOM_SOURCES = {"arabic": ["arb_Arab"], "english": ["eng_Latn"]}


def headroom_study(
    n_semitic: int = 4,
    n_control: int = 12,
    n_models: int = 3,
    n_items: int = 100,
    headroom: float = 2.0,
    gains: dict[str, float] | None = None,
    effects: dict[str, float] | None = None,
    cot_gain: float | None = 0.6,
    sd_lang: float = 0.0,
    chance: float = 0.25,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, StudyFacts]:
    """(items, scores, study) of a two-source study (arabic, english) whose gains are set on the
    logit scale, in memory. Item i of language l under model m is right with probability

        chance + (1 − chance) · σ(base_m + level_l − headroom · [l Semitic] + item_i + shift)

    with shift 0 for base/direct, gains[s] · k_m + effects[s] · [l Semitic] + u_{l,s} after
    fine-tuning on source s (k_m from 0.6 to 1.4: the gain differs by model; u ~ N(0,
    sd_lang)) and cot_gain · k_m for base/cot (no cot cells when None). Semitic targets start
    `headroom` logits lower, so a gain the same in logits everywhere is a different number of
    percentage points for them: headroom, with no Semitic-specific effect unless `effects`
    plants one. `chance` is the guessing floor of four-option questions. Both sources'
    languages are evaluated too (they are excluded from the tests).
    """
    rng = np.random.default_rng(seed)
    gains = gains if gains is not None else {"arabic": 1.0, "english": 0.3}
    effects = effects or {}
    langs = ["arb_Arab", "eng_Latn", *SEMITIC_POOL[:n_semitic], *CONTROL_POOL[:n_control]]
    semitic = np.array([lang in SEMITIC_POOL or lang == "arb_Arab" for lang in langs])
    ids = [f"https://synthetic.test/p{i // 2}#{i % 2 + 1}" for i in range(n_items)]
    item = rng.uniform(-1.5, 1.5, n_items)
    level = rng.normal(1.0, 0.3, len(langs)) - headroom * semitic
    own = {s: rng.normal(0.0, sd_lang, len(langs)) for s in gains}
    frames = []
    for m in range(n_models):
        name, base = f"model-{m}", -0.3 + 0.3 * m
        k = 0.6 + 0.8 * m / max(n_models - 1, 1)
        for j, lang in enumerate(langs):
            cells = [("base", "direct", 0.0)]
            if cot_gain is not None:
                cells.append(("base", "cot", cot_gain * k))
            for source, gain in gains.items():
                shift = gain * k + effects.get(source, 0.0) * semitic[j] + own[source][j]
                cells.append((Weights.adapter(source, 0).name, "direct", shift))
            for weights, prompting, shift in cells:
                eta = base + level[j] + item + shift
                p = chance + (1.0 - chance) / (1.0 + np.exp(-eta))
                right = (rng.random(n_items) < p).astype(int)
                frames.append(
                    pd.DataFrame(
                        {
                            "model": name,
                            "weights": weights,
                            "prompting": prompting,
                            "lang": lang,
                            "id": ids,
                            "correct_loglik": right,
                            "correct_gen": np.nan,
                            "predictions_file": Cell(name, weights, prompting, lang).predictions(
                                "synthetic"
                            ),
                        }
                    )
                )
    items = pd.concat(frames, ignore_index=True)
    scores = cell_scores(items)
    sources = {code for codes in HEADROOM_SOURCES.values() for code in codes}
    scores["is_source"] = scores["lang"].isin(sources)
    return items, scores, StudyFacts(sources=HEADROOM_SOURCES)
