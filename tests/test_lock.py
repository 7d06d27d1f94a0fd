"""The locked environment (xlt.lock): the lock's hash in every sidecar, `xlt audit`'s note on
outputs made under another lock, and `xlt doctor` on an environment that differs from the lock."""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

import pytest
from support.results import results_tree

from xlt.doctor import environment_line
from xlt.lock import LOCKS, PROJECT_ROOT, lock_status, locked_versions, same_version
from xlt.provenance import read_provenance, write_provenance
from xlt.provenance.audit import audit


def write_lock(root: Path, pins: dict[str, str], name: str = LOCKS[0]) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{package}=={version} \\\n    --hash=sha256:{'0' * 64}"
        for package, version in pins.items()
    ]
    path.write_text("# made by a test\n" + "\n".join(lines) + "\n")
    return path


def test_the_checkout_has_both_locks_pinning_torch_and_snakemake():
    for name in LOCKS:
        pins = locked_versions(PROJECT_ROOT / name)
        assert pins["torch"].startswith("2.13.0") and pins["snakemake"].startswith("9."), name
        text = (PROJECT_ROOT / name).read_text()
        assert all("--hash=sha256:" in block for block in text.split("==")[1:]), name
    cpu = locked_versions(PROJECT_ROOT / LOCKS[0])
    assert cpu["torch"] == "2.13.0+cpu" and not any(p.startswith("nvidia-") for p in cpu)


def test_versions_compare_as_pep_440_and_a_lock_without_local_label_admits_a_build():
    assert same_version("2.13.0", "2.13.0+cpu")
    assert not same_version("2.13.0+cpu", "2.13.0+cu130")
    assert same_version("1.0", "1.0.0") and not same_version("9.27.1", "9.15.0")


def test_an_environment_that_differs_from_the_lock_is_named_by_doctor(tmp_path):
    installed = metadata.version("pyyaml")
    write_lock(tmp_path, {"pyyaml": installed, "snakemake": "9.0.0", "no-such-package": "1.0"})
    status = lock_status(tmp_path)
    assert [d.line() for d in status.differences] == [
        f"snakemake {metadata.version('snakemake')} (lock: 9.0.0)",
        "no-such-package not installed (lock: 1.0)",
    ]
    line = environment_line(tmp_path)
    assert line.startswith(f"environment: differs from {LOCKS[0]} in 2 package(s): snakemake ")
    assert line.endswith(f"install the lock: pip install -r {LOCKS[0]}")
    write_lock(tmp_path, {"pyyaml": installed})
    lock_status.cache_clear()
    assert environment_line(tmp_path).startswith(f"environment: matches {LOCKS[0]} (sha256 ")


def test_every_sidecar_records_the_lock_and_audit_notes_another_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.txt"
    out.write_text("x")
    write_provenance(out, rule="r", inputs={})
    lock = read_provenance(out)["environment"]["lock"]
    current = lock_status()
    assert lock["file"] == current.path and lock["matches"] == current.matches
    expected = hashlib.sha256((PROJECT_ROOT / current.path).read_bytes()).hexdigest()
    assert lock["sha256"] == expected

    tree = results_tree(tmp_path)
    assert audit("results").other_lock == []
    adapter_sidecar = Path(f"{tree.adapter}.prov.json")
    record = json.loads(adapter_sidecar.read_text())
    record["environment"]["lock"]["sha256"] = "f" * 64  # made under a lock since refreshed
    adapter_sidecar.write_text(json.dumps(record))
    report = audit("results")
    assert report.problems == []  # a note, not stale
    note = next(line for line in report.render().splitlines() if line.startswith("note: "))
    assert note.startswith("note: 1 output(s) were made under another lock than the current")
    assert "lock sha256 ffffffffffff" in note


@pytest.fixture(autouse=True)
def fresh_lock_status():
    lock_status.cache_clear()
    yield
    lock_status.cache_clear()


def test_rules_import_the_checkout_s_xlt(tmp_path, monkeypatch):
    from xlt.lock import use_checkout_source

    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    use_checkout_source(tmp_path)  # no src/xlt there: nothing changes
    assert os.environ["PYTHONPATH"] == "/elsewhere"
    use_checkout_source(PROJECT_ROOT)
    use_checkout_source(PROJECT_ROOT)  # a second parse (a cluster job) adds nothing
    assert os.environ["PYTHONPATH"] == f"{PROJECT_ROOT / 'src'}:/elsewhere"
