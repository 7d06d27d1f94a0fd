"""The power simulator: the simulated studies, the four tests, planning and the report."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from xlt.analysis import power as pw

PAPER = pw.Design(n_semitic=3, n_control=3, effect=0.5, sd_lang=0.3)


def test_simulated_studies_have_the_design_shape_and_parallel_items():
    design = pw.Design(n_models=3, n_items=40, n_semitic=2, n_control=3, n_seeds=2)
    diffs = pw.simulate(design, 5, np.random.default_rng(0))
    assert diffs.shape == (5, 3, 5, 40)
    # Seed-averaged treated (0, ½, 1) minus reference (0, 1).
    assert set(np.unique(diffs * 2)) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    assert list(design.semitic) == [True, True, False, False, False]


def test_the_planted_effect_raises_semitic_gains_only_with_common_random_numbers():
    design = pw.Design(n_semitic=3, n_control=3, n_items=200)
    null = pw.simulate(design, 50, np.random.default_rng(4), effect=0.0)
    planted = pw.simulate(design, 50, np.random.default_rng(4), effect=1.0)
    semitic = design.semitic
    assert np.array_equal(null[:, :, ~semitic], planted[:, :, ~semitic])
    assert (planted[:, :, semitic] >= null[:, :, semitic]).all()
    rise = 100 * (planted[:, :, semitic].mean() - null[:, :, semitic].mean())
    assert rise == pytest.approx(pw.effect_points(design, 1.0), abs=1.5)


def test_effect_in_points_grows_with_the_effect():
    design = pw.Design()
    points = [pw.effect_points(design, e) for e in (0.0, 0.25, 0.5, 1.0)]
    assert points[0] == 0.0
    assert points == sorted(points) and 0 < points[1] < 25 * 0.75


def test_power_table_for_the_paper_design():
    results = pw.power(PAPER, replicates=200, seed=0)
    assert [t.test for t in results.tests] == list(pw.TESTS)
    # 3 + 3: the label tests can never reject; the conditional bootstrap over-rejects.
    for name in ("permutation", "randomization"):
        t = results.test(name)
        assert t.rejections_null == t.rejections_effect == 0
        assert t.smallest_p == pytest.approx(0.1) and not t.can_reject
    boot, meta = results.test("item_bootstrap"), results.test("meta")
    assert boot.false_positive_rate > 0.15
    assert meta.false_positive_rate < 0.1 and meta.can_reject
    assert meta.power > meta.false_positive_rate


def test_report_says_the_paper_design_cannot_reject():
    results = pw.power(PAPER.with_(n_items=30), replicates=20, seed=0)
    text = pw.format_report(PAPER, results)
    assert "3 Semitic + 3 control languages the language-level randomization test cannot" in text
    assert "cannot reject at α = 0.05: its smallest attainable p is 0.1" in text
    assert "conditional on the chosen languages" in text
    bigger = PAPER.with_(n_control=8)
    text = pw.format_report(bigger, pw.power(bigger.with_(n_items=30), replicates=20, seed=0))
    assert (
        "3 Semitic + 8 control languages the language-level randomization test can reject" in text
    )
    assert "In the paper's design: with 3 Semitic + 3 control" in text


def test_two_hundred_replicates_of_a_ten_language_study_are_quick():
    design = pw.Design(n_models=7, n_items=100, n_semitic=5, n_control=5, effect=0.5)
    start = time.perf_counter()
    pw.power(design, replicates=200, seed=1)
    assert time.perf_counter() - start < 30


def test_minimum_detectable_effect_brackets_the_target_power():
    design = PAPER.with_(n_control=8, n_items=60)
    mde = pw.minimum_detectable_effect(design, 0.8, replicates=100, seed=2, tol=0.02)
    assert 0 < mde.logits < 3 and mde.power >= 0.8
    assert mde.points == pytest.approx(pw.effect_points(design, mde.logits))
    below = pw.rejections(design, mde.logits - 0.02, 100, seed=2, tests=("meta",))["meta"]
    assert below.mean() < 0.8
    cannot = pw.minimum_detectable_effect(PAPER, test="randomization")
    assert math.isinf(cannot.logits)


def test_fewest_controls():
    design = PAPER.with_(n_items=60, effect=1.5)
    fewest = pw.fewest_controls(design, 0.8, replicates=60, seed=3, max_controls=16)
    assert fewest.randomization == 4  # 3 + 4: 35 relabellings, smallest p 1/35
    assert fewest.t_test == 1
    assert isinstance(fewest.powered, int) and 1 <= fewest.powered <= 16
    assert fewest.achieved_power >= 0.8
    # With only 3 Semitic languages their own spread in gain caps the power: a small effect
    # is not found however many controls are added.
    capped = pw.fewest_controls(design, 0.8, 0.3, replicates=60, seed=3, max_controls=16)
    assert capped.powered is None and capped.randomization == 4


def test_the_semitic_specific_interaction_test_keeps_its_size_under_headroom():
    """Two sources with unequal general gains (1.0 and 0.1 logits), Semitic targets 2 logits
    lower, a guessing floor of 1/4, no Semitic-specific effect: the log-odds interaction
    tests reject at about the nominal rate (160 studies; 16 or more at a true 0.05 happen
    with probability 0.01) and find a planted 1.0-logit effect in most."""
    from xlt.analysis.power import Design, interaction_power

    design = Design(
        n_semitic=4, n_control=12, n_items=60, effect=1.0, headroom=2.0, global_gain=1.0
    )
    results = interaction_power(design, replicates=160, seed=3)
    for test in results.tests:
        assert test.rejections_null <= 15, test
        assert test.rejections_effect >= 80, test
