"""Synthetic predictions trees whose true effects are set, for the analysis tests.

Item i of language l under model m is right with probability
    base_m + item_i + (gain_m + semitic_effect · [l is Semitic]) · [fine-tuned]
(a linear probability model kept inside (0, 1), so the true difference in differences is
exactly `semitic_effect`). Item difficulty is shared by every language and model, as Belebele's
parallel items are. CoT cells gain `gain_m` everywhere, so FT gain and CoT gain correlate.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SOURCE = ["arb_Arab"]
SEMITIC = ["heb_Hebr", "amh_Ethi", "mlt_Latn", "tir_Ethi"]
CONTROL = ["eng_Latn", "fra_Latn", "tur_Latn", "jpn_Jpan"]
MODELS = {"weak-a": (0.30, 0.10), "weak-b": (0.35, 0.08), "strong-c": (0.55, 0.01)}


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
) -> list[Path]:
    """Write `<root>/<model>/<weights>/<prompting>/<lang>.jsonl` files; return their paths."""
    rng = np.random.default_rng(seed)
    models = models or MODELS
    item_effect = rng.uniform(-0.15, 0.15, n_items)
    gold = rng.integers(1, 5, n_items)
    ids = [f"https://synthetic.test/p{i // 2}#{i % 2 + 1}" for i in range(n_items)]
    paths = []
    for model, (base, gain) in models.items():
        for lang in SOURCE + SEMITIC + CONTROL:
            effect = gain + (semitic_effect if lang in SEMITIC else 0.0)
            cells = [("base", "direct", 0.0)]
            cells += [(f"ft-arabic-s{s}", "direct", effect) for s in seeds]
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
