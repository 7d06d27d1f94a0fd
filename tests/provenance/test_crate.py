"""`xlt crate`: the provenance of a results tree as a Provenance Run Crate, read back with
ro-crate-py (and checked with roc-validator where it is installed)."""

import json

import pytest
from rocrate.rocrate import ROCrate
from support.data import REPO
from support.results import FT, results_tree

from xlt.cli import main as xlt_main
from xlt.provenance import read_provenance
from xlt.provenance.crate import PROFILES, write_crate


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return results_tree(tmp_path)


def ids(value) -> set[str]:
    values = value if isinstance(value, list) else [value]
    return {v.id for v in values if v is not None}


def types(entity) -> set[str]:
    kind = entity.type
    return set(kind if isinstance(kind, list) else [kind])


def actions(crate, kind: str) -> list:
    return [e for e in crate.get_entities() if kind in types(e)]


def test_the_crate_holds_every_job_with_its_files_times_and_tools(tree, tmp_path):
    out = write_crate("results", tmp_path / "crate", snakefile=REPO / "Snakefile")
    crate = ROCrate(out)
    assert set(PROFILES.values()) <= ids(crate.root_dataset["conformsTo"])
    assert "https://w3id.org/ro/wfrun/provenance/0.5" in ids(crate.root_dataset["conformsTo"])

    workflow = crate.mainEntity
    assert workflow.id == "Snakefile" and {"ComputationalWorkflow", "HowTo"} <= types(workflow)
    steps = workflow["step"]
    rules = {"split", "prepare_data", "build_demo_model", "finetune", "evaluate", "tables"}
    assert {s["name"] for s in steps} == rules

    sidecars = sorted(tmp_path.glob("results/**/*.prov.json"))
    jobs = [a for a in actions(crate, "CreateAction") if a.id.startswith("#job-")]
    assert len(jobs) == len(sidecars) == 11
    cell = tree.predictions[(FT, "heb_Hebr")]
    (job,) = [j for j in jobs if ids(j["result"]) == {str(cell)}]
    record = read_provenance(cell)
    assert job["instrument"].id == "#tool-evaluate"
    assert ids(job["object"]) == {
        str(tree.tests["heb_Hebr"]),
        str(tree.marker),
        f"{tree.adapter}/",
    }
    assert (job["startTime"], job["endTime"]) == (record["started"], record["finished"])
    result = crate.get(str(cell))
    assert result["sha256"] == record["output"]["sha256"]
    assert (out / cell).read_bytes() == cell.read_bytes()  # copied into the crate

    # The tool names the package versions the job ran with.
    tool = crate.get("#tool-evaluate")
    versions = {(s["name"].lower(), s.get("softwareVersion")) for s in tool["softwareRequirements"]}
    for name, version in record["environment"]["packages"].items():
        if name != "xlt":
            assert (name, version) in versions
    assert "torch" in record["environment"]["packages"]

    # Snakemake's run: one ControlAction per job, and the workflow run as its result.
    (engine_run,) = actions(crate, "OrganizeAction")
    assert engine_run["instrument"]["name"] == "Snakemake"
    assert engine_run["instrument"]["softwareVersion"] == record["environment"]["packages"].get(
        "snakemake"
    )
    controls = engine_run["object"]
    assert {c["object"].id for c in controls} == {j.id for j in jobs}
    assert all(c["instrument"].id.startswith("#step-") for c in controls)
    run = engine_run["result"]
    assert run["instrument"].id == "Snakefile"
    assert ids(run["result"]) == {str(tree.deltas), str(tree.scores)}
    assert {f"resources/raw/{lang}.jsonl" for lang in ("heb_Hebr", "amh_Ethi")} == ids(
        run["object"]
    )
    assert crate.root_dataset["mentions"].id == run.id


def test_without_data_the_crate_describes_files_it_does_not_copy(tree, tmp_path, capsys):
    out = tmp_path / "crate-light"
    code = xlt_main(
        ["crate", "results", str(out), "--snakefile", str(REPO / "Snakefile"), "--no-data"]
    )
    assert code == 0 and capsys.readouterr().out.strip() == str(out)
    assert not (out / "results").exists()
    metadata = json.loads((out / "ro-crate-metadata.json").read_text())
    entity = next(e for e in metadata["@graph"] if e["@id"] == str(tree.deltas))
    assert entity["@type"] == "File" and len(entity["sha256"]) == 64
    assert ROCrate(out).get(str(tree.deltas)) is not None


def test_a_tree_without_sidecars_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    code = xlt_main(["crate", "results", "out", "--snakefile", str(REPO / "Snakefile")])
    assert code == 2 and "no provenance sidecars" in capsys.readouterr().err


def test_the_crate_passes_the_provenance_run_crate_validator(tree, tmp_path):
    validator = pytest.importorskip("rocrate_validator")
    from rocrate_validator import models, services

    out = write_crate("results", tmp_path / "crate", snakefile=REPO / "Snakefile")
    settings = services.ValidationSettings(
        rocrate_uri=str(out),
        profile_identifier="provenance-run-crate-0.5",
        requirement_severity=models.Severity.REQUIRED,
    )
    result = services.validate(settings)
    messages = [str(issue.message) for issue in result.get_issues()]
    if any("Unable to retrieve" in m or "URLError" in m for m in messages):
        pytest.skip(f"the validator could not fetch the JSON-LD contexts: {messages[0]}")
    assert result.passed(), messages
    assert validator.__name__ == "rocrate_validator"
