"""Shared fixtures: one tiny model per session (helpers live in tests/support/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.data import DEMO_DATA


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
