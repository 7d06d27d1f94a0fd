"""The Snakemake internals xlt uses (xlt.snakemake_internals) against the installed Snakemake.

When one of these fails after a Snakemake upgrade, the message names the release and the
internal: mend `xlt.snakemake_internals` (the one place that touches it) before users meet it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from xlt.snakemake_internals import (
    SnakemakeInterfaceError,
    declare_params,
    is_touch_run,
    planned_jobs,
    snakemake_version,
)

# A workflow that reports, from `onstart`, what each helper sees of a real Snakemake run.
SNAKEFILE = """
from xlt.snakemake_internals import (
    before_output_deletion, config_file_paths, configfiles_given, declare_params,
    default_resource_args, is_touch_run, planned_jobs,
)

def refuse(only_temp):
    print(f"DELETION only_temp={only_temp}")
    raise SystemExit(1)

before_output_deletion(workflow, refuse)

def n_inputs(wildcards):
    return [f"in/{wildcards.name}.txt"]

declare_params(n_inputs)

rule all:
    input: expand("out/{name}.txt", name=["a", "b"])

rule make:
    input: n_inputs
    output: "out/{name}.txt"
    shell: "cp {input} {output}"

onstart:
    for p in planned_jobs(workflow):
        print(f"PLANNED {p.rule} {sorted(p.job.output)} | {p.reason}")
    print(f"TOUCH {is_touch_run(workflow)} CONFIGFILES {configfiles_given(workflow)}")
    print(f"DEFAULTS {default_resource_args(workflow)}")
    print(f"CONFIGFILES {config_file_paths(workflow)}")
"""


def run_snakemake(workdir: Path, *args: str, status: int = 0) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode == status, f"Snakemake {snakemake_version()}:\n{out}"
    return out


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "in").mkdir()
    for name in "ab":
        (tmp_path / "in" / f"{name}.txt").write_text(name)
    return tmp_path


def test_planned_jobs_and_their_reasons_come_from_the_installed_snakemake(workdir):
    out = run_snakemake(workdir, "--default-resources", "mem_mb=100", "slurm_partition='gpu'")
    planned = sorted(line for line in out.splitlines() if line.startswith("PLANNED "))
    assert [line.split(" | ")[0] for line in planned] == [
        "PLANNED all []",
        "PLANNED make ['out/a.txt']",
        "PLANNED make ['out/b.txt']",
    ], f"Snakemake {snakemake_version()} changed workflow.dag:\n{out}"
    assert "Missing output files" in planned[1], out
    assert "TOUCH False CONFIGFILES False" in out
    defaults = next(line for line in out.splitlines() if line.startswith("DEFAULTS "))
    assert "'mem_mb=100', \"slurm_partition='gpu'\"" in defaults, out


def test_touch_and_configfiles_are_seen(workdir):
    (workdir / "extra.yaml").write_text("x: 1\n")
    run_snakemake(workdir)  # outputs exist, so --touch has something to touch
    out = run_snakemake(workdir, "--touch", "--forceall", "--configfile", "extra.yaml")
    assert "TOUCH True CONFIGFILES True" in out, out
    files = next(line for line in out.splitlines() if line.startswith("CONFIGFILES ['"))
    assert Path(ast.literal_eval(files.split(" ", 1)[1])[0]).name == "extra.yaml", out


def test_output_deletion_is_seen_before_anything_is_deleted(workdir):
    """`--delete-all-output` and `--delete-temp-output` never reach `onstart`; the check that
    `before_output_deletion` installs runs first, and a dry run deletes nothing."""
    run_snakemake(workdir)
    for option, only_temp in (("--delete-all-output", False), ("--delete-temp-output", True)):
        out = run_snakemake(workdir, option, status=1)
        assert f"DELETION only_temp={only_temp}" in out, (
            f"Snakemake {snakemake_version()} moved workflow.delete_output:\n{out}"
        )
        assert sorted(p.name for p in (workdir / "out").iterdir()) == ["a.txt", "b.txt"], out
    out = run_snakemake(workdir, "--delete-all-output", "--dry-run")
    assert "DELETION" not in out and "Would delete" in out, out


def test_declare_params_spares_snakemake_the_signature_inspection():
    def function(wildcards):
        return wildcards

    declare_params(function)
    moved_message = f"Snakemake {snakemake_version()} moved overwrite_function_params"
    try:
        from snakemake.common import FUNC_OVERWRITE_PARAMS_ATTR, get_function_params
    except ImportError:  # declare_params then does nothing, and planning is slower
        pytest.fail(moved_message)
    assert hasattr(function, FUNC_OVERWRITE_PARAMS_ATTR), moved_message
    assert list(get_function_params(function)) == ["wildcards"], moved_message


def test_a_moved_internal_is_one_line_naming_the_snakemake_release():
    with pytest.raises(SnakemakeInterfaceError) as raised:
        planned_jobs(SimpleNamespace(dag=SimpleNamespace()))
    message = str(raised.value)
    assert message.startswith(f"Snakemake {snakemake_version()} no longer offers workflow.dag")
    assert "requirements/lock-cpu.txt" in message and "\n" not in message
    with pytest.raises(SnakemakeInterfaceError, match=r"workflow\.touch"):
        is_touch_run(SimpleNamespace())
