"""A job's log: every attempt of a job is kept, each under its own header."""

import logging

import pytest

from xlt.jobs import ATTEMPT_HEADER, start_job


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
