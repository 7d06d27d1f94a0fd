"""lm-evaluation-harness --log_samples files (hand-written, both layouts) become predictions."""

import json

import pytest

from xlt.analysis.cells import items_table, load_cells, scores_table
from xlt.analysis.importers import convert_sample, import_lm_eval, read_samples
from xlt.cli import main as xlt_main
from xlt.io import DataError, read_jsonl
from xlt.provenance import read_provenance

LINK = "https://en.wikibooks.org/wiki/Test/Page_{}"
# (question number, gold option, log-likelihoods of A-D); lm-eval's target is gold - 1.
DOCS = [
    (1, 2, [-2.5, -0.7, -3.1, -4.0]),  # right
    (2, 4, [-1.0, -2.0, -3.0, -1.5]),  # wrong (A wins)
    (1, 1, [-0.2, -2.2, -2.9, -3.3]),  # right
]


def doc(k: int, qnum: int, gold: int) -> dict:
    return {
        "link": LINK.format(k),
        "question_number": qnum,
        "flores_passage": f"Passage {k}",
        "question": f"Question {k}?",
        "mc_answer1": "one",
        "mc_answer2": "two",
        "mc_answer3": "three",
        "mc_answer4": "four",
        "correct_answer_num": str(gold),
        "dialect": "heb_Hebr",
        "ds": "2023-05-03",
    }


def prompt(k: int) -> str:
    return f"P: Passage {k}\nQ: Question {k}?\nA: one\nB: two\nC: three\nD: four\nAnswer:"


def new_layout(path):
    """lm-eval >= 0.4.3: JSON lines, arguments as gen_args_i/arg_j, responses as strings."""
    lines = []
    for k, (qnum, gold, lls) in enumerate(DOCS):
        best = max(range(4), key=lambda i: lls[i])
        lines.append(
            {
                "doc_id": k,
                "doc": doc(k, qnum, gold),
                "target": str(gold - 1),
                "arguments": {
                    f"gen_args_{i}": {"arg_0": prompt(k), "arg_1": f" {label}"}
                    for i, label in enumerate("ABCD")
                },
                "resps": [[[str(ll), str(i == best)]] for i, ll in enumerate(lls)],
                "filtered_resps": [[str(ll), str(i == best)] for i, ll in enumerate(lls)],
                "filter": "none",
                "metrics": ["acc", "acc_norm"],
                "doc_hash": f"d{k}",
                "prompt_hash": f"p{k}",
                "target_hash": f"t{k}",
                "acc": float(best + 1 == gold),
                "acc_norm": float(best + 1 == gold),
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def old_layout(path):
    """lm-eval 0.4.0-0.4.2: one JSON array, arguments as [context, continuation] pairs."""
    samples = []
    for k, (qnum, gold, lls) in enumerate(DOCS):
        best = max(range(4), key=lambda i: lls[i])
        samples.append(
            {
                "doc_id": k,
                "doc": doc(k, qnum, gold),
                "target": gold - 1,
                "arguments": [[prompt(k), f" {label}"] for label in "ABCD"],
                "resps": [[[ll, i == best]] for i, ll in enumerate(lls)],
                "filtered_resps": [[ll, i == best] for i, ll in enumerate(lls)],
                "acc": float(best + 1 == gold),
            }
        )
    path.write_text(json.dumps(samples, indent=2), encoding="utf-8")
    return path


def test_a_multiple_choice_log_becomes_predictions(tmp_path):
    samples = new_layout(tmp_path / "samples_belebele_heb_Hebr_2026-01-01T00-00-00.jsonl")
    out = import_lm_eval(
        samples, model="qwen3-4b", weights="base", prompting="direct", out=tmp_path / "tree"
    )
    assert out == tmp_path / "tree" / "qwen3-4b" / "base" / "direct" / "heb_Hebr.jsonl"
    records = read_jsonl(out)
    assert [r["id"] for r in records] == [
        "https://en.wikibooks.org/wiki/Test/Page_0#1",
        "https://en.wikibooks.org/wiki/Test/Page_1#2",
        "https://en.wikibooks.org/wiki/Test/Page_2#1",
    ]
    first = records[0]
    assert first["labels"] == ["A", "B", "C", "D"]
    assert first["option_logprobs"] == [-2.5, -0.7, -3.1, -4.0]
    assert (first["pred_loglik"], first["gold"]) == (2, 2)
    assert first["prompt"] == prompt(0)
    assert (first["lang"], first["model"], first["weights"], first["prompting"]) == (
        "heb_Hebr",
        "qwen3-4b",
        "base",
        "direct",
    )
    assert first["generation"] is None and first["pred_gen"] is None
    assert [r["pred_loglik"] for r in records] == [2, 1, 1]
    sidecar = read_provenance(out)
    assert sidecar["rule"] == "import_lm_eval" and sidecar["inputs"]["samples"]["path"] == str(
        samples
    )
    # The analysis reads it: accuracy equals lm-eval's own acc.
    scores = scores_table(load_cells([out]))
    assert scores.iloc[0]["accuracy_loglik"] == pytest.approx(2 / 3)


def test_the_old_layout_gives_the_same_predictions(tmp_path):
    new = import_lm_eval(
        new_layout(tmp_path / "new.jsonl"),
        model="m",
        weights="ft-arabic-s0",
        prompting="direct",
        out=tmp_path / "a.jsonl",
    )
    old = import_lm_eval(
        old_layout(tmp_path / "old.jsonl"),
        model="m",
        weights="ft-arabic-s0",
        prompting="direct",
        lang="heb_Hebr",
        out=tmp_path / "b.jsonl",
    )
    keys = ("id", "labels", "option_logprobs", "pred_loglik", "gold", "prompt", "weights")
    assert [{k: r[k] for k in keys} for r in read_jsonl(new)] == [
        {k: r[k] for k in keys} for r in read_jsonl(old)
    ]


def test_a_generative_log_keeps_the_generation(tmp_path):
    sample = {
        "doc_id": 0,
        "doc": doc(0, 1, 2),
        "target": "B",
        "arguments": {"gen_args_0": {"arg_0": prompt(0), "arg_1": {"until": ["\n\n"]}}},
        "resps": [["Let me think. The answer is B"]],
        "filtered_resps": ["B"],
        "filter": "strict-match",
    }
    path = tmp_path / "gen.jsonl"
    path.write_text(json.dumps(sample) + "\n")
    out = import_lm_eval(path, model="m", weights="base", prompting="cot", out=tmp_path / "t")
    record = read_jsonl(out)[0]
    assert record["generation"] == "Let me think. The answer is B"
    assert (record["pred_gen"], record["gold"], record["pred_loglik"]) == (2, 2, None)
    items = items_table(load_cells([out]))
    assert items.iloc[0]["correct_gen"] == 1


GENERATIONS = [
    "Let me think. The answer is B",
    "B",
    " (C) three",
    "Answer: 4",
    "I believe it is four.",
    "<think>A is tempting</think>\n**D**",
    "Option A seems wrong; (C) or so",
    "a lot of text",
    "",
]
TRAIL = ("pred_gen", "extraction", "extraction_rule", "extraction_span")


@pytest.mark.parametrize("mode", ["strict", "lenient"])
def test_imported_and_native_generations_are_read_by_the_same_rules(mode):
    """The same generations, as a native cell records them and as imported from lm-eval: the
    same options, rules and spans (lm-eval's own filtered answer is kept beside them)."""
    from xlt.evaluate.cell import EvalSettings, _record
    from xlt.prompts import load_templates

    template = load_templates("config/templates.yaml")["belebele_letters"]
    settings = EvalSettings(
        template=template,
        prompting="direct",
        chat=False,
        batch_size=8,
        dtype="auto",
        max_length=None,
        max_new_tokens=8,
        extraction=mode,
        backend="hf",
    )
    row = {**doc(0, 1, 2), "id": f"{LINK.format(0)}#1", "lang": "heb_Hebr"}
    native, imported = [], []
    for text in GENERATIONS:
        record = _record(row, prompt(0), template, [-1.0] * 4, text, settings)
        native.append(tuple(record[k] for k in TRAIL))
        sample = {
            "doc_id": 0,
            "doc": doc(0, 1, 2),
            "target": "B",
            "arguments": {"gen_args_0": {"arg_0": prompt(0), "arg_1": {"until": ["\n\n"]}}},
            "resps": [[text]],
            "filtered_resps": ["[invalid]"],
            "filter": "none",
        }
        converted = convert_sample(sample, "m", "base", "cot", "heb_Hebr", mode)
        assert converted["lm_eval_filtered"] == "[invalid]"
        imported.append(tuple(converted[k] for k in TRAIL))
    assert imported == native
    rules = {trail[2] for trail in native}
    assert {"answer_cue", "bare_label", None} <= rules  # the cases do exercise several rules
    if mode == "lenient":
        assert {"option_text", "last_label"} <= rules


def test_bad_logs_are_refused_with_the_reason(tmp_path):
    samples = new_layout(tmp_path / "s.jsonl")
    lines = [json.loads(x) for x in samples.read_text().splitlines()]
    lines[1]["target"] = "0"
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(DataError, match="does not match"):
        import_lm_eval(
            tmp_path / "bad.jsonl", model="m", weights="base", prompting="direct", out=tmp_path
        )
    with pytest.raises(DataError, match="not --lang"):
        import_lm_eval(
            samples, model="m", weights="base", prompting="direct", lang="amh_Ethi", out=tmp_path
        )
    lines[1]["target"] = "3"
    lines[1]["filter"] = "other"
    (tmp_path / "two.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(DataError, match="several filters"):
        import_lm_eval(
            tmp_path / "two.jsonl", model="m", weights="base", prompting="direct", out=tmp_path
        )
    assert len(read_samples(tmp_path / "two.jsonl")) == 3


def test_a_split_keeps_only_held_out_items(tmp_path):
    samples = new_layout(tmp_path / "s.jsonl")
    split = tmp_path / "test.jsonl"
    split.write_text(json.dumps(doc(1, 2, 4)) + "\n")
    out = import_lm_eval(
        samples, model="m", weights="base", prompting="direct", out=tmp_path / "t", split=split
    )
    assert [r["id"] for r in read_jsonl(out)] == ["https://en.wikibooks.org/wiki/Test/Page_1#2"]


def test_the_command_line(tmp_path, capsys):
    samples = new_layout(tmp_path / "s.jsonl")
    args = ["import-lm-eval", str(samples), "--model", "m", "--prompting", "direct"]
    assert xlt_main([*args, "--weights", "base", "--out", str(tmp_path / "tree")]) == 0
    assert capsys.readouterr().out.strip().endswith("tree/m/base/direct/heb_Hebr.jsonl")
    assert xlt_main([*args, "--weights", "tuned", "--out", str(tmp_path / "tree")]) == 2
    assert "neither 'base'" in capsys.readouterr().err


def test_a_missing_samples_file_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "samples_belebele_heb_Hebr.jsonl"
    args = ["import-lm-eval", str(missing), "--model", "m", "--prompting", "direct"]
    assert xlt_main([*args, "--weights", "base", "--out", str(tmp_path / "tree")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("xlt import-lm-eval: error: ") and str(missing) in line
