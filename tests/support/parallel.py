"""How the tests are shared between pytest-xdist's workers (`pyproject.toml`'s addopts).

A test module goes to one worker whole, so that its module fixtures are built once, and every
module that reads the demo run goes to the same worker, so that the demo runs once. xdist's
`--dist loadgroup` would express the second rule with marks, but on pytest 9.2 it silently
stops grouping (pytest-dev/pytest-xdist#1386), so the grouping is a scheduler of our own.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

DEMO_SCOPE = "demo run"


@cache
def reads_demo_run(module: Path) -> bool:
    """Whether a test module takes the session's demo run (`tests/workflow/conftest.py`)."""
    return module.is_file() and "demo_run" in module.read_text(encoding="utf-8")


def scope_of(nodeid: str, rootpath: Path) -> str:
    """The scope of a test: its module, or `DEMO_SCOPE` for a module that reads the demo run."""
    module = nodeid.split("::", 1)[0]
    return DEMO_SCOPE if reads_demo_run(rootpath / module) else module


class ModuleScheduling(LoadScopeScheduling):
    """`--dist loadscope` (a module's tests to one worker), with the demo run's modules as one
    scope. The one private name of xdist that the tests use is `_split_scope`, the method that
    maps a test id to its scope; tests/test_parallel.py fails, saying so, when it moves."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid, self.config.rootpath)
