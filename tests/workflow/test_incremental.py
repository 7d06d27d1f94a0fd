"""Incremental rebuilds: after the demo has run, a config change plans exactly the jobs it must.

Each test copies the finished demo (results, logs and .snakemake metadata, mtimes kept), edits
the config, and reads the job counts of `snakemake -n`. The rerun triggers are those of
profiles/default/config.yaml (mtime, params, input, code).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from support.workflow import REPO, job_stats, snakemake

pytestmark = pytest.mark.workflow

# The analysis (tables, figures, ...) reads every cell, so any change that reruns a cell reruns
# it; the price (rules/cost.smk) is remade from the config whenever the grid changes.
ANALYSIS_RULES = frozenset(
    rule
    for name in ("analysis.smk", "cost.smk")
    for rule in re.findall(r"^rule (\w+):", (REPO / "rules" / name).read_text(), flags=re.M)
)


@pytest.fixture
def demo(demo_run, tmp_path) -> Path:
    """A private copy of the finished demo (adapters stay write-protected: fine for -n)."""
    dest = tmp_path / "demo"
    shutil.copytree(demo_run, dest, symlinks=True)
    return dest


def planned(workdir: Path) -> dict[str, int]:
    """rule -> jobs in the dry run's job stats (empty when nothing is to be done); the analysis
    rules and `all` count as one entry, "analysis", once checked to be planned once each."""
    result = snakemake(workdir, "-n", "--cores", "2")
    out = result.stdout + result.stderr
    if "Nothing to be done" in out:
        return {}
    counts = job_stats(out)
    assert counts.pop("total") == sum(counts.values())
    analysis = {rule: counts.pop(rule) for rule in list(counts) if rule in ANALYSIS_RULES}
    if analysis or "all" in counts:
        assert counts.pop("all") == 1
        assert "tables" in analysis and set(analysis.values()) == {1}, analysis
        counts["analysis"] = 1
    return counts


def edit_yaml(path: Path, edit) -> dict:
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return data


def grid(config: dict) -> tuple[int, int, int, int, int]:
    """(models, adapters per model, prompting conditions, languages, sources)."""
    n_adapters = len(config["sources"]) * len(config["seeds"])
    return (
        len(config["models"]),
        n_adapters,
        len(config["prompting"]),
        len(config["languages"]),
        len(config["sources"]),
    )


def test_adding_a_language_plans_only_its_cells(demo):
    config = edit_yaml(demo / "config" / "config.yaml", lambda c: c["languages"].append("tir_Ethi"))
    models, adapters, promptings, _, _ = grid(config)
    cells = models * (1 + adapters) * promptings
    assert planned(demo) == {
        "prepare_data": 1,
        "evaluate": cells,
        "analysis": 1,
    }


def test_adding_a_seed_plans_only_its_adapters_and_their_cells(demo):
    config = edit_yaml(demo / "config" / "config.yaml", lambda c: c["seeds"].append(7))
    models, _, promptings, languages, sources = grid(config)
    cells = models * sources * promptings * languages
    assert planned(demo) == {
        "finetune": models * sources,
        "evaluate": cells,
        "analysis": 1,
    }


def test_changing_an_evaluation_template_reruns_only_its_cells(demo):
    config = yaml.safe_load((demo / "config" / "config.yaml").read_text())
    # Fine-tuning formats its examples with the `direct` template; any other condition's
    # template is evaluation-only.
    others = [p for p in config["prompting"] if p != "direct"]
    if not others:
        pytest.skip("the config evaluates only `direct`, whose template fine-tuning also uses")
    prompting = others[0]
    template_id = config["prompts"][prompting]

    def reword(templates):
        templates[template_id]["text"] = "Read carefully.\n" + templates[template_id]["text"]

    edit_yaml(demo / config["templates_file"], reword)
    models, adapters, _, languages, _ = grid(config)
    cells = models * (1 + adapters) * languages
    assert planned(demo) == {"evaluate": cells, "analysis": 1}


def test_changing_the_direct_template_also_retrains(demo):
    """The `direct` template formats the fine-tuning examples too, so every adapter is retrained,
    and every cell that uses the template or an adapter is re-evaluated: all but base cells of
    the other conditions."""
    config = yaml.safe_load((demo / "config" / "config.yaml").read_text())
    template_id = config["prompts"]["direct"]

    def reword(templates):
        templates[template_id]["text"] = "Read carefully.\n" + templates[template_id]["text"]

    edit_yaml(demo / config["templates_file"], reword)
    models, adapters, promptings, languages, _ = grid(config)
    cells = models * (adapters * promptings + 1) * languages
    assert planned(demo) == {
        "finetune": models * adapters,
        "evaluate": cells,
        "analysis": 1,
    }


def test_changing_a_lora_setting_reruns_adapters_and_downstream_only(demo):
    config = edit_yaml(
        demo / "config" / "config.yaml",
        lambda c: c["finetune"]["lora"].update(r=c["finetune"]["lora"]["r"] * 2),
    )
    models, adapters, promptings, languages, _ = grid(config)
    cells = models * adapters * promptings * languages
    assert planned(demo) == {
        "finetune": models * adapters,
        "evaluate": cells,
        "analysis": 1,
    }


def test_nothing_is_planned_in_an_unchanged_copy(demo):
    assert planned(demo) == {}
