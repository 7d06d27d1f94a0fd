"""Shared fixtures: one tiny model per session (helpers live in tests/support/); how the tests
are shared between pytest-xdist's workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.data import DEMO_DATA

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread a worker (one worker a core): more, and OpenMP's spinning threads of
    # the two workers starve each other. Workflow jobs still take the threads their rule gives.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadscope` with the demo run's modules together (support/parallel.py)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from support.parallel import ModuleScheduling

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the slow scopes first: the demo run's, then the other workflow modules (the
    workers take the scopes in this order)."""

    from support.parallel import reads_demo_run

    def start_first(item: pytest.Item) -> int:
        if reads_demo_run(item.path):
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
