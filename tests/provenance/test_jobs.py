"""A job's log: every attempt of a job is kept, each under its own header."""

import logging

import pytest

from xlt.provenance.jobs import ATTEMPT_HEADER, start_job


@pytest.fixture
def restored_logging(monkeypatch):
    """start_job reconfigures the root logger and sets environment variables: undo both."""
    names = ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_NO_ADVISORY_WARNINGS", "TQDM_DISABLE")
    for name in names:
        monkeypatch.setenv(name, "1")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_a_rerun_job_appends_to_the_log_of_the_attempt_before(tmp_path, restored_logging):
    log_file = tmp_path / "logs" / "finetune.log"
    first = start_job(log_file, rule="finetune")
    logging.getLogger("xlt.train").info("step 3/10, then preempted")
    second = start_job(log_file, rule="finetune")
    logging.getLogger("xlt.train").info("resumed at step 3")
    lines = log_file.read_text().splitlines()
    headers = [line for line in lines if line.startswith(ATTEMPT_HEADER)]
    assert headers == [
        f"{ATTEMPT_HEADER} finetune started {first.started} =====",
        f"{ATTEMPT_HEADER} finetune started {second.started} =====",
    ]
    assert lines[0] == headers[0] and lines[2] == headers[1]
    assert lines[1].endswith("step 3/10, then preempted") and lines[3].endswith("resumed at step 3")


def test_a_full_disk_is_one_line_naming_the_path_and_nothing_half_written(
    tmp_path, restored_logging, monkeypatch, capsys
):
    """ENOSPC while an output is written (simulated in the write itself): one `xlt: error:`
    line that names the output, exit status 1, no traceback, and no file where the output
    goes; a log that cannot be written is one warning, not a traceback per record."""
    import errno
    from types import SimpleNamespace

    from xlt import io as xlt_io
    from xlt.provenance.jobs import run_job

    out = tmp_path / "results" / "tables" / "deltas.csv"
    log_file = tmp_path / "logs" / "tables.log"
    job = SimpleNamespace(log=[str(log_file)], threads=1, rule="tables")

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def full_log(handler, record):  # as logging.FileHandler.emit meets a full disk
        try:
            no_space(handler)
        except OSError:
            handler.handleError(record)

    with pytest.raises(SystemExit) as exited, run_job(job, torch_threads=False):
        logging.getLogger("xlt").info("started")
        monkeypatch.setattr(logging.FileHandler, "emit", full_log)
        monkeypatch.setattr(xlt_io.Path, "write_text", no_space)
        logging.getLogger("xlt").warning("one")
        logging.getLogger("xlt").warning("two")
        xlt_io.write_text(out, "a,b\n")
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err, err
    assert [line for line in err.splitlines() if line.startswith("xlt: ")] == [
        f"xlt: warning: could not write {log_file}: no space left on device; the log is "
        "incomplete from here on.",
        f"xlt: error: could not write {out}: no space left on device. Free space on that "
        f"filesystem (`df -h {out.parent}`) and rerun; nothing half-written was kept (outputs "
        "are written beside their place and moved there whole).",
    ]
    assert sorted(p.name for p in out.parent.iterdir()) == []
