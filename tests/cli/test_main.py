"""The `xlt` command itself: its version, and one parser per subcommand."""

from __future__ import annotations

from importlib import metadata

import pytest

from xlt.cli import SUBCOMMANDS, main


def test_version_is_the_installed_distributions(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"xlt {metadata.version('xlt')}\n"


NAMES = (
    "explain",
    "audit",
    "crate",
    "import-lm-eval",
    "power",
    "cost",
    "pilot",
    "languages",
    "doctor",
)


@pytest.mark.parametrize("name", NAMES)
def test_every_subcommand_has_its_parser(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: xlt {name}")


def test_one_module_per_subcommand():
    assert all(callable(c.add_parser) and callable(c.run) for c in SUBCOMMANDS)
