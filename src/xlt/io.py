"""Small file helpers: atomic writes, JSONL with line-numbered errors, content hashes."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xlt.errors import DataError, DiskFullError, MissingFileError

IGNORED_IN_DIRS = frozenset({".snakemake_timestamp"})
# errno values that mean "the filesystem is full": no space, or over the user's quota.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full(exc: BaseException, path: str | Path | None = None) -> DiskFullError | None:
    """A one-line DiskFullError naming `path` (or the file the error names) when `exc` is a
    full filesystem, else None."""
    if not isinstance(exc, OSError) or exc.errno not in DISK_FULL:
        return None
    if isinstance(exc, DiskFullError):
        return exc
    reason = "over the disk quota" if exc.errno == errno.EDQUOT else "no space left on device"
    return DiskFullError(path or exc.filename, reason)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    Readers (and Snakemake) never see a half-written file, and a killed job leaves at most
    a hidden temporary file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; results are shared, so honour the umask like open() does.
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        if full := disk_full(exc, path):
            raise full from None
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `path`; rename it to `path` on success.

    Refuses to replace an existing directory: callers decide what may be overwritten.
    """
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(
            f"{path} exists and is not empty; move it away or delete it to rebuild it."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            path.rmdir()
        os.replace(tmp, path)
    except OSError as exc:
        if full := disk_full(exc, path):
            raise full from None
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a parse error names the file and position."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}).") from exc


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write one JSON object per line, atomically."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a bad line raises DataError."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: file not found.")
    with path.open("rb") as fh:
        yield from parse_jsonl_lines(path, fh)


def parse_jsonl_lines(
    path: str | Path, raw_lines: Iterable[bytes]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSONL file read as bytes (`path`
    only names it in errors); a bad line raises DataError.

    Bytes that are not UTF-8 are named by line and byte offset, since editors and `sed -n`
    find them there.
    """
    offset = 0
    for lineno, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path}:{lineno}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                f"{exc.start + 1}, byte offset {offset + exc.start} in the file); save the "
                "file as UTF-8."
            ) from None
        offset += len(raw)
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno}); "
                "fix or remove that line."
            ) from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}.")
        yield lineno, obj


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read all objects of a JSONL file."""
    return [obj for _, obj in iter_jsonl(path)]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_path(path: str | Path) -> str:
    """Hex sha256 of a file, or of a directory as the sorted list of (relative path, file hash).

    Snakemake's marker in directory outputs is not content, so it is left out.
    """
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    files = (p for p in path.rglob("*") if p.is_file() and p.name not in IGNORED_IN_DIRS)
    for file in sorted(files):
        rel = file.relative_to(path).as_posix()
        digest.update(f"{rel}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def _unique_key_loader() -> type:
    """A yaml SafeLoader whose mappings refuse a key given twice (PyYAML keeps the last)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    break
                if first is not None:
                    raise DataError(
                        f"{Path(key_node.start_mark.name)}:{key_node.start_mark.line + 1}: key "
                        f"{key!r} is given twice (first at line {first.line + 1}); YAML would "
                        "silently keep the last one. Keep one of them."
                    )
                seen[key] = key_node.start_mark
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file the project relies on: a key given twice in one mapping, or a syntax
    error, raises DataError naming the file and line(s)."""
    import yaml

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    loader = _unique_key_loader()(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "a syntax error"
        tab = "; YAML indents with spaces, never tabs" if "'\\t'" in problem else ""
        raise DataError(f"{where}: not valid YAML ({problem}){tab}.") from None
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({exc}).") from None
    finally:
        loader.dispose()
