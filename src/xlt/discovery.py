"""What the analysis reads and where it writes: this workflow's own cells, or the cells of a
predictions tree made elsewhere (`analysis.predictions_dir`), found on disk.

The workflow builds one `AnalysisInputs` from the `Study` (rules/common.smk); its rules read the
analysis's cells, input files, output and log directories and figures from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from xlt.study import BASE, DATA, PREDICTIONS, RESULTS, Cell, GridError, Study


def find_cells(root: str | Path) -> list[Cell]:
    """The cells of a predictions tree: every `<model>/<weights>/<prompting>/<lang>.jsonl`."""
    root = Path(root)
    found = [
        Cell.from_path(p) for p in sorted(root.glob("*/*/*/*.jsonl")) if not p.name.startswith(".")
    ]
    return sorted(found)


@dataclass(frozen=True)
class AnalysisInputs:
    """The cells an analysis of `study` reads, the files behind them, and where it writes."""

    study: Study

    @property
    def external(self) -> bool:
        """Whether the analysis reads a predictions tree made elsewhere."""
        return self.study.analysis.predictions_dir is not None

    @property
    def root(self) -> str:
        """Where the analysis writes: results/ for this workflow's own cells; for a tree made
        elsewhere, `analysis.output_dir` (default results/external), never results/ itself."""
        if not self.external:
            return RESULTS
        return (self.study.analysis.output_dir or f"{RESULTS}/external").rstrip("/")

    @property
    def logs(self) -> str:
        """Where the analysis rules log (a tree made elsewhere keeps its logs apart)."""
        return "logs/analysis" if not self.external else "logs/external-analysis"

    @cached_property
    def cells(self) -> tuple[Cell, ...]:
        """The cells the analysis reads: this grid's, or those of `analysis.predictions_dir`
        (only the `models:` and `languages:` the config lists, when it lists any)."""
        study = self.study
        if not self.external:
            return study.cells
        root = study.analysis.predictions_dir
        if Path(root).resolve() == Path(PREDICTIONS.split("/{")[0]).resolve():
            raise GridError(
                "analysis.predictions_dir: results/predictions is where this workflow writes its "
                "own predictions; put a tree made elsewhere in another directory."
            )
        if Path(self.root).resolve() == Path(RESULTS).resolve():
            raise GridError(
                "analysis.output_dir: results/ holds this workflow's own tables; choose another "
                "directory for the analysis of a tree made elsewhere (default results/external)."
            )
        found = find_cells(root)
        if study.model_names:
            found = [cell for cell in found if cell.model in study.model_names]
        if study.languages:
            found = [cell for cell in found if cell.lang in study.languages]
        if not found:
            raise GridError(
                f"analysis.predictions_dir: no <model>/<weights>/<prompting>/<lang>.jsonl files "
                f"under {root}"
                + (" for the models and languages the config lists." if study.model_names else ".")
            )
        from xlt.languages import check_codes

        check_codes([cell.lang for cell in found], where=f"analysis.predictions_dir ({root})")
        for cell in found:
            source = cell.parsed_weights.source
            if source is not None and source not in study.sources:
                raise GridError(
                    f"{cell.predictions(root)}: weights {cell.weights} were fine-tuned on "
                    f"source '{source}', which `sources:` does not declare; add `sources: "
                    f"{{{source}: [<its language codes>]}}` so that its own languages are not "
                    "counted as transfer targets."
                )
        return tuple(found)

    def test_files(self) -> list[str]:
        """The test splits the analysis checks every cell against (none for an outside tree)."""
        if self.external:
            return []
        return [DATA.format(lang=lang, split="test") for lang in self.study.languages]

    def predictions(self) -> list[str]:
        """The predictions files the analysis reads."""
        root = self.study.analysis.predictions_dir
        return [cell.predictions(root) for cell in self.cells]

    def figures(self) -> list[str]:
        """The figures the analysis can draw: deltas need fine-tuned or cot cells, the FT-vs-CoT
        figure needs both."""
        has_ft = any(not cell.parsed_weights.is_base for cell in self.cells)
        has_cot = any(cell.weights == BASE and cell.prompting == "cot" for cell in self.cells)
        return [
            "accuracy",
            *(["delta_heatmap", "base_vs_delta"] if has_ft or has_cot else []),
            *(["ft_vs_cot"] if has_ft and has_cot else []),
            *(["transfer_matrix"] if has_ft else []),
        ]
