"""Checkpoints and resuming: a killed, terminated or changed run ends with the adapter of an
uninterrupted one, or starts over."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest
from safetensors.torch import load_file
from support.training import (
    ONE_THREAD,
    RESUME_TRAIN,
    Interrupted,
    assert_same_adapter,
    interrupt_at,
    resume_job,
    train_tiny,
)

from xlt.train.adapter import read_summary
from xlt.train.checkpoints import checkpoint_root, remove_checkpoints
from xlt.train.stop import PREEMPTED_EXIT_CODE, Preempted


def test_checkpoints_outlive_the_adapter_until_it_is_recorded(tiny_model_ref, train_setup):
    """The rule removes checkpoints only after recording the adapter: a job that fails while
    recording loses its output (Snakemake removes it), and the rerun resumes from them."""
    _, out = train_tiny(
        tiny_model_ref,
        train_setup,
        "adapter-recorded-later",
        keep_checkpoints=True,
        max_steps=2,
        checkpoint_every=1,
    )
    assert (out / "adapter_model.safetensors").exists()
    assert sorted(p.name for p in checkpoint_root(out).glob("step-*"))
    remove_checkpoints(out)
    assert not checkpoint_root(out).exists()


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_ref, train_setup):
    """The reference: the same job run start to end without a single checkpoint."""
    out = train_setup[0] / "uninterrupted"
    summary = resume_job(tiny_model_ref, train_setup, out).run()
    return summary, load_file(out / "adapter_model.safetensors")


def test_resume_after_sigkill_gives_the_same_adapter(tiny_model_ref, train_setup, uninterrupted):
    out = train_setup[0] / "killed"
    job = resume_job(tiny_model_ref, train_setup, out, checkpoint_every=2)
    job_file = train_setup[0] / "killed.json"
    job.save(job_file)
    # A real process, hard-killed (no handler, no cleanup) after step 5: checkpoints 2 and 4 exist.
    driver = textwrap.dedent(
        f"""
        import os, signal
        from xlt.train.launch import FinetuneJob

        def kill(step):
            if step == 5:
                os.kill(os.getpid(), signal.SIGKILL)

        FinetuneJob.load({str(job_file)!r}).run(on_step=kill)
        """
    )
    killed = subprocess.run(
        [sys.executable, "-c", driver], capture_output=True, text=True, env=ONE_THREAD
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not out.exists()
    steps = sorted(p.name for p in checkpoint_root(out).glob("step-*"))
    assert steps == ["step-00000002", "step-00000004"]

    summary = job.run()  # started again: resumes from step 4
    assert summary["resumed_from"] == [4]
    assert summary["losses"] == uninterrupted[0]["losses"]
    assert_same_adapter(out, uninterrupted[1])
    assert not checkpoint_root(out).exists()


def test_sigterm_checkpoints_mid_interval_and_resumes_identically(
    tiny_model_ref, train_setup, uninterrupted
):
    out = train_setup[0] / "terminated"
    job = resume_job(tiny_model_ref, train_setup, out, checkpoint_every=5)

    def sigterm(step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Preempted, match=r"SIGTERM after step 3/7.*resume") as stop:
        job.run(on_step=sigterm)
    assert stop.value.checkpoint == checkpoint_root(out) / "step-00000003"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    summary = job.run()
    assert summary["resumed_from"] == [3]
    assert_same_adapter(out, uninterrupted[1])


def test_preempt_at_step_stops_once_and_the_rerun_finishes_identically(
    tiny_model_ref, train_setup, uninterrupted
):
    """The pilot's rehearsal of a preemption: stop after the checkpoint of `preempt_at_step`,
    the rerun resumes past it and ends with the adapter of an uninterrupted run."""
    out = train_setup[0] / "rehearsed"
    job = resume_job(tiny_model_ref, train_setup, out, checkpoint_every=2, preempt_at_step=4)
    with pytest.raises(Preempted, match=r"preempt_at_step.* after step 4/7") as stop:
        job.run()
    assert stop.value.exit_code == PREEMPTED_EXIT_CODE
    assert stop.value.checkpoint == checkpoint_root(out) / "step-00000004"
    summary = job.run()
    assert summary["resumed_from"] == [4]
    assert_same_adapter(out, uninterrupted[1])


def test_sigterm_to_the_cli_writes_a_checkpoint_and_exits_75(tiny_model_ref, train_setup):
    out = train_setup[0] / "cli-terminated"
    job_file = train_setup[0] / "cli-terminated.json"
    resume_job(tiny_model_ref, train_setup, out, max_steps=10_000, checkpoint_every=2).save(
        job_file
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "xlt.train.launch", str(job_file)],
        stderr=subprocess.PIPE,
        text=True,
        env=ONE_THREAD,
    )
    deadline = time.monotonic() + 120
    while not (checkpoint_root(out) / "step-00000002").exists():
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)  # what SLURM sends before a time limit or preemption
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == PREEMPTED_EXIT_CODE
    assert "stopped by SIGTERM after step" in stderr and "to resume" in stderr
    latest = sorted(checkpoint_root(out).glob("step-*"))[-1]
    state = json.loads((latest / "state.json").read_text())
    assert f"after step {state['step']}/10000" in stderr
    assert {"adapter.safetensors", "optimizer.pt", "scheduler.pt", "rng-0.pt"} <= {
        p.name for p in latest.iterdir()
    }
    assert not out.exists()


def test_a_checkpoint_of_other_settings_is_not_resumed(
    tiny_model_ref, train_setup, uninterrupted, caplog
):
    out = train_setup[0] / "changed"
    job = resume_job(tiny_model_ref, train_setup, out, checkpoint_every=2, learning_rate=1e-3)
    with pytest.raises(Interrupted):
        job.run(on_step=interrupt_at(3))
    assert (checkpoint_root(out) / "step-00000002").exists()
    # Same output, other learning rate (as after a config edit): start over, ignore the old one.
    summary = replace(
        job, train={**job.train, "learning_rate": RESUME_TRAIN["learning_rate"]}
    ).run()
    assert summary["resumed_from"] == []
    assert "other data or settings" in caplog.text and "removing checkpoints" in caplog.text
    assert_same_adapter(out, uninterrupted[1])


@pytest.mark.skipif(
    not os.environ.get("XLT_TEST_MULTIPROCESS"),
    reason="~30 s: set XLT_TEST_MULTIPROCESS=1 to run two CPU processes (torchrun, gloo)",
)
def test_two_processes_stop_together_and_resume_identically(tiny_model_ref, train_setup):
    """The data-parallel path on CPU: SIGTERM reaches one process only, both checkpoint the same
    step, and the resumed run ends with the adapter of an uninterrupted two-process run."""
    root = train_setup[0]
    env = {**ONE_THREAD, "ACCELERATE_USE_CPU": "true"}

    def torchrun(port, *args):
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
        command += ["--master_port", str(port), *args]
        return subprocess.run(command, capture_output=True, text=True, env=env)

    reference, out = root / "ddp-reference", root / "ddp-stopped"
    for path, job in (
        (root / "ddp-reference.json", resume_job(tiny_model_ref, train_setup, reference)),
        (
            root / "ddp-stopped.json",
            resume_job(tiny_model_ref, train_setup, out, checkpoint_every=5),
        ),
    ):
        job.save(path)
    assert (
        torchrun(29531, "-m", "xlt.train.launch", str(root / "ddp-reference.json")).returncode == 0
    )
    driver = root / "ddp_driver.py"
    driver.write_text(
        textwrap.dedent(
            f"""
            import os, signal
            from xlt.train.stop import PREEMPTED_EXIT_CODE, Preempted
            from xlt.train.launch import FinetuneJob

            def sigterm_rank_1(step):
                if step == 3 and os.environ["RANK"] == "1":
                    os.kill(os.getpid(), signal.SIGTERM)

            try:
                FinetuneJob.load({str(root / "ddp-stopped.json")!r}).run(on_step=sigterm_rank_1)
            except Preempted:
                raise SystemExit(PREEMPTED_EXIT_CODE)
            """
        )
    )
    stopped = torchrun(29532, str(driver))
    assert stopped.returncode != 0 and not out.exists()
    assert sorted(p.name for p in checkpoint_root(out).glob("step-*")) == ["step-00000003"]
    assert {"rng-0.pt", "rng-1.pt"} <= {
        p.name for p in (checkpoint_root(out) / "step-00000003").iterdir()
    }
    resumed = torchrun(29533, "-m", "xlt.train.launch", str(root / "ddp-stopped.json"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert read_summary(out)["resumed_from"] == [3]
    assert_same_adapter(out, load_file(reference / "adapter_model.safetensors"))
