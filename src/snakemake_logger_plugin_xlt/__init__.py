"""Snakemake logger plugin `xlt`: a quiet console for workflow runs.

`snakemake --logger xlt` (profiles/default/config.yaml sets it for this workflow) prints:

    plan: 114 jobs (evaluate 84, check_data 10, ...)
    [  1/114] prepare_data arb_Arab  2.1 s
    ...
    done: 114 jobs in 4 min 12 s

A failed job's error block (rule, wildcards, log files, and the end of the log with
--show-failed-logs), Snakemake's own warnings and errors, "Nothing to be done" and the messages
of executor plugins (SLURM submissions) are printed as they come; Snakemake's per-job rule blocks,
shell commands (unless --printshellcmds) and scheduling chatter are not. The complete log in
.snakemake/log/ keeps Snakemake's usual detail: Snakemake writes it with its own formatter.

Dry runs print exactly what Snakemake prints without the plugin: the job blocks, the `Job stats:`
table and its `total N` line are read by people and parsed by tests and benchmarks.
"""

import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

# Snakemake's messages that say nothing a user acts on during a run; they stay in the complete
# log. Matched at the start of the message.
QUIET_MESSAGES = re.compile(
    "|".join(
        re.escape(prefix)
        for prefix in (
            "Assuming unrestricted shared filesystem usage",
            "host: ",
            "Building DAG of jobs",
            "Using shell: ",
            "Select jobs to execute",
            "Shutting down, this might take some time",
            "Group jobs: inactive",
            "Conda environments: ignored",
            "Singularity containers: ignored",
            "Removing temporary output",
            "Write-protecting output file",
            "Elapsed time: ",  # the summary line gives it
        )
    )
)
# Printed before Snakemake repeats every failed job's error block; the summary line replaces both.
FINAL_ERRORS = "Exiting because a job execution failed"
RUN_FAILED = "At least one job did not complete successfully"
COMPLETE_LOG = "Complete log(s): "
# Lines of a failed job's log shown with --show-failed-logs: its end holds the error.
LOG_TAIL_LINES = 100
# Events that carry nothing for the quiet console (job starts, resources, rule graphs).
SILENT_EVENTS = {
    LogEvent.WORKFLOW_STARTED,
    LogEvent.JOB_STARTED,
    LogEvent.GROUP_INFO,
    LogEvent.RESOURCES_INFO,
    LogEvent.RULEGRAPH,
}
# What the console reads of Snakemake's settings; the logger plugin interface
# (OutputSettingsLoggerInterface) declares each, and tests/test_logger_plugin.py checks it.
COMMON_SETTINGS = (
    "stdout",
    "nocolor",
    "quiet",
    "dryrun",
    "printshellcmds",
    "show_failed_logs",
    "debug_dag",
)
RED, YELLOW = "\033[31m", "\033[33m"
RESET = "\033[0m"


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """`--logger-xlt-snakemake-console`: Snakemake's own console for one run (the profile
    enables the plugin for every run). Otherwise the console follows Snakemake's options
    (--quiet, --printshellcmds, --show-failed-logs, --nocolor, --verbose, --debug-dag)."""

    snakemake_console: bool = field(
        default=False,
        metadata={
            "help": "Print Snakemake's usual console (a block per job) instead of xlt's quiet "
            "one. The complete log in .snakemake/log/ has it either way."
        },
    )


@dataclass
class JobInfo:
    """What the console says about one job: its label, wildcards and where its log is."""

    label: str
    wildcards: dict[str, str]
    logs: list[str]
    started: float


def job_label(rule: str, wildcards: Any) -> str:
    """`evaluate demo-dense/base/direct/heb_Hebr`: the rule and its wildcard values."""
    values = "/".join(str(value) for value in dict(wildcards or {}).values())
    return f"{rule} {values}" if values else rule


def format_duration(seconds: float) -> str:
    """`4.2 s`, `3 min 12 s`, `2 h 05 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def n_jobs(n: int) -> str:
    """`1 job`, `114 jobs`."""
    return f"{n} job" if n == 1 else f"{n} jobs"


def plan_line(stats: dict[str, int]) -> str:
    """`plan: 114 jobs (evaluate 84, check_data 10, ...)`, largest rules first."""
    counts = {rule: n for rule, n in stats.items() if rule != "total"}
    total = stats.get("total", sum(counts.values()))
    rules = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return f"plan: {n_jobs(total)} ({', '.join(f'{rule} {n}' for rule, n in rules)})"


def relative(path: str) -> str:
    """`path` relative to the working directory when it lies below it (shorter to read)."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def log_tail(path: str, limit: int = LOG_TAIL_LINES) -> list[str]:
    """The end of a failed job's log, framed; lines keep their own start (tools match
    `xlt: error:` at the start of a line)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            lines = log.read().splitlines()
    except OSError:
        return [f"Logfile {path} not found."]
    if not lines:
        return [f"Logfile {path}: empty file"]
    shown = lines[-limit:]
    skipped = len(lines) - len(shown)
    header = f"Logfile {path}:" + (f" last {len(shown)} of {len(lines)} lines" if skipped else "")
    rule = "=" * min(max(len(header), *(len(line) for line in shown)), 80)
    return [header, rule, *shown, rule]


def interface_warning(missing: list[str]) -> str:
    """One line for a Snakemake whose logger settings lack what the console reads."""
    from importlib.metadata import version

    return (
        f"xlt: warning: Snakemake {version('snakemake')}'s logger interface has no "
        f"{', '.join(missing)}; printing Snakemake's own console instead of xlt's (install the "
        "locked versions: pip install -r requirements/lock-cpu.txt)"
    )


class _Fallback:
    """Settings that answer what a changed interface no longer has with Snakemake's defaults."""

    def __init__(self, settings: Any) -> None:
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._settings, name, None)


class LogHandler(LogHandlerBase):
    """The console of a Snakemake run: one line per finished job, errors in full.

    Built on the logger plugin interface only: in Snakemake's console mode (dry runs,
    `--logger-xlt-snakemake-console`) the handler declares no filter and no formatter of its
    own, so Snakemake attaches the ones its console uses; the quiet console filters itself and
    borrows Snakemake's formatter for the records it prints as Snakemake would.
    """

    writes_to_stream = True
    writes_to_file = False
    has_formatter = False
    needs_rulegraph = False

    def __post_init__(self) -> None:
        settings = self.common_settings
        missing = [name for name in COMMON_SETTINGS if not hasattr(settings, name)]
        if missing:  # a Snakemake whose logger interface changed: say so, print its own console
            sys.stderr.write(interface_warning(missing) + "\n")
            settings = self.common_settings = _Fallback(settings)
        self.stream: TextIO = sys.stdout if settings.stdout else sys.stderr
        self.color = not settings.nocolor and self._is_tty()
        quiet = {getattr(q, "name", str(q)).upper() for q in settings.quiet or ()}
        self.quiet_all = "ALL" in quiet
        self.quiet_progress = self.quiet_all or "PROGRESS" in quiet
        self.snakemake_console = bool(
            missing or settings.dryrun or getattr(self.settings, "snakemake_console", False)
        )
        self.last_was_job_info = False
        self.started = time.time()
        self.jobs: dict[int, JobInfo] = {}
        self.finished: list[tuple[JobInfo | None, float]] = []  # waiting for their PROGRESS
        self.failed: dict[int, JobInfo | None] = {}
        self.planned = 0
        self.done = 0
        self.repeating_errors = False
        self.summarized = False

    @property
    def has_filter(self) -> bool:
        """Snakemake's console mode uses Snakemake's filter; the quiet console its own."""
        return not self.snakemake_console

    def _is_tty(self) -> bool:
        return os.environ.get("TERM") != "dumb" and bool(
            getattr(self.stream, "isatty", lambda: False)()
        )

    def emit(self, record: logging.LogRecord) -> None:
        """Print what `record` means for this console (often nothing)."""
        try:
            lines = self.snakemake_lines(record) if self.snakemake_console else self.lines(record)
            if lines:
                self.write(lines, record.levelno)
        except Exception:
            self.handleError(record)

    def snakemake_lines(self, record: logging.LogRecord) -> list[str]:
        """A record as Snakemake's own console prints it: its formatter's text, a blank line
        before each run of job blocks, nothing for empty messages."""
        job_info = getattr(record, "event", None) == LogEvent.JOB_INFO
        blank = job_info and not self.last_was_job_info
        self.last_was_job_info = job_info
        text = self.format(record)
        if text in ("", "None"):
            return []
        return ["", text] if blank else [text]

    def write(self, lines: list[str], level: int = logging.INFO) -> None:
        """Write `lines`, red for errors and yellow for warnings on a terminal."""
        text = "\n".join(lines)
        if self.color and level >= logging.WARNING:
            text = (RED if level >= logging.ERROR else YELLOW) + text + RESET
        self.stream.write(text + "\n")
        self.stream.flush()

    def lines(self, record: logging.LogRecord) -> list[str]:
        """The console lines of one record."""
        event = getattr(record, "event", None)
        if event in SILENT_EVENTS:
            return []
        if event == LogEvent.JOB_INFO:
            wildcards = {name: str(value) for name, value in dict(record.wildcards or {}).items()}
            self.jobs[record.jobid] = JobInfo(
                job_label(record.rule_name, wildcards), wildcards, list(record.log), record.created
            )
            return []
        if event == LogEvent.JOB_FINISHED:
            self.failed.pop(record.job_id, None)  # an earlier attempt failed, a retry did not
            self.finished.append((self.jobs.get(record.job_id), record.created))
            return []
        if event == LogEvent.PROGRESS:
            return self.progress(record.done, record.total)
        if event == LogEvent.RUN_INFO and isinstance(getattr(record, "stats", None), dict):
            self.planned = record.stats.get("total", 0)
            return [] if self.quiet_progress else [plan_line(record.stats)]
        if event == LogEvent.SHELLCMD:
            shellcmd = getattr(record, "shellcmd", None)  # None for script: and run: rules
            if shellcmd and self.common_settings.printshellcmds:
                return [f"$ {shellcmd.strip()}"]
            return []
        if event == LogEvent.JOB_ERROR:
            return self.job_error(record)
        if event in (LogEvent.DEBUG_DAG, LogEvent.GROUP_ERROR):
            if event == LogEvent.DEBUG_DAG and not self.common_settings.debug_dag:
                return []
            return [self.format(record)]
        return self.message(record)

    def progress(self, done: int, total: int) -> list[str]:
        """`[ 37/114] evaluate demo-dense/base/direct/heb_Hebr  4.2 s` per job finished since
        the last progress record (a group job reports several at once)."""
        finished, self.finished = self.finished, []
        self.done, self.planned = done, total  # checkpoints can add jobs to the plan
        if self.quiet_progress:
            return []
        width = len(str(total))
        first = done - len(finished) + 1
        lines = []
        for number, (job, ended) in enumerate(finished, start=first):
            what = f"{job.label}  {format_duration(ended - job.started)}" if job else "job"
            lines.append(f"[{number:>{width}}/{total}] {what}")
        return lines

    def job_error(self, record: logging.LogRecord) -> list[str]:
        """A failed job in full: rule, wildcards, message, files, and its log's end."""
        job = self.jobs.get(record.jobid)
        self.failed[record.jobid] = job
        if self.repeating_errors:
            return []  # Snakemake repeats each failed job at the end: the summary names them
        lines = [f"Error in rule {record.rule_name} (job {record.jobid}):"]
        if job is not None and job.wildcards:
            wildcards = ", ".join(f"{name}={value}" for name, value in job.wildcards.items())
            lines.append(f"    wildcards: {wildcards}")
        if getattr(record, "rule_msg", None):
            lines.append(f"    message: {record.rule_msg}")
        if record.output:
            lines.append(f"    output: {', '.join(record.output)}")
        if record.log:
            lines.append(f"    log: {', '.join(record.log)} (check log file(s) for error details)")
        if getattr(record, "conda_env", None):
            lines.append(f"    conda-env: {record.conda_env}")
        if getattr(record, "shellcmd", None):
            lines.append(f"    shell: {record.shellcmd.strip()}")
        lines.extend(f"    {key}: {value}" for key, value in (record.aux or {}).items())
        if self.common_settings.show_failed_logs:
            for path in record.log:
                lines.extend(log_tail(path))
        return lines

    def message(self, record: logging.LogRecord) -> list[str]:
        """A plain message: errors, warnings and messages from executors in full; Snakemake's
        scheduling chatter not at all; the complete log's path in the summary."""
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            if text.startswith(FINAL_ERRORS):
                self.repeating_errors = True
                return []
            if self.summarized and self.failed and RUN_FAILED in text:
                return []  # the summary said so
            return [text]
        if text.startswith(COMPLETE_LOG):
            self.summarize(text.removeprefix(COMPLETE_LOG))
            return []
        if self.quiet_all or (record.levelno == logging.INFO and QUIET_MESSAGES.match(text)):
            return []
        return [text] if text not in ("", "None") else []

    def summarize(self, complete_log: str | None = None) -> None:
        """Print the run's last line, once: `done: 114 jobs in 4 min 12 s`, or what failed and
        where its logs are."""
        if self.summarized or not self.planned:
            return
        self.summarized = True
        elapsed = format_duration(time.time() - self.started)
        if not self.failed:
            if self.done >= self.planned:
                line = f"done: {n_jobs(self.done)} in {elapsed}"
            else:
                line = f"stopped: {self.done} of {n_jobs(self.planned)} done in {elapsed}"
            if not self.quiet_all:
                self.write([line])
            return
        labels = [job.label if job else f"job {jobid}" for jobid, job in self.failed.items()]
        logs = [relative(path) for job in self.failed.values() if job for path in job.logs]
        see = [", ".join(logs[:3]) + (f" and {len(logs) - 3} more" if len(logs) > 3 else "")]
        if complete_log:
            see.append(f"complete log: {relative(complete_log)}")
        failed = "; ".join(labels[:3]) + (f"; {len(labels) - 3} more" if len(labels) > 3 else "")
        self.write(
            [
                f"failed: {len(self.failed)} of {n_jobs(self.planned)} ({failed}), "
                f"{self.done} done in {elapsed}; see {'; '.join(part for part in see if part)}"
            ],
            logging.ERROR,
        )

    def close(self) -> None:
        """A run that ends without Snakemake's complete-log line still gets its summary."""
        try:
            if not self.snakemake_console:
                self.summarize()
        except Exception:  # closing runs at interpreter exit and must not raise
            pass
        finally:
            super().close()
