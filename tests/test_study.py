"""The grid as one object: names, paths, per-model settings and cluster requests."""

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from xlt.config import apply_defaults, validate_config
from xlt.study import (
    PREDICTIONS,
    Cell,
    GridError,
    Study,
    Weights,
    find_cells,
    literal_defaults,
    slurm_request,
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


# The README's table "Resources per model": config key -> plugin resource.
@pytest.mark.parametrize(
    ("settings", "request_"),
    [
        ({"gpus": 2}, {"gpu": 2}),
        ({"gpus": 2, "gpu_model": "h100"}, {"gpu": 2, "gpu_model": "h100"}),
        ({"gpus": 8, "nodes": 2}, {"gres": "gpu:8", "nodes": 2}),
        ({"gpus": 8, "nodes": 2, "gpu_model": "h100"}, {"gres": "gpu:h100:8", "nodes": 2}),
        ({"cpus": 16}, {"cpus_per_task": 16}),
        ({"mem_mb": 64000}, {"mem_mb": 64000}),
        ({"runtime": 120}, {"runtime": 120}),
        ({"partition": "gpu"}, {"slurm_partition": "gpu"}),
        ({"account": "lab"}, {"slurm_account": "lab"}),
        ({"constraint": "a100"}, {"constraint": "a100"}),
        ({"gpus": 0}, {}),
    ],
)
def test_each_resource_key_becomes_the_plugin_resource(settings, request_):
    assert slurm_request(settings) == request_


# The README's table of what config/paper.yaml asks for, one row per model.
PAPER_REQUESTS = {
    "qwen3-4b": (
        {"gpu": 1, "cpus_per_task": 8, "mem_mb": 64000, "runtime": 120},
        {"gpu": 1, "cpus_per_task": 4, "mem_mb": 32000, "runtime": 30},
    ),
    "qwen3-32b": (
        {"gpu": 2, "cpus_per_task": 16, "mem_mb": 160000, "runtime": 360},
        {"gpu": 1, "cpus_per_task": 8, "mem_mb": 96000, "runtime": 60},
    ),
    "gpt-oss-20b": (
        {"gpu": 1, "cpus_per_task": 8, "mem_mb": 96000, "runtime": 240},
        {"gpu": 1, "cpus_per_task": 8, "mem_mb": 64000, "runtime": 60},
    ),
    "gpt-oss-120b": (
        {"gpu": 4, "cpus_per_task": 32, "mem_mb": 400000, "runtime": 720},
        {"gpu": 2, "cpus_per_task": 16, "mem_mb": 256000, "runtime": 120},
    ),
    "llama-3.3-70b": (
        {"gpu": 4, "cpus_per_task": 32, "mem_mb": 400000, "runtime": 720},
        {"gpu": 2, "cpus_per_task": 16, "mem_mb": 256000, "runtime": 120},
    ),
    "qwen3-235b-a22b": (
        {"gpu": 8, "cpus_per_task": 64, "mem_mb": 900000, "runtime": 1440},
        {"gpu": 8, "cpus_per_task": 32, "mem_mb": 700000, "runtime": 240},
    ),
    "deepseek-v3.1": (
        {"nodes": 2, "gres": "gpu:8", "cpus_per_task": 64, "mem_mb": 1500000, "runtime": 2880},
        {"gpu": 8, "cpus_per_task": 64, "mem_mb": 1500000, "runtime": 480},
    ),
}


@pytest.mark.parametrize("model", sorted(PAPER_REQUESTS))
def test_every_paper_model_gets_its_own_request(paper, model):
    finetune, evaluate = PAPER_REQUESTS[model]
    assert paper.resources(model, "finetune") == finetune
    assert paper.resources(model, "evaluate") == evaluate
    assert paper.threads(model, "finetune") == finetune["cpus_per_task"]
    assert paper.threads(model, "evaluate") == evaluate["cpus_per_task"]


def test_paper_models_are_all_listed():
    assert set(load("paper")["models"]) == set(PAPER_REQUESTS)


def test_profile_defaults_fill_what_a_model_leaves_unset(paper):
    defaults = literal_defaults(["slurm_partition=gpu", "runtime=60", "mem_mb=4000"])
    request = paper.resources("qwen3-4b", "evaluate", defaults)
    assert request["slurm_partition"] == "gpu" and request["runtime"] == 30
    config = load("paper")
    config["models"]["qwen3-4b"]["resources"]["evaluate"]["partition"] = "short"
    study = Study.from_config(filled(config), base_dir=REPO)
    assert study.resources("qwen3-4b", "evaluate", defaults)["slurm_partition"] == "short"
    assert study.resources("qwen3-32b", "evaluate", defaults)["slurm_partition"] == "gpu"
    assert "slurm_partition" in study.requested_resources("evaluate")


def test_literal_defaults_keep_plain_values_and_skip_expressions():
    found = literal_defaults(
        [
            "mem_mb=min(max(2*input.size_mb, 1000), 8000)",
            "tmpdir=system_tmpdir",
            "slurm_account='my-lab'",
            "slurm_partition=gpu-long",
            "runtime=60",
        ]
    )
    assert found == {
        "tmpdir": "system_tmpdir",
        "slurm_account": "my-lab",
        "slurm_partition": "gpu-long",
        "runtime": 60,
    }


def test_a_model_needs_exactly_one_origin():
    config = load("config")
    config["models"]["demo-dense"]["hub_id"] = "org/model"
    with pytest.raises(GridError, match="exactly one of hub_id, path, gguf, build"):
        Study.from_config(filled(config), base_dir=REPO)


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
    study = Study.from_config(filled(config), base_dir=REPO)
    assert len(study.analysis_cells) == 3
    assert study.analysis_root == "results/external"
    assert study.analysis_test_files() == []
    assert study.analysis_predictions()[0] == f"{tmp_path}/tree/m/base/direct/heb_Hebr.jsonl"
    assert study.figures() == ["accuracy", "delta_heatmap", "base_vs_delta", "transfer_matrix"]
    assert find_cells(tmp_path / "tree") == list(study.analysis_cells)
    # The config's models and languages, when given, filter the tree.
    config["languages"] = ["heb_Hebr"]
    assert {c.model for c in Study.from_config(filled(config)).analysis_cells} == {"m"}
    del config["languages"]
    config["models"] = {"other": {}}  # a bare name: the schema allows it here
    validate_config(config, REPO / "config" / "schema.yaml")
    assert {c.model for c in Study.from_config(filled(config)).analysis_cells} == {"other"}


def test_an_external_tree_with_an_undeclared_source_is_refused(tmp_path):
    write_cells(tmp_path / "tree", Cell("m", "ft-arabic-s0", "direct", "heb_Hebr"))
    config = {
        "analysis": {"predictions_dir": str(tmp_path / "tree")},
        "sources": {"x": ["eng_Latn"]},
    }
    with pytest.raises(GridError, match=r"source 'arabic', which `sources:` does not declare"):
        _ = Study.from_config(filled(config)).analysis_cells
    config["analysis"]["output_dir"] = "results"
    config["sources"]["arabic"] = ["arb_Arab"]
    with pytest.raises(GridError, match=r"analysis\.output_dir: results/ holds"):
        _ = Study.from_config(filled(config)).analysis_cells


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
