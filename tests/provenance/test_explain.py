"""`xlt explain`: the chain behind one table row is that row's files, each once, and only a
change in those files makes it fail."""

import json
import re

import pytest
from support.results import FT, results_tree

from xlt.cli import main as xlt_main


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return results_tree(tmp_path)


def headers(out: str) -> list[str]:
    """The file of every chain entry (lines `<path>  [rule ...]` or `<path>  [source ...]`)."""
    return [m.group(1) for m in re.finditer(r"^\s*(\S+)  \[", out, re.MULTILINE)]


def explain(capsys, *args) -> tuple[int, str]:
    code = xlt_main(["explain", *map(str, args)])
    return code, capsys.readouterr().out


def test_a_row_follows_its_own_files_each_once(tree, capsys):
    code, out = explain(capsys, tree.deltas, "--row", "0")
    assert code == 0
    files = headers(out)
    assert len(files) == len(set(files)), "a file is listed twice"
    assert files[0] == str(tree.deltas)
    row_files = {
        str(tree.predictions[("base", "heb_Hebr")]),
        str(tree.predictions[(FT, "heb_Hebr")]),
    }
    assert row_files <= set(files)
    assert str(tree.tests["heb_Hebr"]) in files and str(tree.adapter) in files
    assert str(tree.marker) in files and "results/data/split.json" in files
    # Nothing of the other row: its predictions and its test split are not in this chain.
    assert not [f for f in files if "amh_Ethi" in f and "resources/raw" not in f]
    assert "input(s) behind other rows not followed" in out
    assert "rule evaluate" in out and "rule finetune" in out and "rule prepare_data" in out


def test_a_change_in_another_rows_input_leaves_this_row_clean(tree, capsys):
    other = tree.predictions[(FT, "amh_Ethi")]
    other.write_text("".join(other.read_text().splitlines(keepends=True)[:-1]))  # item dropped
    tree.tests["amh_Ethi"].write_text(tree.tests["amh_Ethi"].read_text() + "\n")
    code, out = explain(capsys, tree.deltas, "--row", "0")
    assert code == 0, out
    assert "CHANGED" not in out
    # ... and the row whose files changed says which.
    code, out = explain(capsys, tree.deltas, "--row", "1")
    assert code == 1
    assert f"CHANGED since recorded: {other}" in out
    summary = out.strip().splitlines()[-1]
    assert str(other) in summary and str(tree.tests["amh_Ethi"]) in summary
    assert str(tree.predictions[(FT, "heb_Hebr")]) not in summary


def test_a_change_in_the_rows_own_data_is_found_deep_in_the_chain(tree, capsys):
    heb = tree.tests["heb_Hebr"]
    heb.write_text(heb.read_text().replace("#1", "#7", 1))  # an id edited by hand
    code, out = explain(capsys, tree.deltas, "--row", "0")
    assert code == 1
    assert str(heb) in out.strip().splitlines()[-1]
    code, _ = explain(capsys, tree.deltas, "--row", "1")
    assert code == 0


def test_json_gives_the_same_chain(tree, capsys):
    _, text = explain(capsys, tree.deltas, "--row", "1")
    tree.adapter.joinpath("adapter_model.safetensors").write_bytes(b"other weights")
    code, out = explain(capsys, tree.deltas, "--row", "1", "--json")
    assert code == 1
    chain = json.loads(out)
    paths = [node["path"] for node in chain["files"]]
    assert paths == headers(text)
    assert chain["row"] == 1 and chain["values"]["lang"] == "amh_Ethi"
    assert chain["changed"] == [str(tree.adapter)]
    node = next(n for n in chain["files"] if n["path"] == str(tree.adapter))
    assert node["rule"] == "finetune" and node["state"] == "changed"
    assert node["facts"]["seed"] == 0


def test_a_missing_row_file_fails_and_a_bad_row_number_is_an_error(tree, capsys):
    tree.predictions[("base", "amh_Ethi")].unlink()
    code, out = explain(capsys, tree.deltas, "--row", "1")
    assert code == 1
    assert str(tree.predictions[("base", "amh_Ethi")]) in out.strip().splitlines()[-1]
    assert xlt_main(["explain", str(tree.deltas), "--row", "7"]) == 2
    assert "rows 0..1" in capsys.readouterr().err


def test_a_whole_file_is_explained_without_a_row(tree, capsys):
    code, out = explain(capsys, tree.predictions[(FT, "heb_Hebr")])
    assert code == 0
    files = headers(out)
    assert len(files) == len(set(files))
    assert str(tree.adapter) in files and "resources/raw/heb_Hebr.jsonl" in files
