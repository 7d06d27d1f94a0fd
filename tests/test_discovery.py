"""The cells an analysis reads: this grid's, or a predictions tree made elsewhere."""

from pathlib import Path

import pytest
import yaml

from xlt.config import apply_defaults, validate_config
from xlt.discovery import AnalysisInputs, find_cells
from xlt.study import Cell, GridError, Study

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


def write_cells(root, *cells):
    for cell in cells:
        path = Path(cell.predictions(root))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n")


def test_an_external_predictions_tree_needs_only_sources(tmp_path):
    write_cells(
        tmp_path / "tree",
        Cell("m", "base", "direct", "heb_Hebr"),
        Cell("m", "ft-x-s0", "direct", "heb_Hebr"),
        Cell("other", "base", "direct", "fra_Latn"),
    )
    config = {
        "analysis": {"predictions_dir": str(tmp_path / "tree")},
        "sources": {"x": ["eng_Latn"]},
    }
    inputs = AnalysisInputs(Study.from_config(apply_defaults(config, SCHEMA), base_dir=REPO))
    assert len(inputs.cells) == 3
    assert inputs.root == "results/external"
    assert inputs.test_files() == []
    assert inputs.predictions()[0] == f"{tmp_path}/tree/m/base/direct/heb_Hebr.jsonl"
    assert inputs.figures() == ["accuracy", "delta_heatmap", "base_vs_delta", "transfer_matrix"]
    assert find_cells(tmp_path / "tree") == list(inputs.cells)
    # The config's models and languages, when given, filter the tree.
    config["languages"] = ["heb_Hebr"]
    assert {
        c.model for c in AnalysisInputs(Study.from_config(apply_defaults(config, SCHEMA))).cells
    } == {"m"}
    del config["languages"]
    config["models"] = {"other": {}}  # a bare name: the schema allows it here
    validate_config(config, REPO / "config" / "schema.yaml")
    assert {
        c.model for c in AnalysisInputs(Study.from_config(apply_defaults(config, SCHEMA))).cells
    } == {"other"}


def test_an_external_tree_with_an_undeclared_source_is_refused(tmp_path):
    write_cells(tmp_path / "tree", Cell("m", "ft-arabic-s0", "direct", "heb_Hebr"))
    config = {
        "analysis": {"predictions_dir": str(tmp_path / "tree")},
        "sources": {"x": ["eng_Latn"]},
    }
    with pytest.raises(GridError, match=r"source 'arabic', which `sources:` does not declare"):
        _ = AnalysisInputs(Study.from_config(apply_defaults(config, SCHEMA))).cells
    config["analysis"]["output_dir"] = "results"
    config["sources"]["arabic"] = ["arb_Arab"]
    with pytest.raises(GridError, match=r"analysis\.output_dir: results/ holds"):
        _ = AnalysisInputs(Study.from_config(apply_defaults(config, SCHEMA))).cells


def test_the_workflows_own_analysis_reads_its_grid():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    study = Study.from_config(apply_defaults(config, SCHEMA), base_dir=REPO)
    inputs = AnalysisInputs(study)
    assert not inputs.external
    assert inputs.cells == study.cells
    assert (inputs.root, inputs.logs) == ("results", "logs/analysis")
    assert inputs.predictions() == [cell.predictions() for cell in study.cells]
    assert inputs.test_files() == [f"results/data/{lang}/test.jsonl" for lang in study.languages]
