"""Shared fixtures: one tiny model per session (helpers live in tests/support/); how the tests
are shared between pytest-xdist's workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.data import DEMO_DATA


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Share the tests between workers a module at a time (a module's fixtures are built once),
    with every test of the demo run in one group (the demo is run once, by that worker), and
    start the slow groups first: the demo, then the other workflow modules.

    Runs before pytest-xdist turns the `xdist_group` marks into the groups that
    `--dist loadgroup` (pyproject.toml's addopts) hands out whole.
    """
    for item in items:
        group = "demo" if "demo_run" in item.fixturenames else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))

    def start_first(item: pytest.Item) -> int:
        if "demo_run" in item.fixturenames:
            return 0
        return 1 if item.get_closest_marker("workflow") else 2

    items.sort(key=start_first)  # stable: a module's tests keep their order


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny dense demo model built from the shipped demo data (few pre-training steps)."""
    from xlt.models.demo import DemoModelSpec, build_demo_model

    out = tmp_path_factory.mktemp("models") / "tiny-dense"
    corpus = sorted(DEMO_DATA.glob("*.jsonl"))
    build_demo_model(corpus, DemoModelSpec(architecture="dense", pretrain_steps=20), out)
    return out


@pytest.fixture(scope="session")
def tiny_model_ref(tiny_model, tmp_path_factory) -> Path:
    """The marker file of the tiny model, as the workflow writes it."""
    from xlt.models.loading import local_model_ref

    marker = tmp_path_factory.mktemp("markers") / "tiny-dense.json"
    local_model_ref("tiny-dense", tiny_model).save(marker)
    return marker
