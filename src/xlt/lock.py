"""The locked environment: which lock file applies, its hash, and where the running environment
differs from it.

`requirements/lock-cpu.txt` and `requirements/lock-cuda.txt` pin every package with hashes
(`requirements/refresh` makes them from pyproject.toml's ranges). The software that made a number
is part of its provenance, so every sidecar records the lock's sha256 and whether the running
environment matched it; `xlt audit` notes outputs made under another lock, and `xlt doctor` says
whether this environment matches.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements/lock-cpu.txt", "requirements/lock-cuda.txt")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


@dataclass(frozen=True)
class Difference:
    """A package whose installed version is not the locked one (None: not installed)."""

    name: str
    locked: str
    installed: str | None

    def line(self) -> str:
        have = self.installed or "not installed"
        return f"{self.name} {have} (lock: {self.locked})"


@dataclass(frozen=True)
class LockStatus:
    """The lock that applies to this environment and how the environment differs from it."""

    path: str
    sha256: str
    differences: tuple[Difference, ...]

    @property
    def matches(self) -> bool:
        return not self.differences

    def record(self, shown: int = 10) -> dict[str, Any]:
        """What a provenance sidecar keeps: the lock file, its hash, whether it matched."""
        record: dict[str, Any] = {"file": self.path, "sha256": self.sha256, "matches": self.matches}
        if self.differences:
            record["differs"] = [d.line() for d in self.differences[:shown]]
        return record


def locked_versions(path: Path) -> dict[str, str]:
    """{canonical package name: pinned version} of a pip requirements lock."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def same_version(locked: str, installed: str) -> bool:
    """PEP 440 equality; a lock without a local label (`2.13.0`) admits `2.13.0+cpu`."""
    try:
        want, have = Version(locked), Version(installed)
    except InvalidVersion:
        return locked == installed
    return want == have or (not want.local and want.public == have.public)


def differences(pins: dict[str, str]) -> tuple[Difference, ...]:
    """The pinned packages whose installed version differs, in the lock's order."""
    found = []
    for name, locked in pins.items():
        try:
            installed: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or not same_version(locked, installed):
            found.append(Difference(name, locked, installed))
    return tuple(found)


@cache
def lock_status(root: Path = PROJECT_ROOT) -> LockStatus | None:
    """The lock that fits this environment best (fewest differences; the CPU lock on a tie), or
    None where xlt runs without its checkout's locks (an installed package)."""
    best: LockStatus | None = None
    for name in LOCKS:
        path = root / name
        if not path.is_file():
            continue
        status = LockStatus(
            path=name,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            differences=differences(locked_versions(path)),
        )
        if best is None or len(status.differences) < len(best.differences):
            best = status
    return best


def current_lock_hashes(root: Path = PROJECT_ROOT) -> dict[str, str]:
    """{lock file: sha256} of the checkout's locks as they are now."""
    return {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()
        for name in LOCKS
        if (root / name).is_file()
    }


def lock_requirements(path: Path) -> list[str]:
    """The requirement lines of a lock, one per package with its hashes (`name==v --hash=...`),
    as a conda environment's pip section takes them."""
    entries: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip().removesuffix("\\").strip()
        if not text or text.startswith("#"):
            continue
        if PIN.match(text):
            entries.append(text)
        elif text.startswith("--hash=") and entries:
            entries[-1] += f" {text}"
    return entries


def conda_env(lock: str = LOCKS[1], root: Path = PROJECT_ROOT) -> str:
    """envs/xlt.yaml, the rules' conda environment (`--sdm conda`), made from a lock: Python
    3.11 and pip from conda-forge, every package pinned and hashed as in the lock. xlt itself is
    not installed there: the workflow puts its checkout's `src/` on the rules' PYTHONPATH."""
    lines = [
        "# The rules' conda environment (`snakemake --sdm conda`), made from",
        f"# {lock} by requirements/refresh: do not edit by hand.",
        "# xlt itself comes from this checkout's src/ (rules/common.smk sets PYTHONPATH).",
        "channels:",
        "  - conda-forge",
        "  - nodefaults",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {entry}" for entry in lock_requirements(root / lock)]
    return "\n".join(lines) + "\n"


def use_checkout_source(workflow_dir: Path) -> None:
    """Put the workflow checkout's `src/` first on PYTHONPATH, so rule scripts import this
    checkout's xlt in any environment (a rule's conda environment holds the dependencies only),
    and the code a sidecar's commit names is the code that ran."""
    import os

    src = Path(workflow_dir) / "src"
    if not (src / "xlt").is_dir():
        return
    paths = [str(src), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
