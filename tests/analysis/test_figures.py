"""Every figure is drawn from synthetic tables: a PNG file that is not empty."""

import pytest
from support.synthetic import SOURCE, write_tree

from xlt.analysis import figures
from xlt.analysis.cells import items_table, load_cells, scores_table
from xlt.analysis.correlation import ft_vs_cot_table
from xlt.analysis.paired import seed_mean_table
from xlt.analysis.settings import AnalysisSettings
from xlt.study import StudyFacts

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    cells = load_cells(write_tree(root, n_items=30))
    study = StudyFacts(sources={"arabic": SOURCE})
    settings = AnalysisSettings(n_bootstrap=100, n_permutations=100)
    items = items_table(cells)
    means = seed_mean_table(items, study, settings)
    return scores_table(cells, study), means, ft_vs_cot_table(means, settings)


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_every_figure_is_drawn(tables, tmp_path):
    scores, means, correlations = tables
    figures.delta_heatmap(means, tmp_path / "delta_heatmap.png")
    figures.base_vs_delta(means, tmp_path / "base_vs_delta.png")
    figures.accuracy_bars(scores, tmp_path / "accuracy.png")
    figures.ft_vs_cot(means, correlations, tmp_path / "ft_vs_cot.png")
    for name in ("delta_heatmap", "base_vs_delta", "accuracy", "ft_vs_cot"):
        assert_png(tmp_path / f"{name}.png")
    assert not list(tmp_path.glob(".*.tmp"))


def test_ft_vs_cot_needs_both_kinds_of_cells(tables, tmp_path):
    _, means, correlations = tables
    no_cot = means.assign(cot_delta=float("nan"))
    with pytest.raises(ValueError, match="CoT"):
        figures.ft_vs_cot(no_cot, correlations, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_the_source_by_target_matrix_is_drawn_with_one_or_two_sources(tmp_path):
    from xlt.analysis.matrix import transfer_matrix_table

    settings = AnalysisSettings(n_bootstrap=100)
    for sources in ({"arabic": 0.15}, {"arabic": 0.15, "english": 0.0}):
        root = tmp_path / "-".join(sources)
        cells = load_cells(write_tree(root, n_items=20, cot=False, sources=sources))
        study = StudyFacts(sources={"arabic": SOURCE, "english": ["eng_Latn"]})
        matrix = transfer_matrix_table(items_table(cells), study, settings)
        out = tmp_path / f"matrix-{len(sources)}.png"
        figures.transfer_matrix(matrix, out)
        assert_png(out)
    with pytest.raises(ValueError, match="at least one source"):
        figures.transfer_matrix(matrix.query("kind == 'interaction'"), tmp_path / "none.png")
