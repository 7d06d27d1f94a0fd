"""The console summary of a finished run: the headline, where the results are, toy models."""

from pathlib import Path

import yaml

from xlt.config import apply_defaults
from xlt.study import Study
from xlt.summary import headline, run_summary

REPO = Path(__file__).resolve().parents[1]
FINDINGS = (
    "# Findings\n\n"
    "### Fine-tuning on arabic — format-free accuracy (label log-likelihood)\n\n"
    "- **Language level (the headline; question: Do Semitic languages gain more? (languages "
    "random)): no evidence at the language level that Semitic languages have a larger gain "
    "from fine-tuning on arabic than other languages.**\n"
)


def test_the_headline_is_the_first_contrast_at_the_language_level():
    assert headline(FINDINGS) == [
        "Fine-tuning on arabic — format-free accuracy (label log-likelihood) — language level: "
        "no evidence at the language level that Semitic languages have a larger gain from "
        "fine-tuning on arabic than other languages."
    ]


def test_the_headline_is_not_borrowed_from_the_second_contrast():
    untested = "### Fine-tuning on arabic — generative accuracy\n\nNot tested: no cells.\n\n"
    assert headline(untested + FINDINGS.split("\n\n", 1)[1]) == []


def test_a_demo_run_says_its_models_are_toys(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    (tmp_path / "findings.md").write_text(FINDINGS, encoding="utf-8")
    apply_defaults(config, REPO / "config" / "schema.yaml")
    text = run_summary(Study.from_config(config, base_dir=REPO), tmp_path)
    assert "cannot read" in text and "config/small-real.yaml" in text
    assert f"{tmp_path}/tables/" in text
