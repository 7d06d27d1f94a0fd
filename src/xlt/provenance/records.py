"""Provenance sidecars: `<output>.prov.json` beside every output, so each number can be traced.

A sidecar records the sha256 of the output and of every input, the rule's parameters, and the
environment that made it (code version, package versions and the lock's hash, host, accelerator,
times). Nothing
from the process environment is recorded beyond an explicit allow-list, so no secret leaks.

Read back (`Record`), recorded paths are relative to the directory the job ran in (the workflow
directory); they are resolved against the directory where the sidecar's own output path lands on
its file, so a tree that was moved or copied is still checked against itself.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from xlt.errors import DataError
from xlt.io import read_json, sha256_path, write_json

SUFFIX = ".prov.json"
TRACKED_PACKAGES = (
    "xlt",
    "torch",
    "transformers",
    "tokenizers",
    "peft",
    "accelerate",
    "datasets",
    "snakemake",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
)
ALLOWED_ENV = ("SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_CLUSTER_NAME", "CUDA_VISIBLE_DEVICES")


def sidecar_path(output: str | Path) -> Path:
    """The sidecar of an output file or directory: `<output>.prov.json` beside it."""
    output = Path(output)
    return output.with_name(output.name + SUFFIX)


def now() -> str:
    """Current UTC time in ISO 8601, the format used in sidecars."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@cache
def code_version() -> dict[str, Any]:
    """Git commit and dirty flag of the xlt source tree, or the package version if not in git."""
    root = Path(__file__).resolve().parents[3]
    version: dict[str, Any] = {"package": _package_version("xlt")}
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return version
    version.update(git_commit=commit, git_dirty=bool(status.strip()))
    return version


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@cache
def environment() -> dict[str, Any]:
    """Host, Python, package versions, the lock they were installed from (its file, sha256 and
    whether the environment matched it) and accelerator (only if torch is already imported)."""
    from xlt.lock import lock_status

    lock = lock_status()
    env: dict[str, Any] = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {
            name: v for name in TRACKED_PACKAGES if (v := _package_version(name)) is not None
        },
        "lock": lock.record() if lock else None,
        "env": {k: os.environ[k] for k in ALLOWED_ENV if k in os.environ},
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        env["accelerator"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return env


Hasher = Callable[[str | Path], str]


def recorded_path(path: str | Path) -> str:
    """A path as sidecars record it: relative to the working directory when it lies under it,
    otherwise absolute with the home directory written `~`, so no user name leaks into a record.
    """
    path = Path(path)
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        pass
    home = Path.home()
    try:
        return "~/" + absolute.relative_to(home).as_posix()
    except ValueError:
        return absolute.as_posix()


def resolve_recorded(path: str) -> Path:
    """The file a recorded path names (undoes `recorded_path`)."""
    return Path(os.path.expanduser(path))


def _hash_inputs(
    inputs: Mapping[str, str | Path | Iterable[str | Path]], hasher: Hasher
) -> dict[str, Any]:
    hashed: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, str | Path):
            hashed[name] = {"path": recorded_path(value), "sha256": hasher(value)}
        else:
            hashed[name] = [{"path": recorded_path(v), "sha256": hasher(v)} for v in value]
    return hashed


def write_provenance(
    output: str | Path,
    *,
    rule: str,
    inputs: Mapping[str, str | Path | Iterable[str | Path]],
    params: Mapping[str, Any] | None = None,
    started: str | None = None,
    hasher: Hasher = sha256_path,
    **facts: Any,
) -> Path:
    """Write the sidecar of `output` and return its path.

    `facts` holds what the rule knows beyond its params: model id and resolved revision,
    adapter hash, data hash, prompt template id, decoding settings, seed, and so on.
    `hasher` lets a job hash each file once however many sidecars name it.
    """
    record = {
        "output": {"path": recorded_path(output), "sha256": sha256_path(output)},
        "rule": rule,
        "inputs": _hash_inputs(inputs, hasher),
        "params": dict(params or {}),
        **facts,
        "code": code_version(),
        "environment": environment(),
        "started": started,
        "finished": now(),
    }
    path = sidecar_path(output)
    write_json(path, record)
    return path


def read_provenance(output: str | Path) -> dict[str, Any]:
    """Read the sidecar of `output`; a missing sidecar is an error that says which file."""
    path = sidecar_path(output)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no provenance sidecar for {output}; rebuild {output}.")
    return read_json(path)


# --- reading sidecars back -----------------------------------------------------------------


def absolute(path: str | Path) -> str:
    """A normalised absolute path (`~` expanded): the identity of a file in a chain or an audit."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(str(path))))


def shown(path: str) -> str:
    """A path as printed: relative to the working directory when under it, else with `~`."""
    return recorded_path(path)


def job_dir(sidecar: Path, output: str) -> Path:
    """The directory a job ran in: where the sidecar's recorded output path resolves to the file
    beside the sidecar (the working directory when the path is absolute or does not fit)."""
    recorded = Path(output)
    if recorded.is_absolute() or output.startswith("~"):
        return Path.cwd()
    actual = Path(absolute(str(sidecar)[: -len(SUFFIX)]))
    parts = recorded.parts
    if len(actual.parts) > len(parts) and actual.parts[-len(parts) :] == parts:
        return Path(*actual.parts[: -len(parts)])
    return Path.cwd()


def resolve(recorded: str, base: Path) -> str:
    """The absolute path of a recorded path, relative ones taken from `base`."""
    path = Path(os.path.expanduser(recorded))
    return absolute(path if path.is_absolute() else base / path)


class Hashes:
    """The sha256 of files and directories, each computed once (None: not there)."""

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}

    def get(self, path: str) -> str | None:
        if path not in self._known:
            self._known[path] = sha256_path(path) if os.path.exists(path) else None
        return self._known[path]

    def put(self, path: str, digest: str) -> None:
        """Record the hash of a file read for another reason (so it is not read again)."""
        self._known[path] = digest

    def found(self) -> set[str]:
        """The paths hashed so far that were there."""
        return {path for path, digest in self._known.items() if digest is not None}


@dataclass(frozen=True)
class Record:
    """One sidecar with its paths resolved: output, rule, inputs and their recorded hashes."""

    sidecar: str
    output: str
    output_sha256: str
    rule: str
    inputs: tuple[tuple[str, str], ...]
    raw: Mapping[str, Any]

    @classmethod
    def read(cls, sidecar: str | Path) -> Record:
        """Read a sidecar; one that is not a provenance record raises DataError."""
        raw = read_json(sidecar)
        try:
            base = job_dir(Path(sidecar), raw["output"]["path"])
            entries = []
            for value in raw.get("inputs", {}).values():
                entries.extend(value if isinstance(value, list) else [value])
            return cls(
                sidecar=absolute(sidecar),
                output=resolve(raw["output"]["path"], base),
                output_sha256=raw["output"]["sha256"],
                rule=str(raw.get("rule")),
                inputs=tuple((resolve(e["path"], base), e["sha256"]) for e in entries),
                raw=raw,
            )
        except (KeyError, TypeError) as exc:
            raise DataError(
                f"{sidecar}: not a provenance record (no {exc}); rebuild its output."
            ) from None

    @property
    def base(self) -> Path:
        return job_dir(Path(self.sidecar), self.raw["output"]["path"])
