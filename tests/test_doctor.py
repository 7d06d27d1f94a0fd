"""`xlt doctor`: what an interrupted run leaves behind, and the command that resolves it."""

from xlt.cli import main as xlt_main
from xlt.doctor import diagnose


def test_a_clean_directory_needs_nothing(tmp_path, capsys):
    assert diagnose(tmp_path) == []
    assert xlt_main(["doctor", str(tmp_path)]) == 0
    assert "nothing to repair" in capsys.readouterr().out


def test_a_stale_lock_blocks_and_the_fix_is_unlock(tmp_path, capsys):
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("results/x\n")
    [finding] = diagnose(tmp_path)
    assert finding.blocking and finding.action.endswith(": snakemake --unlock")
    # Another machine may run snakemake here over a shared filesystem: this host cannot tell.
    assert "if no snakemake runs on another machine" in finding.action
    assert xlt_main(["doctor", str(tmp_path)]) == 1
    assert "no snakemake process runs in it on this machine" in capsys.readouterr().out


def test_a_missing_directory_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert xlt_main(["doctor", str(missing)]) == 2
    captured = capsys.readouterr()
    assert "nothing to repair" not in captured.out
    [line] = captured.err.splitlines()
    assert line.startswith("xlt doctor: error: ") and str(missing) in line


def test_interrupted_jobs_and_resumable_work_are_named(tmp_path):
    (tmp_path / ".snakemake" / "incomplete").mkdir(parents=True)
    (tmp_path / ".snakemake" / "incomplete" / "cmVzdWx0cw==").write_text("")
    checkpoints = tmp_path / "results/adapters/m/.ft-arabic-s0.checkpoints"
    checkpoints.mkdir(parents=True)
    parts = tmp_path / "results/predictions/m/base/direct/.heb_Hebr.jsonl.parts"
    parts.mkdir(parents=True)
    (parts / "shard-00000.jsonl").write_text("{}\n")
    found = diagnose(tmp_path)
    assert not any(f.blocking for f in found)
    text = " ".join(f.what + " " + f.action for f in found)
    assert "--rerun-incomplete" in text
    assert "results/adapters/m/ft-arabic-s0 stopped before any checkpoint" in text
    assert "results/predictions/m/base/direct/heb_Hebr.jsonl stopped with 1 finished shard" in text


def test_a_checkpoint_cut_off_while_written_is_reported_as_the_rerun_treats_it(tmp_path):
    """Ctrl-C while a checkpoint is written leaves `.step-N.tmp/`: the training code resumes
    only complete checkpoints (`latest_checkpoint`), so doctor says the same."""
    from xlt.train.checkpoints import latest_checkpoint

    checkpoints = tmp_path / "results/adapters/m/.ft-arabic-s0.checkpoints"
    (checkpoints / ".step-00000010.tmp").mkdir(parents=True)
    (checkpoints / ".step-00000010.tmp" / "adapter.safetensors").write_bytes(b"\0" * 10)
    [finding] = diagnose(tmp_path)
    assert latest_checkpoint(checkpoints, "f") is None
    assert finding.what.replace(f"{tmp_path}/", "") == (
        "fine-tuning of results/adapters/m/ft-arabic-s0 stopped before any checkpoint was "
        "complete (results/adapters/m/.ft-arabic-s0.checkpoints); "
        ".step-00000010.tmp was being written when it stopped and is discarded"
    )
    assert finding.action == "rerun snakemake: the job trains from step 0 (nothing can be resumed)"

    complete = checkpoints / "step-00000005"
    complete.mkdir()
    (complete / "state.json").write_text('{"fingerprint": "f", "step": 5}')
    [finding] = diagnose(tmp_path)
    assert latest_checkpoint(checkpoints, "f") == complete
    assert "stopped after a checkpoint at step 5" in finding.what
    assert ".step-00000010.tmp was being written when it stopped and is discarded" in finding.what
    assert finding.action.startswith("rerun snakemake: the job resumes from step 5 ")


def test_an_evaluation_that_stopped_before_its_first_shard_is_not_called_resumable(tmp_path):
    parts = tmp_path / "results/predictions/m/ft-arabic-s0/direct/.heb_Hebr.jsonl.parts"
    parts.mkdir(parents=True)
    [finding] = diagnose(tmp_path)
    assert "stopped before its first shard was finished" in finding.what
    assert "resumes" not in finding.action and "from its first item" in finding.action
