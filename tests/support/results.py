"""A small results tree with real provenance sidecars, as the workflow writes it.

`results_tree(workdir)` writes, under the working directory (so that sidecars record relative
paths, as in a workflow run): raw data, the split, each language's test split, a model marker,
one adapter, the predictions of every cell (base and fine-tuned, per language) and a deltas
table with one row per language naming its cells' files, each with its `.prov.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from support.data import synthetic_rows, write_jsonl
from support.synthetic import record
from xlt.data.belebele import make_split, split_language
from xlt.provenance import now, write_provenance
from xlt.study import ADAPTER, DATA, MODEL_MARKER, SPLIT, Cell, Weights

MODEL = "tiny"
FT = Weights.adapter("arabic", 0).name
LANGS = ("heb_Hebr", "amh_Ethi")


@dataclass(frozen=True)
class Tree:
    """Where the files of a `results_tree` are (paths relative to the working directory)."""

    raw: dict[str, Path]
    tests: dict[str, Path]
    marker: Path
    adapter: Path
    predictions: dict[tuple[str, str], Path]  # (weights, lang) -> file
    deltas: Path
    scores: Path


def write_predictions(path: Path, rows: list[dict], weights: str, lang: str) -> Path:
    """A predictions file of the cell at `path`: every other item right."""
    lines = [
        record(
            row["id"],
            lang,
            MODEL,
            weights,
            "direct",
            int(row["correct_answer_num"]),
            i % 2 == 0,
            None,
        )
        for i, row in enumerate(rows)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def results_tree(workdir: Path, n_passages: int = 6) -> Tree:
    """Write the tree under `workdir`, which must be the working directory."""
    assert Path.cwd().resolve() == workdir.resolve(), "chdir to workdir first"
    started = now()  # as a job records it: when it started, and (write time) when it finished
    raw = {
        lang: write_jsonl(Path(f"resources/raw/{lang}.jsonl"), synthetic_rows(n_passages, lang))
        for lang in LANGS
    }
    split_file = Path(SPLIT)
    split = make_split(synthetic_rows(n_passages), n_test=4, seed=0, reference="heb_Hebr")
    split.save(split_file)
    write_provenance(
        split_file, started=started, rule="split", inputs={"reference": raw["heb_Hebr"]}
    )
    tests, test_rows = {}, {}
    for lang in LANGS:
        _, test_rows[lang] = split_language(
            [json.loads(x) for x in raw[lang].read_text().splitlines()], split, lang
        )
        tests[lang] = write_jsonl(Path(DATA.format(lang=lang, split="test")), test_rows[lang])
        write_provenance(
            tests[lang],
            started=started,
            rule="prepare_data",
            inputs={"checked": raw[lang], "split": split_file},
        )
    marker = Path(MODEL_MARKER.format(model=MODEL))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"name": MODEL, "load_from": "models/tiny"}), encoding="utf-8")
    write_provenance(
        marker, started=started, rule="build_demo_model", inputs={"corpus": list(raw.values())}
    )
    adapter = Path(ADAPTER.format(model=MODEL, weights=FT))
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    (adapter / "adapter_config.json").write_text("{}", encoding="utf-8")
    write_provenance(
        adapter,
        started=started,
        rule="finetune",
        inputs={"model": marker, "split": split_file},
        seed=0,
    )
    predictions = {}
    for weights in ("base", FT):
        for lang in LANGS:
            path = Path(Cell(MODEL, weights, "direct", lang).predictions())
            write_predictions(path, test_rows[lang], weights, lang)
            inputs = {"data": tests[lang], "model": marker}
            if weights != "base":
                inputs["adapter"] = adapter
            write_provenance(
                path, started=started, rule="evaluate", inputs=inputs, template_id="belebele_num"
            )
            predictions[(weights, lang)] = path
    tables = Path("results/tables")
    tables.mkdir(parents=True, exist_ok=True)
    deltas, scores = tables / "deltas.csv", tables / "scores.csv"
    deltas.write_text(
        "model,weights,lang,delta,base_file,ft_files\n"
        + "".join(
            f"{MODEL},{FT},{lang},0.0,{predictions[('base', lang)]},{predictions[(FT, lang)]}\n"
            for lang in LANGS
        ),
        encoding="utf-8",
    )
    scores.write_text(
        "model,weights,lang,accuracy_loglik,predictions_file\n"
        + "".join(
            f"{MODEL},{weights},{lang},0.5,{path}\n"
            for (weights, lang), path in predictions.items()
        ),
        encoding="utf-8",
    )
    for table in (deltas, scores):
        write_provenance(
            table,
            started=started,
            rule="tables",
            inputs={"predictions": list(predictions.values()), "tests": list(tests.values())},
            params={"analysis": {"seed": 0}},
        )
    return Tree(raw, tests, marker, adapter, predictions, deltas, scores)
