"""`xlt audit` checks a whole results tree; the analysis refuses predictions that do not match
their test split (`load_cells`), so no wrong number is produced without a word."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from support.data import REPO
from support.results import FT, LANGS, MODEL, results_tree
from support.synthetic import write_tree

from xlt.analysis.cells import load_cells
from xlt.cli import main as xlt_main
from xlt.errors import DataError
from xlt.provenance.audit import audit
from xlt.study import Cell

BENCH = REPO / "benchmarks" / "bench_audit.py"


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return results_tree(tmp_path)


def problems(kind: str | None = None) -> list[str]:
    report = audit("results")
    return [p.line() for p in report.problems if kind in (None, p.kind)]


def edit_line(path, index, **changes):
    lines = path.read_text().splitlines()
    record = json.loads(lines[index])
    lines[index] = json.dumps({**record, **changes})
    path.write_text("\n".join(lines) + "\n")
    return record


def test_a_clean_tree_passes_and_says_what_it_checked(tree, capsys):
    report = audit("results")
    assert report.problems == []
    assert report.predictions == 4 and report.items == 16 and report.tables == 2
    assert report.sidecars == 4 + 2 + 1 + 1 + 1 + 2  # cells, tests, split, marker, adapter, tables
    assert xlt_main(["audit", "results"]) == 0
    out = capsys.readouterr().out
    assert "Nothing is stale, missing, orphaned or invalid." in out
    assert len(out.splitlines()) <= 24  # one screen


def test_a_stray_predictions_file_is_orphaned(tree, capsys):
    stray = Cell(MODEL, "base", "cot", "heb_Hebr").predictions()
    Path(stray).parent.mkdir(parents=True)
    made_by_hand = tree.predictions[("base", "heb_Hebr")].read_text()
    Path(stray).write_text(made_by_hand.replace('"prompting": "direct"', '"prompting": "cot"'))
    assert problems() == [
        f"orphaned  {stray}: no sidecar or rule declares it; remove it or rebuild it"
    ]
    assert xlt_main(["audit"]) == 1
    out = capsys.readouterr().out
    assert "orphaned      1" in out and stray in out


def test_a_dropped_item_is_stale_and_invalid_and_named(tree):
    path = tree.predictions[(FT, "amh_Ethi")]
    lines = path.read_text().splitlines(keepends=True)
    dropped = json.loads(lines[1])["id"]
    path.write_text("".join(lines[:1] + lines[2:]))
    found = problems()
    assert f"stale     {path}: changed since its sidecar was written (edited by hand?)" in found
    invalid = [p for p in found if p.startswith("invalid")]
    assert invalid == [
        f"invalid   {path}: item {dropped} of {tree.tests['amh_Ethi']} is missing (1 of 4 "
        "missing); evaluate the cell again or restore the file."
    ]
    # The tables made from the old file are stale too.
    assert any(p.startswith(f"stale     {tree.deltas}: its input {path}") for p in found)


def test_impossible_values_and_other_gold_are_invalid(tree):
    path = tree.predictions[("base", "heb_Hebr")]
    edit_line(path, 2, pred_loglik=7)
    assert problems("invalid") == [
        f"invalid   {path}: line 3: item {json.loads(path.read_text().splitlines()[2])['id']}: "
        "pred_loglik = 7 is not an option (1..4); the file was edited by hand or is broken: "
        "evaluate the cell again."
    ]
    record = edit_line(path, 2, pred_loglik=1)
    edit_line(path, 2, gold=record["gold"] % 4 + 1)
    (line,) = problems("invalid")
    assert f"line 3: item {record['id']} has gold {record['gold'] % 4 + 1}" in line
    assert f"{tree.tests['heb_Hebr']} says {record['gold']}" in line


def test_a_predictions_file_that_is_not_utf8_is_invalid_not_a_crash(tree):
    path = tree.predictions[("base", "heb_Hebr")]
    data = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([data[0], b"\xe9" + data[1], *data[2:]]))
    invalid = problems("invalid")
    assert len(invalid) == 1
    assert f"invalid   {path}: line 2: not UTF-8 (byte 0xe9 at column 1" in invalid[0]


def test_changed_inputs_and_missing_files_are_reported(tree):
    tree.tests["heb_Hebr"].write_text(tree.tests["heb_Hebr"].read_text() + "\n")
    shutil.rmtree(tree.adapter)
    found = problems()
    stale = [p for p in found if p.startswith("stale")]
    assert f"stale     {tree.predictions[('base', 'heb_Hebr')]}: its input " in "\n".join(stale)
    assert (
        f"stale     {tree.tests['heb_Hebr']}: changed since its sidecar was written"
        in "\n".join(stale)
    )
    missing = [p for p in found if p.startswith("missing")]
    assert f"missing   {tree.adapter}: gone, but its sidecar remains (finetune)" in missing
    assert any(f"its input {tree.adapter} is gone" in p for p in missing)


def test_a_table_row_naming_a_missing_cell_is_reported(tree):
    path = tree.predictions[(FT, "heb_Hebr")]
    path.unlink()
    missing = problems("missing")
    assert f"missing   {tree.deltas}: row 0 (ft_files) names {path}: gone" in missing
    assert f"missing   {tree.scores}: row 2 (predictions_file) names {path}: gone" in missing


def test_a_paper_sized_tree_is_checked_in_seconds(tmp_path, monkeypatch):
    """A smaller cousin of benchmarks/bench_audit.py: the audit stays linear in the files."""
    spec = importlib.util.spec_from_file_location("bench_audit", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.chdir(tmp_path)
    bench.build_tree(tmp_path, models=2, langs=7, adapters=2, items=40)
    report = audit("results")
    assert report.problems == []
    assert report.predictions == 2 * 7 * 3 and report.items == 2 * 7 * 3 * 40
    assert report.seconds < 10


# --- the analysis refuses what the audit reports -------------------------------------------


def test_load_cells_refuses_items_or_gold_unlike_the_test_split(tree):
    cells = [tree.predictions[(w, lang)] for w in ("base", FT) for lang in LANGS]
    tests = list(tree.tests.values())
    assert len(load_cells(cells, tests=tests)) == 4
    path = tree.predictions[(FT, "heb_Hebr")]
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    dropped = json.loads(lines[-1])["id"]
    with pytest.raises(DataError) as err:
        load_cells(cells, tests=tests)
    assert str(err.value).startswith(f"{path}: item {dropped} of {tree.tests['heb_Hebr']}")
    path.write_text("".join(lines))
    record = edit_line(path, 0, gold=json.loads(lines[0])["gold"] % 4 + 1)
    with pytest.raises(DataError, match=rf"{path}: line 1: item {record['id']} has gold"):
        load_cells(cells, tests=tests)
    with pytest.raises(DataError, match="no test split of amh_Ethi"):
        load_cells(cells, tests=[tree.tests["heb_Hebr"]])


def test_load_cells_without_a_split_checks_cells_against_each_other(tmp_path):
    paths = write_tree(tmp_path, n_items=10, seeds=(0,), cot=False, models={"m": (0.4, 0.1)})
    assert len(load_cells(paths)) == len(paths)
    base, tuned = [p for p in paths if p.name == "heb_Hebr.jsonl"]
    lines = tuned.read_text().splitlines(keepends=True)
    tuned.write_text("".join([*lines[:3], *lines[4:], lines[0].replace("#1", "#9")]))
    with pytest.raises(DataError) as err:
        load_cells(paths)
    assert str(err.value).startswith(f"{tuned}: item {json.loads(lines[3])['id']} of {base}")
    tuned.write_text("".join(lines))
    record = edit_line(tuned, 5, gold=9)
    with pytest.raises(DataError, match=r"jsonl:6: item .*: gold = 9 is not an option \(1..4\)"):
        load_cells(paths)
    other = record["gold"] % 4 + 1
    edit_line(tuned, 5, gold=other)
    with pytest.raises(
        DataError, match=rf"line 6: item {record['id']} has gold {other} but {base}"
    ):
        load_cells(paths)
