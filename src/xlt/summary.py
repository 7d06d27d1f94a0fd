"""What a finished run tells its user on the console: where the results are, and what they are.

Printed once by the workflow when a run succeeds. A run whose models are the demo's tiny built
models says so plainly: those models cannot read, and their numbers check the plumbing only.
"""

from __future__ import annotations

from pathlib import Path

from xlt.study import Study

TOY_NOTICE = (
    "the models of this run are the demo's tiny models, built in seconds from a few hundred "
    "passages: they cannot read, so these numbers only show that every stage of the pipeline "
    "runs. For real models on the same data: "
    "snakemake --cores 2 --configfile config/small-real.yaml (README, 'A small study with real "
    "models')."
)


def toy_models(study: Study) -> list[str]:
    """The study's models that are built demo models rather than pretrained ones."""
    return study.models_from("build")


def headline(findings: str) -> list[str]:
    """The first contrast's title and its language-level answer, from findings.md."""
    title = answer = ""
    for line in findings.splitlines():
        if line.startswith("### "):
            if title:
                break  # the first contrast has no language-level line (not tested)
            title = line[4:].strip()
        if title and line.startswith("- **Language level"):
            # "- **Language level (the headline; question: ...): <answer>.**"
            answer = line.replace("**", "").rsplit("): ", 1)[-1].strip()
            break
    return [f"{title} — language level: {answer}"] if answer else []


def run_summary(study: Study, root: str | Path = "results") -> str:
    """A few lines: the findings' headline, where tables and figures are, how to trace a number."""
    root = Path(root)
    lines = []
    findings = root / "findings.md"
    if findings.exists():
        lines += [f"xlt: {line}" for line in headline(findings.read_text(encoding="utf-8"))]
    lines.append(
        f"xlt: results: {root}/findings.md, {root}/tables/, {root}/figures/; trace a number with "
        f"`xlt explain {root}/tables/deltas.csv --row N`, check the tree with `xlt audit`."
    )
    if toy_models(study):
        lines.append(f"xlt: note: {TOY_NOTICE}")
    return "\n".join(lines)
