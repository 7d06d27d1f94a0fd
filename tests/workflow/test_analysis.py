"""The analysis of the demo: every table, figure, findings.md, the report, explain, and the same
analysis run on a predictions tree made elsewhere."""

import shutil

import pandas as pd
import pytest
import yaml
from support.workflow import REPO, copy_workflow, job_stats, snakemake

from xlt.cli import main as xlt_main

pytestmark = pytest.mark.workflow

TABLES = (
    *("scores", "items", "deltas", "deltas_seed_mean", "transfer", "ft_vs_cot"),
    *("transfer_matrix", "typology", "typology_distances"),
)


def with_captions(workdir):
    """The report's caption files (report/) beside the workflow copy."""
    if not (workdir / "report").exists():
        shutil.copytree(REPO / "report", workdir / "report")
    return workdir


def planned_rules(output):
    """Rule names of a dry run's job-stats table."""
    return set(job_stats(output)) - {"total"}


def expected_figures(workdir):
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    names = ["accuracy", "delta_heatmap", "base_vs_delta", "transfer_matrix"]
    return names + (["ft_vs_cot"] if "cot" in config["prompting"] else [])


def test_every_table_figure_and_findings_exist(demo_run):
    results = demo_run / "results"
    for name in TABLES:
        path = results / "tables" / f"{name}.csv"
        assert len(pd.read_csv(path)) > 0, name
        assert (results / "tables" / f"{name}.csv.prov.json").exists()
    for name in expected_figures(demo_run):
        path = results / "figures" / f"{name}.png"
        assert path.stat().st_size > 10_000 and (path.parent / f"{name}.png.prov.json").exists()
    findings = (results / "findings.md").read_text()
    # The demo's 3 Semitic + 3 control targets: the language-level test cannot reject.
    assert "Language level (the headline" in findings
    assert "the design cannot answer this at the language level" in findings
    transfer = pd.read_csv(results / "tables" / "transfer.csv")
    pooled = transfer.query("level == 'pooled' and method == 'did' and scale == 'loglik'")
    assert "arb_Arab" in pooled.iloc[0]["excluded_langs"]
    assert "arb_Arab" not in pooled.iloc[0]["semitic_langs"]
    assert {"did", "ols", "mixed_logit", "language_meta"} <= set(transfer["method"])


def test_the_report_is_built(demo_run):
    with_captions(demo_run)
    snakemake(demo_run, "--report", "results/report.html")
    html = (demo_run / "results" / "report.html").read_text(errors="replace")
    assert "transfer.csv" in html and "delta_heatmap.png" in html
    assert "price.csv" in html and "pilot.csv" in html  # the price of the grid, the pilot


def test_explain_follows_a_transfer_row(demo_run, monkeypatch, capsys):
    monkeypatch.chdir(demo_run)
    transfer = pd.read_csv("results/tables/transfer.csv")
    row = transfer.query("level == 'pooled' and method == 'did'").index[0]
    assert xlt_main(["explain", "results/tables/transfer.csv", "--row", str(row)]) == 0
    out = capsys.readouterr().out
    assert "rule transfer" in out and "rule tables" in out
    assert "rule evaluate" in out and "rule finetune" in out


def test_the_analysis_runs_on_a_tree_made_elsewhere(demo_run, tmp_path):
    """A config with only `analysis.predictions_dir` and `sources` analyses a tree made
    elsewhere, into results/external/, and gets the workflow's own numbers back."""
    workdir = with_captions(copy_workflow(tmp_path))
    shutil.copytree(demo_run / "results" / "predictions", workdir / "external" / "predictions")
    study = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    minimal = {
        "analysis": {**study["analysis"], "predictions_dir": "external/predictions"},
        "sources": study["sources"],
    }
    (workdir / "config" / "outside.yaml").write_text(yaml.safe_dump(minimal, sort_keys=False))
    plan = snakemake(workdir, "-n", "--cores", "2", "--configfile", "config/outside.yaml")
    jobs = planned_rules(plan.stdout + plan.stderr)
    assert {"tables", "transfer", "figures", "findings"} <= jobs
    assert not jobs & {"evaluate", "finetune", "split", "build_demo_model", "check_data"}
    snakemake(workdir, "--cores", "2", "--configfile", "config/outside.yaml")
    ours = pd.read_csv(demo_run / "results" / "tables" / "transfer.csv")
    theirs = pd.read_csv(workdir / "results" / "external" / "tables" / "transfer.csv")
    columns = ["contrast", "scale", "level", "unit", "method", "term", "estimate", "p_value"]
    pd.testing.assert_frame_equal(ours[columns], theirs[columns])
    assert theirs["predictions_files"].dropna().str.startswith("external/predictions").all()
    assert (workdir / "results" / "external" / "findings.md").exists()
    assert not (workdir / "results" / "tables").exists()
