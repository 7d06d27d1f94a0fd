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
    assert "results/adapters/m/ft-arabic-s0 stopped after a checkpoint" in text
    assert "results/predictions/m/base/direct/heb_Hebr.jsonl stopped with 1 finished shard" in text
