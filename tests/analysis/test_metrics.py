import math

import pytest

from xlt.analysis.metrics import cell_metrics, wilson_interval


def record(pred, gold, pred_gen=None, generation=None):
    return {"pred_loglik": pred, "gold": gold, "pred_gen": pred_gen, "generation": generation}


def test_wilson_interval_against_hand_computed_values():
    low, high = wilson_interval(8, 10)
    # Wilson 95% for 8/10: 0.4902 .. 0.9433
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 5)[0] == pytest.approx(0.0, abs=1e-12)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_cell_metrics_are_derived_from_the_records():
    records = [record(1, 1), record(2, 1), record(3, 3), record(4, 4)]
    metrics = cell_metrics(records)
    assert metrics["n"] == 4
    assert metrics["accuracy_loglik"] == 0.75
    assert metrics["correct_loglik"] == 3
    assert metrics["ci_low_loglik"] < 0.75 < metrics["ci_high_loglik"]
    assert metrics["accuracy_gen"] is None and metrics["format_valid_rate"] is None


def test_generation_without_an_answer_is_wrong_and_a_format_failure():
    records = [record(1, 1, 1, "1"), record(1, 1, None, "I am not sure"), record(2, 2, 3, "3")]
    metrics = cell_metrics(records)
    assert metrics["accuracy_gen"] == pytest.approx(1 / 3)
    assert metrics["format_valid_rate"] == pytest.approx(2 / 3)


def test_an_empty_cell_is_an_error():
    with pytest.raises(ValueError):
        cell_metrics([])
