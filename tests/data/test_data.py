import json

import pandas as pd
import pytest
from support.data import DEMO_DATA, belebele_row, synthetic_rows, write_jsonl

from xlt.data.belebele import (
    DataError,
    Split,
    assert_no_leak,
    check_gold,
    item_id,
    make_split,
    read_belebele,
    split_language,
    write_language,
)


def test_local_jsonl_and_parquet_load_the_same_rows(tmp_path):
    rows = synthetic_rows(4)
    from_jsonl = read_belebele(write_jsonl(tmp_path / "eng_Latn.jsonl", rows))
    parquet = tmp_path / "eng_Latn.parquet"
    pd.DataFrame(rows).to_parquet(parquet)
    from_parquet = read_belebele(parquet)
    assert [item_id(r) for r in from_jsonl] == [item_id(r) for r in from_parquet]
    assert from_parquet[0]["correct_answer_num"] == rows[0]["correct_answer_num"]
    assert isinstance(from_parquet[0]["question_number"], int)


def test_integer_gold_is_normalised_to_the_hub_string():
    row = belebele_row("l", 1, 3) | {"correct_answer_num": 3, "question_number": "1"}
    from xlt.data.belebele import validate_row

    clean = validate_row(row, "x")
    assert clean["correct_answer_num"] == "3" and clean["question_number"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"correct_answer_num": "5"}, "correct_answer_num"),
        ({"question": "  "}, "'question' must be a non-empty string"),
        ({"question_number": "two"}, "question_number must be an integer"),
        ({"mc_answer3": None}, "missing field(s) mc_answer3"),
    ],
)
def test_bad_row_names_file_and_line(tmp_path, change, message):
    rows = synthetic_rows(2)
    rows[2] = rows[2] | change
    path = write_jsonl(tmp_path / "heb_Hebr.jsonl", rows)
    with pytest.raises(DataError) as err:
        read_belebele(path)
    assert f"{path}:3" in str(err.value) and message in str(err.value)


def test_malformed_json_line_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(belebele_row("a", 1, 1)) + "\n{not json\n", "utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:2: not valid JSON"):
        read_belebele(path)


def test_duplicate_item_is_an_error(tmp_path):
    rows = [belebele_row("a", 1, 1), belebele_row("a", 1, 2)]
    with pytest.raises(DataError, match="appears twice"):
        read_belebele(write_jsonl(tmp_path / "d.jsonl", rows))


def test_missing_file_says_which_and_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="local_pattern"):
        read_belebele(tmp_path / "nope.jsonl")


def test_split_is_deterministic_and_by_passage():
    rows = synthetic_rows(30)
    first = make_split(rows, n_test=12, seed=7, reference="eng_Latn")
    again = make_split(list(reversed(rows)), n_test=12, seed=7, reference="eng_Latn")
    other = make_split(rows, n_test=12, seed=8, reference="eng_Latn")
    assert first == again
    assert first.test_ids != other.test_ids
    assert len(first.test_ids) == 12
    held_links = set(first.test_links)
    for row in rows:
        assert (item_id(row) in first.test_ids) == (row["link"] in held_links)


def test_split_is_identical_in_every_language_and_leak_free(tmp_path):
    split = make_split(synthetic_rows(20), n_test=10, seed=0, reference="eng_Latn")
    tests = {}
    for lang in ("eng_Latn", "heb_Hebr", "arb_Arab"):
        train, test = split_language(synthetic_rows(20, lang), split, lang)
        tests[lang] = [r["id"] for r in test]
        assert not {r["link"] for r in train} & set(split.test_links)
        assert all(r["lang"] == lang for r in train + test)
        assert len(train) + len(test) == len(synthetic_rows(20))
    assert tests["eng_Latn"] == tests["heb_Hebr"] == tests["arb_Arab"] == list(split.test_ids)


def test_language_missing_a_held_out_item_is_an_error():
    rows = synthetic_rows(10)
    split = make_split(rows, n_test=4, seed=0, reference="eng_Latn")
    partial = [r for r in rows if item_id(r) != split.test_ids[0]]
    with pytest.raises(DataError, match="missing from this language"):
        split_language(partial, split, "amh_Ethi")


def test_leak_guard_rejects_a_held_out_passage():
    rows = synthetic_rows(10)
    split = make_split(rows, n_test=4, seed=0, reference="eng_Latn")
    leaked = [r for r in rows if r["link"] == split.test_links[0]]
    with pytest.raises(DataError, match="reached the training data"):
        assert_no_leak(leaked, split)


def test_n_test_must_leave_training_items():
    with pytest.raises(DataError, match="n_test"):
        make_split(synthetic_rows(2), n_test=50, seed=0, reference="eng_Latn")


def test_split_round_trips_through_json(tmp_path):
    split = make_split(synthetic_rows(10), n_test=5, seed=3, reference="eng_Latn")
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json") == split


def test_shipped_demo_data_is_valid_parallel_and_balanced(tmp_path):
    files = sorted(DEMO_DATA.glob("*.jsonl"))
    assert len(files) >= 8
    ids = None
    for path in files:
        rows = read_belebele(path)
        assert len(rows) >= 40
        key = [(item_id(r), r["correct_answer_num"]) for r in rows]
        ids = ids or key
        assert key == ids, f"{path.name} is not parallel to the others"
    golds = [g for _, g in ids]
    assert {golds.count(g) for g in "1234"} == {len(golds) // 4}
    split = make_split(read_belebele(files[0]), n_test=16, seed=0, reference="x")
    sizes = write_language(read_belebele(files[1]), split, "x", tmp_path / "tr", tmp_path / "te")
    assert sizes[1] == 16


def test_a_gold_answer_that_differs_from_the_reference_is_refused(tmp_path):
    reference = synthetic_rows(4)
    rows = synthetic_rows(4, lang="heb_Hebr")
    rows[2] = rows[2] | {"correct_answer_num": str(int(rows[2]["correct_answer_num"]) % 4 + 1)}
    ref_path = write_jsonl(tmp_path / "eng_Latn.jsonl", reference)
    path = write_jsonl(tmp_path / "heb_Hebr.jsonl", rows)
    args = {"path": path, "reference": "eng_Latn", "reference_path": ref_path, "mode": "error"}
    with pytest.raises(DataError) as err:
        check_gold(read_belebele(path), read_belebele(ref_path), **args)
    message = str(err.value)
    assert f"{path}:3: item {item_id(rows[2])} has gold {rows[2]['correct_answer_num']}" in message
    assert f"reference eng_Latn has {reference[2]['correct_answer_num']} ({ref_path}:3)" in message
    assert "data.gold_mismatch: warn" in message
    # Parallel data with the same answers passes.
    assert check_gold(read_belebele(ref_path), read_belebele(ref_path), **args) == []


def test_gold_mismatch_warn_keeps_the_answers_and_says_so(tmp_path, caplog):
    reference = synthetic_rows(4)
    rows = [
        r | {"correct_answer_num": str(int(r["correct_answer_num"]) % 4 + 1)} for r in reference
    ]
    args = {"path": "heb.jsonl", "reference": "eng_Latn", "reference_path": "eng.jsonl"}
    caplog.set_level("WARNING")
    found = check_gold(rows, reference, mode="warn", **args)
    assert len(found) == len(rows)
    assert caplog.text.count("data.gold_mismatch: warn") == len(rows)
    with pytest.raises(DataError, match="gold_mismatch must be one of"):
        check_gold(rows, reference, mode="ignore", **args)
