"""`xlt power`: what a design can show, from flags or from a study config."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlt.cli import main
from xlt.cli.power import design_from_config

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--replicates", "20", "--items", "30", "--max-controls", "8"]


def test_the_paper_config_is_read_as_three_plus_three():
    design = design_from_config(REPO / "config" / "paper.yaml")
    assert design.semitic == ["heb_Hebr", "amh_Ethi", "mlt_Latn"]
    assert design.controls == ["fra_Latn", "jpn_Jpan", "kor_Hang"]
    assert (design.models, design.items, design.seeds) == (7, 100, 3)
    assert "arb_Arab" in design.sources and "eng_Latn" in design.sources


def test_the_powered_config_has_enough_languages():
    design = design_from_config(REPO / "config" / "powered.yaml")
    assert design.semitic == ["heb_Hebr", "amh_Ethi", "mlt_Latn", "tir_Ethi"]
    assert len(design.controls) == 16
    assert {"pes_Arab", "urd_Arab", "fra_Latn", "jpn_Jpan", "kor_Hang"} <= set(design.controls)


def test_power_says_the_paper_design_cannot_reject(capsys):
    config = str(REPO / "config" / "paper.yaml")
    assert main(["power", "--config", config, *QUICK]) == 0
    out = capsys.readouterr().out
    assert "Semitic targets (3): heb_Hebr, amh_Ethi, mlt_Latn" in out
    assert "3 Semitic + 3 control languages the language-level test cannot reject" in out
    assert "smallest attainable p of 0.1" in out
    assert "language-level randomization: none: the test cannot reach it" in out
    assert "can reject at α = 0.05 at all, with 3 Semitic: 4" in out
    assert "false positives (effect 0)" in out and "power" in out


def test_flags_override_the_config_and_a_bigger_design_can_reject(capsys):
    config = str(REPO / "config" / "paper.yaml")
    assert main(["power", "--config", config, "--controls", "9", "--effect", "1.5", *QUICK]) == 0
    out = capsys.readouterr().out
    assert "3 Semitic + 9 control languages" in out
    assert "the language-level test (randomization over language labels" in out
    assert "can reject at α = 0.05: its smallest attainable p is 0.0045" in out  # 1/220
    assert "In the paper's design: with 3 Semitic + 3 control" in out
    assert (
        "Semitic-specific transfer (findings.md's verdict): the source × target interaction" in out
    )
    assert "Semitic-specific: randomization (Welch t) of log-odds interaction" in out
    assert "Smallest Semitic-specific effect the interaction's randomization test detects" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "no/such.yaml"], "cannot read it as YAML"),
        (["--semitic", "0"], "--semitic: must be at least 1"),
        (["--alpha", "2"], "--alpha: must be between 0 and 1"),
    ],
)
def test_bad_designs_fail_in_one_line(args, message, capsys):
    assert main(["power", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xlt power: ") and message in err and err.count("\n") == 1
