"""The quiet console (`--logger xlt`): one line per finished job, a failure in full, dry runs as
Snakemake prints them. A toy workflow of three jobs, run by Snakemake in a temporary directory."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.workflow import job_stats

SRC = Path(__file__).resolve().parents[1] / "src"

SNAKEFILE = """
rule all:
    input: expand("out/{name}.txt", name=["a", "b"])

rule make:
    output: "out/{name}.txt"
    log: "logs/make/{name}.log"
    params: fail=config.get("fail", "")
    script: "make.py"
"""

# A job script as xlt writes them: details to the log, one `xlt: error:` line when it fails.
SCRIPT = """
import sys
name = snakemake.wildcards.name
with open(snakemake.log[0], "w") as log:
    print(f"making {name}", file=log)
    if snakemake.params.fail == name:
        print(f"xlt: error: {name} is broken; fix it and rerun", file=log)
        sys.exit(1)
with open(snakemake.output[0], "w") as out:
    out.write(name)
"""

JOB_LINE = re.compile(r"^\[\s*(\d+)/3\] (make a|make b|all)  \d+\.\d s$")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "make.py").write_text(SCRIPT)
    return tmp_path


def snakemake(workdir: Path, *args: str) -> tuple[int, str]:
    """Run Snakemake with this checkout's plugin; (exit status, console lines)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--logger", "xlt", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return result.returncode, result.stdout + result.stderr


def test_a_run_prints_its_plan_one_line_per_finished_job_and_a_summary(workdir):
    # --printshellcmds as the workflow profile once had it: script rules printed
    # `Shell command: None` for every job.
    code, out = snakemake(workdir, "--printshellcmds")
    assert code == 0, out
    lines = out.splitlines()
    assert "plan: 3 jobs (make 2, all 1)" in lines
    finished = [JOB_LINE.match(line) for line in lines if line.startswith("[")]
    assert all(finished) and [m.group(1) for m in finished] == ["1", "2", "3"], out
    assert sorted(m.group(2) for m in finished) == ["all", "make a", "make b"]
    assert re.match(r"^done: 3 jobs in \d+\.\d s$", lines[-1]), out
    assert "Shell command" not in out and "rule make:" not in out
    assert len(lines) <= 6, out  # plan, three jobs, summary (and at most the profile notice)


def test_a_failed_job_is_shown_in_full_with_its_log(workdir):
    code, out = snakemake(workdir, "--show-failed-logs", "--keep-going", "--config", "fail=b")
    assert code != 0
    block = out[out.index("Error in rule make") :]
    assert "wildcards: name=b" in block
    assert "log: logs/make/b.log" in block
    # The log's content, its lines unindented (tools look for `xlt: error:` at a line's start).
    assert re.search(r"^xlt: error: b is broken; fix it and rerun$", block, flags=re.M), out
    assert out.count("Error in rule make") == 1, out  # Snakemake's repeat at the end is not shown
    assert any(JOB_LINE.match(line) and "make a" in line for line in out.splitlines()), out
    summary = out.splitlines()[-1]
    assert summary.startswith("failed: 1 of 3 jobs (make b), 1 done in "), out
    assert "see logs/make/b.log; complete log: .snakemake/log/" in summary


def test_a_dry_run_prints_what_snakemake_prints(workdir):
    code, out = snakemake(workdir, "-n")
    assert code == 0, out
    assert "Job stats:" in out
    assert job_stats(out) == {"all": 1, "make": 2, "total": 3}
    assert re.search(r"^rule make:$", out, flags=re.M) and "wildcards: name=b" in out


def test_snakemake_console_for_one_run(workdir):
    code, out = snakemake(workdir, "--logger-xlt-snakemake-console")
    assert code == 0, out
    assert re.search(r"^(local)?rule make:$", out, flags=re.M) and "3 of 3 steps (100%) done" in out
    assert "plan:" not in out


def test_a_slurm_group_job_keeps_its_submission_line_and_numbers_each_cell():
    """Records as a SLURM run sends them: two cells of one group job, submitted together,
    finished together, one progress record."""
    from snakemake.settings.types import OutputSettings
    from snakemake_interface_logger_plugins.common import LogEvent

    from snakemake_logger_plugin_xlt import LogHandler, LogHandlerSettings

    handler = LogHandler(OutputSettings(), LogHandlerSettings())
    handler.stream = io.StringIO()

    def log(msg: str, **extra) -> None:
        record = logging.LogRecord("snakemake.logging", logging.INFO, "", 0, msg, None, None)
        record.__dict__.update(extra)
        handler.handle(record)

    log("Job stats: ...", event=LogEvent.RUN_INFO, stats={"evaluate": 2, "total": 2})
    log("Group job eval-m", event=LogEvent.GROUP_INFO, group_id="eval-m", jobs=[])
    for jobid, lang in ((1, "heb_Hebr"), (2, "amh_Ethi")):
        wildcards = {"model": "m", "weights": "base", "prompting": "direct", "lang": lang}
        log(
            "",
            event=LogEvent.JOB_INFO,
            jobid=jobid,
            rule_name="evaluate",
            wildcards=wildcards,
            log=[f"logs/{lang}.log"],
        )
    submitted = (
        "Job 7 has been submitted with SLURM jobid 42 (log: /w/.snakemake/slurm_logs/x.log)."
    )
    log(submitted)
    log("Finished jobid: 1", event=LogEvent.JOB_FINISHED, job_id=1)
    log("Finished jobid: 2", event=LogEvent.JOB_FINISHED, job_id=2)
    log("None", event=LogEvent.PROGRESS, done=2, total=2)
    log("Complete log(s): /w/.snakemake/log/run.snakemake.log")

    lines = handler.stream.getvalue().splitlines()
    assert lines[:2] == ["plan: 2 jobs (evaluate 2)", submitted]
    assert [line.rsplit("  ", 1)[0] for line in lines[2:4]] == [
        "[1/2] evaluate m/base/direct/heb_Hebr",
        "[2/2] evaluate m/base/direct/amh_Ethi",
    ]
    assert lines[4].startswith("done: 2 jobs in ") and len(lines) == 5


def test_the_settings_the_console_reads_are_part_of_the_plugin_interface():
    from importlib.metadata import version

    from snakemake.settings.types import OutputSettings
    from snakemake_interface_logger_plugins.settings import OutputSettingsLoggerInterface

    from snakemake_logger_plugin_xlt import COMMON_SETTINGS

    declared = OutputSettingsLoggerInterface.__annotations__
    moved = [name for name in COMMON_SETTINGS if name not in declared]
    assert not moved, (
        f"snakemake-interface-logger-plugins {version('snakemake-interface-logger-plugins')} "
        f"no longer declares {moved}: mend snakemake_logger_plugin_xlt"
    )
    assert all(hasattr(OutputSettings(), name) for name in COMMON_SETTINGS), version("snakemake")


def test_a_changed_interface_gives_one_warning_and_snakemake_s_console(capsys):
    """A Snakemake whose settings lack what the console reads: a line that says so, then
    Snakemake's own console (its filter and formatter), not a traceback."""
    from types import SimpleNamespace

    from snakemake_logger_plugin_xlt import LogHandler, LogHandlerSettings

    changed = SimpleNamespace(stdout=False, nocolor=True, quiet=None, dryrun=False)
    handler = LogHandler(changed, LogHandlerSettings())
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("xlt: warning: Snakemake ") and "\n" not in warning
    assert "has no printshellcmds, show_failed_logs, debug_dag;" in warning
    assert handler.snakemake_console and not handler.has_filter and not handler.has_formatter
    handler.stream = io.StringIO()
    handler.handle(logging.LogRecord("snakemake", logging.INFO, "", 0, "Building DAG", None, None))
    assert handler.stream.getvalue() == "Building DAG\n"
