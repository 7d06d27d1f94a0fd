"""The console summary of a finished run: the headline, where the results are, toy models."""

from pathlib import Path

import yaml

from xlt.study import Study
from xlt.summary import headline, run_summary

REPO = Path(__file__).resolve().parents[1]
FINDINGS = (
    "# Findings\n\n"
    "### Fine-tuning on arabic — format-free accuracy (label log-likelihood)\n\n"
    "- **Language level (the headline; question: Do Semitic languages gain more? (languages "
    "random)): no evidence of Semitic-specific transfer at the language level.**\n"
)


def test_the_headline_is_the_first_contrast_at_the_language_level():
    assert headline(FINDINGS) == [
        "Fine-tuning on arabic — format-free accuracy (label log-likelihood) — language level: "
        "no evidence of Semitic-specific transfer at the language level."
    ]


def test_a_demo_run_says_its_models_are_toys(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    (tmp_path / "findings.md").write_text(FINDINGS, encoding="utf-8")
    text = run_summary(Study.from_config(config, base_dir=REPO), tmp_path)
    assert "cannot read" in text and "config/small-real.yaml" in text
    assert f"{tmp_path}/tables/" in text
