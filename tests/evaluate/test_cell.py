import pytest
from support.data import DEMO_DATA, write_jsonl

import xlt.evaluate.cell as evaluate_module
from xlt.data.belebele import make_split, read_belebele, split_language
from xlt.errors import DataError
from xlt.evaluate.cell import EvalSettings, evaluate_cell, fingerprint, shard_dir
from xlt.io import read_jsonl
from xlt.models.loading import ModelRef, load_tokenizer
from xlt.prompts import load_templates

TEMPLATES = load_templates("config/templates.yaml")
CELL = {"model": "tiny-dense", "weights": "base", "prompting": "direct", "lang": "heb_Hebr"}


@pytest.fixture(scope="module")
def test_file(tmp_path_factory):
    split = make_split(read_belebele(DEMO_DATA / "eng_Latn.jsonl"), 16, 0, "eng_Latn")
    _, test = split_language(read_belebele(DEMO_DATA / "heb_Hebr.jsonl"), split, "heb_Hebr")
    return write_jsonl(tmp_path_factory.mktemp("eval") / "test.jsonl", test)


def settings(**changes):
    base = {
        "template": TEMPLATES["belebele_num"],
        "prompting": "direct",
        "chat": False,
        "batch_size": 8,
        "dtype": "float32",
        "max_length": None,
        "max_new_tokens": 6,
        "extraction": "lenient",
        "backend": "hf",
        "shard_size": 5,
    }
    return EvalSettings(**(base | changes))


def test_direct_cell_has_generation_and_loglik_fields(tiny_model_ref, test_file, tmp_path):
    out = tmp_path / "pred.jsonl"
    assert evaluate_cell(test_file, tiny_model_ref, None, settings(), out, CELL) == 16
    records = read_jsonl(out)
    assert [r["id"] for r in records] == [r["id"] for r in read_jsonl(test_file)]
    for r in records:
        assert list(r)[:5] == ["id", "lang", "model", "weights", "prompting"]
        assert isinstance(r["generation"], str)
        assert r["pred_gen"] in (None, 1, 2, 3, 4)
        assert r["pred_loglik"] == r["option_logprobs"].index(max(r["option_logprobs"])) + 1
    assert not shard_dir(out).exists()


def test_killed_cell_resumes_without_redoing_finished_shards(
    tiny_model_ref, test_file, tmp_path, monkeypatch
):
    reference = tmp_path / "reference.jsonl"
    evaluate_cell(test_file, tiny_model_ref, None, settings(), reference, CELL)

    real_predict = evaluate_module.predict
    calls = []

    def dying_predict(rows, *args):
        calls.append(len(rows))
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated kill")
        return real_predict(rows, *args)

    out = tmp_path / "pred.jsonl"
    monkeypatch.setattr(evaluate_module, "predict", dying_predict)
    with pytest.raises(KeyboardInterrupt):
        evaluate_cell(test_file, tiny_model_ref, None, settings(), out, CELL)
    assert not out.exists()
    assert len(list(shard_dir(out).glob("shard-*.jsonl"))) == 2

    calls.clear()
    monkeypatch.setattr(
        evaluate_module,
        "predict",
        lambda rows, *a: calls.append(len(rows)) or real_predict(rows, *a),
    )
    evaluate_cell(test_file, tiny_model_ref, None, settings(), out, CELL)
    assert calls == [5, 1]  # shards 3 and 4 of 5+5+5+1 items
    assert read_jsonl(out) == read_jsonl(reference)


def test_shards_of_another_setup_are_not_reused(tiny_model_ref, test_file, tmp_path, monkeypatch):
    out = tmp_path / "pred.jsonl"
    parts = shard_dir(out)
    parts.mkdir()
    (parts / "fingerprint.json").write_text('{"fingerprint": "other"}')
    write_jsonl(parts / "shard-00000.jsonl", [{"id": "stale"}])
    evaluate_cell(test_file, tiny_model_ref, None, settings(), out, CELL)
    assert "stale" not in {r["id"] for r in read_jsonl(out)}


def test_shards_that_miss_an_item_are_a_one_line_error(tiny_model_ref, test_file, tmp_path):
    out = tmp_path / "pred.jsonl"
    parts = shard_dir(out)
    parts.mkdir()
    stamp = fingerprint(settings(), test_file, tiny_model_ref, None, CELL)
    (parts / "fingerprint.json").write_text(f'{{"fingerprint": "{stamp}"}}')
    ids = [r["id"] for r in read_jsonl(test_file)][:-1]  # the last item lost
    for number, start in enumerate(range(0, len(ids) + 1, 5)):
        shard = [{"id": i} for i in ids[start : start + 5]]
        write_jsonl(parts / f"shard-{number:05d}.jsonl", shard)
    with pytest.raises(DataError, match=r"\.parts: shards do not cover .*delete that directory"):
        evaluate_cell(test_file, tiny_model_ref, None, settings(), out, CELL)
    assert not out.exists()


def test_cot_cell_scores_labels_after_the_reasoning(tiny_model_ref, test_file, tmp_path):
    out = tmp_path / "cot.jsonl"
    cell = CELL | {"prompting": "cot"}
    evaluate_cell(
        test_file,
        tiny_model_ref,
        None,
        settings(template=TEMPLATES["belebele_cot"], prompting="cot", max_new_tokens=10),
        out,
        cell,
    )
    records = read_jsonl(out)
    assert all(r["prompting"] == "cot" and isinstance(r["generation"], str) for r in records)
    assert all("step by step" in r["prompt"] for r in records)


def test_chat_model_prompts_go_through_the_chat_template(tiny_model_ref, test_file, tmp_path):
    out = tmp_path / "chat.jsonl"
    evaluate_cell(test_file, tiny_model_ref, None, settings(chat=True), out, CELL)
    tokenizer = load_tokenizer(ModelRef.load(tiny_model_ref))
    first = read_jsonl(out)[0]
    assert first["prompt"].startswith("<|user|>\n")
    assert first["prompt"].endswith(
        tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True
        ).split("x")[-1]
    )


def test_vllm_backend_without_vllm_is_a_clear_error(tiny_model_ref, monkeypatch):
    import sys

    from xlt.evaluate.vllm import VllmBackend, VllmUnavailableError

    monkeypatch.setitem(sys.modules, "vllm", None)  # as on a machine without vllm
    with pytest.raises(VllmUnavailableError, match=r"tiny-dense.*backend: hf"):
        VllmBackend.load(ModelRef.load(tiny_model_ref), None, "auto", 1)
