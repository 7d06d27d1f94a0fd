"""The tests' own sharing between pytest-xdist workers (tests/support/parallel.py)."""

from __future__ import annotations

import pytest
from support.parallel import DEMO_SCOPE, ModuleScheduling, scope_of
from xdist.scheduler import LoadScopeScheduling


def test_xdist_still_maps_a_test_to_its_scope_through_split_scope():
    assert issubclass(ModuleScheduling, LoadScopeScheduling)
    assert hasattr(LoadScopeScheduling, "_split_scope"), (
        "pytest-xdist no longer has LoadScopeScheduling._split_scope, which "
        "tests/support/parallel.py overrides to keep the demo run's modules on one worker: "
        "install the locked pytest-xdist, or move ModuleScheduling to its new interface"
    )


@pytest.mark.parametrize(
    ("nodeid", "scope"),
    [
        ("tests/workflow/test_analysis.py::test_the_report_is_built", DEMO_SCOPE),
        ("tests/test_summary.py::test_x[a::b]", DEMO_SCOPE),
        ("tests/workflow/test_pilot.py::test_x", "tests/workflow/test_pilot.py"),
        ("tests/test_cost.py::TestX::test_y", "tests/test_cost.py"),
    ],
)
def test_the_demo_runs_modules_share_one_scope_and_the_others_go_by_module(
    pytestconfig, nodeid, scope
):
    assert scope_of(nodeid, pytestconfig.rootpath) == scope
