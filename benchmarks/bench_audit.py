"""How long `xlt audit` takes on a paper-sized results tree, with real provenance sidecars.

Builds, in a temporary directory, the tree of a study of 7 models × 98 cells (7 weights: base
and 6 adapters; 14 languages) × 100 items: test splits, split, model markers, adapters,
predictions with prompts of realistic length, and the tables (scores, items, deltas), each with
its sidecar written by `xlt.provenance.write_provenance`. Then audits it and prints the seconds,
the files checked and files per second (the best of `--repeat` audits).

    python benchmarks/bench_audit.py [--models 7] [--langs 14] [--adapters 6] [--items 100]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from xlt.io import sha256_path, write_jsonl
from xlt.provenance import write_provenance
from xlt.provenance.audit import audit
from xlt.study import ADAPTER, DATA, MODEL_MARKER, SPLIT, Cell, Weights

LANGS = (
    *("arb_Arab", "ary_Arab", "arz_Arab", "acm_Arab", "apc_Arab", "ars_Arab", "eng_Latn"),
    *("heb_Hebr", "amh_Ethi", "mlt_Latn", "fra_Latn", "jpn_Jpan", "kor_Hang", "tir_Ethi"),
)
PASSAGE = "The river runs past the market, where the bakery opens before the school bell. " * 12


def _cached(hasher):
    """A hasher that hashes each path once (as a workflow job does with `job.sha256`)."""
    known: dict[str, str] = {}

    def digest(path):
        key = os.path.abspath(path)
        if key not in known:
            known[key] = hasher(path)
        return known[key]

    return digest


def build_tree(
    root: Path, models: int = 7, langs: int = 14, adapters: int = 6, items: int = 100
) -> int:
    """Write the tree under `root` (the working directory); return the number of files."""
    assert Path.cwd().resolve() == root.resolve(), "chdir to root first"
    hasher = _cached(sha256_path)
    rng = random.Random(0)
    ids = [f"https://bench.test/p{i // 3}#{i % 3 + 1}" for i in range(items)]
    gold = [rng.randint(1, 4) for _ in ids]
    split = Path(SPLIT)
    split.parent.mkdir(parents=True, exist_ok=True)
    split.write_text(json.dumps({"test_ids": ids}), encoding="utf-8")
    write_provenance(split, rule="split", inputs={}, hasher=hasher)
    codes = LANGS[:langs]
    tests = {}
    for lang in codes:
        rows = [
            {
                "id": item,
                "lang": lang,
                "link": item.split("#")[0],
                "question_number": int(item.split("#")[1]),
                "flores_passage": PASSAGE,
                "question": f"What does passage {item} say?",
                **{f"mc_answer{k}": f"option {k} of {item}" for k in range(1, 5)},
                "correct_answer_num": str(g),
            }
            for item, g in zip(ids, gold, strict=True)
        ]
        tests[lang] = Path(DATA.format(lang=lang, split="test"))
        write_jsonl(tests[lang], rows)
        write_provenance(tests[lang], rule="prepare_data", inputs={"split": split}, hasher=hasher)
    weights = ["base"] + [Weights.adapter(f"src{k // 3}", k % 3).name for k in range(adapters)]
    predictions = []
    for m in range(models):
        model = f"model-{m}"
        marker = Path(MODEL_MARKER.format(model=model))
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"name": model}), encoding="utf-8")
        write_provenance(marker, rule="download_model", inputs={}, hasher=hasher)
        for name in weights[1:]:
            adapter = Path(ADAPTER.format(model=model, weights=name))
            adapter.mkdir(parents=True, exist_ok=True)
            (adapter / "adapter_model.safetensors").write_bytes(rng.randbytes(64 * 1024))
            (adapter / "adapter_config.json").write_text("{}", encoding="utf-8")
            write_provenance(
                adapter, rule="finetune", inputs={"model": marker, "split": split}, hasher=hasher
            )
        for name in weights:
            for lang in codes:
                path = Path(Cell(model, name, "direct", lang).predictions())
                write_jsonl(path, _records(ids, gold, model, name, lang, rng))
                inputs = {"data": tests[lang], "model": marker}
                if name != "base":
                    inputs["adapter"] = ADAPTER.format(model=model, weights=name)
                write_provenance(path, rule="evaluate", inputs=inputs, hasher=hasher)
                predictions.append(path)
    _tables(Path("results/tables"), predictions, list(tests.values()), ids, hasher)
    return sum(len(files) for _, _, files in os.walk(root / "results"))


def _records(ids, gold, model, weights, lang, rng) -> list[dict]:
    rows = []
    for item, g in zip(ids, gold, strict=True):
        scores = [round(rng.uniform(-4, -0.1), 4) for _ in range(4)]
        rows.append(
            {
                "id": item,
                "lang": lang,
                "model": model,
                "weights": weights,
                "prompting": "direct",
                "prompt": f"P: {PASSAGE}\nQ: What does passage {item} say?\n1: ...\nAnswer:",
                "labels": ["1", "2", "3", "4"],
                "option_logprobs": scores,
                "pred_loglik": scores.index(max(scores)) + 1,
                "generation": "2",
                "pred_gen": 2,
                "gold": g,
                "template": "belebele_num",
                "extraction": "lenient",
                "extraction_rule": "bare_label",
                "extraction_span": "2",
            }
        )
    return rows


def _tables(tables: Path, predictions: list[Path], tests: list[Path], ids, hasher) -> None:
    """scores (one row per cell), items (one per item of every cell), deltas (one per adapter
    cell, naming the base cell too), each with the sidecar the tables rule writes."""
    tables.mkdir(parents=True, exist_ok=True)
    cells = [Cell.from_path(p) for p in predictions]
    files = {cell.key: str(p) for cell, p in zip(cells, predictions, strict=True)}
    with open(tables / "scores.csv", "w", encoding="utf-8") as out:
        out.write("model,weights,prompting,lang,accuracy_loglik,predictions_file\n")
        out.writelines(f"{','.join(c.key)},0.5,{files[c.key]}\n" for c in cells)
    with open(tables / "items.csv", "w", encoding="utf-8") as out:
        out.write("model,weights,prompting,lang,id,correct_loglik,predictions_file\n")
        for c in cells:
            out.writelines(f"{','.join(c.key)},{item},1,{files[c.key]}\n" for item in ids)
    with open(tables / "deltas.csv", "w", encoding="utf-8") as out:
        out.write("model,weights,lang,delta,base_file,ft_file\n")
        for c in cells:
            if c.weights != "base":
                base = files[(c.model, "base", c.prompting, c.lang)]
                out.write(f"{c.model},{c.weights},{c.lang},0.0,{base},{files[c.key]}\n")
    for name in ("scores", "items", "deltas"):
        write_provenance(
            tables / f"{name}.csv",
            rule="tables",
            inputs={"predictions": predictions, "tests": tests},
            hasher=hasher,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=7)
    parser.add_argument("--langs", type=int, default=14)
    parser.add_argument("--adapters", type=int, default=6)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(root)
        try:
            started = time.perf_counter()
            n_files = build_tree(root, args.models, args.langs, args.adapters, args.items)
            built = time.perf_counter() - started
            size = sum(f.stat().st_size for f in (root / "results").rglob("*") if f.is_file())
            reports = [audit("results") for _ in range(args.repeat)]
        finally:
            os.chdir(cwd)
    best = min(reports, key=lambda r: r.seconds)
    cells = args.models * (1 + args.adapters) * args.langs
    print(
        f"tree: {args.models} models x {cells // args.models} cells x {args.items} items = "
        f"{cells:,} predictions files, {n_files:,} files, {size / 2**20:.0f} MiB "
        f"(built in {built:.1f} s)"
    )
    print(
        f"audit: {best.files:,} files checked ({best.sidecars:,} sidecars, {best.items:,} items, "
        f"{best.rows:,} table rows) in {best.seconds:.2f} s = {best.files / best.seconds:,.0f} "
        f"files/s (best of {args.repeat}; all: "
        f"{', '.join(f'{r.seconds:.2f}' for r in reports)} s); problems: {len(best.problems)}"
    )


if __name__ == "__main__":
    main()
