"""The grid as one object: names, paths and per-model settings."""

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from xlt.config import apply_defaults
from xlt.study import (
    PREDICTIONS,
    Cell,
    GridError,
    Study,
    Weights,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text(encoding="utf-8"))


def filled(config: dict) -> dict:
    """A config with the schema's defaults, as the workflow hands it to Study."""
    return apply_defaults(config, SCHEMA)


@pytest.fixture(scope="module")
def demo() -> Study:
    return Study.from_config(filled(load("config")), base_dir=REPO)


@pytest.fixture(scope="module")
def paper() -> Study:
    return Study.from_config(filled(load("paper")), base_dir=REPO)


def test_weights_names_parse_and_print_back():
    assert Weights.parse("base").is_base
    assert Weights.parse("ft-arabic-s12") == Weights("arabic", 12)
    assert Weights.adapter("english", 0).name == "ft-english-s0"
    for bad in ("ft-arabic", "ft-Arabic-s0", "finetuned", "ft-arabic-s-1"):
        with pytest.raises(GridError, match="neither 'base' nor ft-<source>-s<seed>"):
            Weights.parse(bad)


def test_a_cell_builds_its_path_and_parses_it_back():
    cell = Cell("qwen3-4b", "ft-arabic-s2", "cot", "heb_Hebr")
    assert cell.predictions() == "results/predictions/qwen3-4b/ft-arabic-s2/cot/heb_Hebr.jsonl"
    assert cell.predictions("/x/tree/") == "/x/tree/qwen3-4b/ft-arabic-s2/cot/heb_Hebr.jsonl"
    assert Cell.from_path(cell.predictions()) == cell
    assert Cell.from_path(cell.predictions("elsewhere")) == cell
    assert PREDICTIONS.format(**cell.as_dict()) == cell.predictions()
    with pytest.raises(GridError, match="weights 'finetuned'"):
        Cell.from_path("root/m/finetuned/direct/heb_Hebr.jsonl")
    with pytest.raises(GridError, match="must be at"):
        Cell.from_path("heb_Hebr.jsonl")


def test_the_demo_grid(demo):
    assert demo.weights == ("base", "ft-arabic-s0")
    assert len(demo.cells) == 2 * 2 * 2 * 5
    assert demo.cells[0] == Cell("demo-dense", "base", "direct", "arb_Arab")
    assert demo.adapters() == [
        f"results/adapters/{m}/ft-arabic-s0" for m in ("demo-dense", "demo-moe")
    ]
    assert demo.models_from("build") == ["demo-dense", "demo-moe"]
    assert demo.raw_data("heb_Hebr") == "resources/demo/belebele/heb_Hebr.jsonl"
    assert demo.source_train("ft-arabic-s7") == [
        "results/data/arb_Arab/train.jsonl",
        "results/data/arz_Arab/train.jsonl",
    ]
    assert demo.adapter("demo-moe", "base") == []
    assert demo.adapter("demo-moe", "ft-arabic-s0") == ["results/adapters/demo-moe/ft-arabic-s0"]


def test_the_paper_grid_counts(paper):
    assert len(paper.weights) == 1 + 2 * 3
    assert len(paper.cells) == 7 * 7 * 2 * 7
    assert paper.raw_data("heb_Hebr") == "results/raw/belebele/heb_Hebr.jsonl"


def test_model_settings_apply_the_study_defaults_once(demo):
    config = load("config")
    moe = demo.models["demo-moe"]
    assert moe.origin == "build" and moe.chat and moe.architecture == "moe"
    assert moe.lora["r"] == config["finetune"]["lora"]["r"]
    assert moe.lora["target_parameters"] == ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]
    assert "target_parameters" not in demo.models["demo-dense"].lora
    assert moe.train == config["finetune"]["train"]
    assert moe.eval_batch_size == config["evaluate"]["batch_size"]
    params = demo.eval_params("demo-moe", "cot")
    assert params["template"]["id"] == "belebele_cot"
    assert params["max_new_tokens"] == config["evaluate"]["max_new_tokens"]["cot"]
    assert params["chat"] is True and params["backend"] == "hf"
    finetune = demo.finetune_params("demo-dense", "ft-arabic-s1")
    assert finetune["seed"] == 1 and finetune["template"]["id"] == "belebele_num"


def test_the_evaluation_batch_size_has_one_default():
    config = load("config")
    del config["evaluate"]["batch_size"]
    study = Study.from_config(filled(config), base_dir=REPO)
    assert study.eval_params("demo-dense", "direct")["batch_size"] == 8
    config["models"]["demo-dense"]["eval_batch_size"] = 3
    study = Study.from_config(filled(config), base_dir=REPO)
    assert study.eval_params("demo-dense", "direct")["batch_size"] == 3


def test_a_model_needs_exactly_one_origin():
    config = load("config")
    config["models"]["demo-dense"]["hub_id"] = "org/model"
    with pytest.raises(GridError, match="exactly one of hub_id, path, gguf, build"):
        Study.from_config(filled(config), base_dir=REPO)


# The grid's layout and weights grammar are written once, in xlt.study. These patterns are how
# they would look anywhere else (built from parts, so that this file does not match itself).
DUPLICATED_GRID = [
    re.compile(r"\{model\}/\{weights\}/\{prompting\}/\{lang\}"),
    re.compile(r"\{m\}/\{w\}/\{p\}/\{l\}"),
    re.compile(r"ft-\{source\}-s\{seed\}"),
    re.compile("ft-" + r"\[a-z0-9\]"),
    re.compile(r"ft-\(\?P<source>"),
    re.compile(r"f\"ft-\{"),
    re.compile(r"/ weights / prompting /"),
]


def test_no_cell_path_or_weights_grammar_outside_the_study_module():
    files = subprocess.run(
        ["git", "ls-files", "src", "rules", "scripts", "Snakefile", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    offenders = []
    for name in files:
        if name == "src/xlt/study.py" or not name.endswith((".py", ".smk", "Snakefile")):
            continue
        text = (REPO / name).read_text(encoding="utf-8")
        offenders += [f"{name}: {p.pattern}" for p in DUPLICATED_GRID if p.search(text)]
    assert offenders == []


def test_building_a_study_does_not_touch_the_config(paper):
    config = filled(load("paper"))
    before = copy.deepcopy(config)
    Study.from_config(config, base_dir=REPO)
    assert config == before


def test_an_uninstalled_gguf_package_keeps_the_converted_version(tmp_path, monkeypatch):
    """Uninstalling the package a model was converted from must not plan a reconversion
    (which could not run); before any conversion the version is simply unknown."""
    config = load("small-real")
    config["models"]["gemma3-270m"]["gguf"]["package"] = "no-such-gguf-package"
    study = Study.from_config(filled(config), base_dir=REPO)
    monkeypatch.chdir(tmp_path)
    assert study.gguf_params("gemma3-270m")["installed_version"] is None
    sidecar = tmp_path / "results/models/gemma3-270m.json.prov.json"
    sidecar.parent.mkdir(parents=True)
    sidecar.write_text('{"params": {"installed_version": "1.0.0"}}', encoding="utf-8")
    assert study.gguf_params("gemma3-270m")["installed_version"] == "1.0.0"


def test_a_home_relative_model_path_is_expanded(monkeypatch):
    """The config checks accept "~/models/x"; the rules get the same path, expanded."""
    monkeypatch.setenv("HOME", "/home/researcher")
    config = load("config")
    entry = config["models"]["demo-dense"]
    entry.pop("build")
    entry["path"] = "~/models/dense"
    config["models"]["demo-moe"]["gguf"] = {"file": "~/gguf/moe.gguf"}
    config["models"]["demo-moe"].pop("build")
    study = Study.from_config(filled(config), base_dir=REPO)
    assert study.models["demo-dense"].path == "/home/researcher/models/dense"
    assert study.gguf_file("demo-moe") == ["/home/researcher/gguf/moe.gguf"]
