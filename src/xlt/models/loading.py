"""Models by reference: one marker file per model says where its weights are and which revision.

`results/models/{model}.json` is written either by the hub download rule (id + resolved commit)
or by the demo-model build rule (local path + weights hash). Every later stage loads through
`from_pretrained(load_from, revision=...)`, so the demo models take exactly the hub code path.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xlt.errors import MissingFileError, XltError
from xlt.io import read_json, sha256_path, write_json

ADAPTER_CONFIG = "adapter_config.json"


class HubUnavailableError(XltError, OSError):
    """A hub model or dataset cannot be fetched (offline, gated, or no such repository)."""


class AdapterMismatchError(XltError, ValueError):
    """An adapter trained on one base model was about to be applied to another."""


class DamagedAdapterError(XltError, ValueError):
    """A finished adapter's weights cannot be read (cut short, overwritten)."""


def safetensors_problem(path: str | Path) -> str | None:
    """What is wrong with a safetensors file's structure, or None: its header must parse and
    the file must hold every byte the header declares (a cut file does not). Reads the header
    only, however large the file."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"it has {size} bytes, fewer than a safetensors header needs"
        length = int.from_bytes(head, "little")
        if length > size - 8:
            return f"its header declares {length} bytes but the file has {size}"
        try:
            header = json.loads(fh.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"its header is not valid JSON ({exc})"
    try:
        end = max(
            (int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"),
            default=0,
        )
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return "its header does not describe tensors"
    if 8 + length + end > size:
        return f"it is cut short: {size} bytes of the {8 + length + end} its header declares"
    return None


def check_adapter_files(adapter: str | Path) -> None:
    """Raise DamagedAdapterError naming the first adapter weights file that cannot be read."""
    from xlt.train.guard import retire_hint

    for path in sorted(Path(adapter).glob("*.safetensors")):
        problem = safetensors_problem(path)
        if problem:
            raise DamagedAdapterError(
                f"{path} is damaged ({problem}): the adapter {adapter} cannot be used. "
                f"Restore it from a backup, or retire it ({retire_hint(adapter)}) and rerun "
                "to train it again; `xlt audit` lists every damaged output."
            )


@dataclass(frozen=True)
class ModelRef:
    """What is needed to load a model the same way everywhere."""

    name: str
    load_from: str
    revision: str | None = None
    source: str = "hub"
    weights_sha256: str | None = None

    def save(self, path: str | Path) -> None:
        """Write the marker file (atomically)."""
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> ModelRef:
        """Read a marker written by `save`."""
        return cls(**read_json(path))

    def facts(self) -> dict[str, Any]:
        """What provenance records of the model: name, where it loads from, which revision."""
        return {
            "name": self.name,
            "load_from": self.load_from,
            "revision": self.revision,
            "weights_sha256": self.weights_sha256,
        }


def local_model_ref(name: str, directory: str | Path) -> ModelRef:
    """A reference to a model saved with `save_pretrained` in a local directory."""
    return ModelRef(
        name=name, load_from=str(directory), source="local", weights_sha256=sha256_path(directory)
    )


# Weight shards of large models run to hundreds of GB: hashing every byte on each registration
# would take hours, so files beyond this size are fingerprinted by size and their first and
# last FINGERPRINT_SPAN bytes (which hold safetensors' header and the tensors' tail).
FULL_HASH_LIMIT = 256 << 20
FINGERPRINT_SPAN = 16 << 20


def directory_fingerprint(directory: str | Path) -> str:
    """A content fingerprint of a model directory, cheap enough for any model size.

    Every file's relative path and size go in; files up to FULL_HASH_LIMIT bytes (configs,
    tokenizers, small models) are hashed in full, larger ones by their first and last
    FINGERPRINT_SPAN bytes. A changed config, tokenizer or shard changes the fingerprint.
    """
    directory = Path(directory)
    digest = hashlib.sha256()
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        size = file.stat().st_size
        part = hashlib.sha256()
        with file.open("rb") as fh:
            if size <= FULL_HASH_LIMIT:
                while block := fh.read(1 << 20):
                    part.update(block)
            else:
                part.update(fh.read(FINGERPRINT_SPAN))
                fh.seek(size - FINGERPRINT_SPAN)
                part.update(fh.read(FINGERPRINT_SPAN))
        rel = file.relative_to(directory).as_posix()
        digest.update(f"{rel}\0{size}\0{part.hexdigest()}\n".encode())
    return digest.hexdigest()


def model_directory_ref(name: str, directory: str | Path) -> ModelRef:
    """A reference to a Hugging Face model directory already on disk (`path:` in the config).

    It must hold a `config.json`; the fingerprint is its revision, so a changed directory is
    a different model.
    """
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise MissingFileError(
            f"model '{name}': {directory} has no config.json; `path:` must name a directory "
            "written by save_pretrained (or a hub snapshot directory)."
        )
    fingerprint = directory_fingerprint(directory)
    return ModelRef(
        name=name,
        load_from=str(directory),
        revision=None,
        source="path",
        weights_sha256=fingerprint,
    )


def download_model(name: str, hub_id: str, revision: str | None) -> ModelRef:
    """Download a hub model into the Hugging Face cache and pin the commit it resolved to.

    Compute nodes then load `hub_id` at that exact commit from the cache, offline.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snapshot = Path(snapshot_download(repo_id=hub_id, revision=revision))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HubUnavailableError(
            f"model '{name}': cannot download {hub_id} (revision {revision or 'main'}) from the "
            f"Hugging Face hub ({reason}). Run where the hub is reachable (downloads are local "
            "rules: the submitting node), set HF_TOKEN for gated models, or point the model at "
            "weights on disk with `path:` or `gguf:`."
        ) from None
    return ModelRef(name=name, load_from=hub_id, revision=snapshot.name, source="hub")


@contextmanager
def peft_pattern_warnings_silenced() -> Iterator[None]:
    """PEFT (0.21) reports the rank/alpha patterns it sets for fused MoE experts
    (`target_parameters`, e.g. `.*\\.gate_up_proj`) as "did not match any targeted module and
    were ignored", yet applies them: the expert LoRA weights load with the rank they were
    trained with (tests/train/test_finetune.py checks the shapes). The warning is wrong for us.
    PEFT also reads transformers' deprecated `is_gradient_checkpointing`: a warning about PEFT's
    code, which xlt cannot change."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"The following (rank|alpha)_pattern keys did not match any targeted module",
            category=RuntimeWarning,
        )
        warnings.filterwarnings(
            "ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield


def torch_dtype(name: str) -> Any:
    """Resolve a dtype name; `auto` is bfloat16 on a GPU that supports it, else float32."""
    import torch

    if name == "auto":
        cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    return getattr(torch, name)


def default_device() -> str:
    """The first GPU when there is one, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def gpu_count() -> int:
    """GPUs visible to this process (the job's allocation under SLURM)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def load_tokenizer(ref: ModelRef) -> Any:
    """Load the model's tokenizer through `AutoTokenizer.from_pretrained`."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ref.load_from, revision=ref.revision)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    ref: ModelRef, adapter: str | Path | None = None, dtype: str = "auto", device: str | None = None
) -> Any:
    """Load the base model (and, if given, a LoRA adapter on top) in eval mode."""
    from transformers import AutoModelForCausalLM

    if adapter is not None:
        check_adapter(adapter, ref)  # before the (possibly hour-long) base model load
    placement = device or default_device()
    if device is None and gpu_count() > 1:
        # One model over the job's GPUs, layer by layer: a 70B model does not fit on one.
        model = AutoModelForCausalLM.from_pretrained(
            ref.load_from, revision=ref.revision, dtype=torch_dtype(dtype), device_map="auto"
        )
    else:
        model = AutoModelForCausalLM.from_pretrained(
            ref.load_from, revision=ref.revision, dtype=torch_dtype(dtype)
        )
        model.to(placement)
    if adapter is not None:
        from peft import PeftModel
        from safetensors import SafetensorError

        from xlt.train.guard import retire_hint

        try:
            with peft_pattern_warnings_silenced():
                model = PeftModel.from_pretrained(model, str(adapter))
        except SafetensorError as exc:
            raise DamagedAdapterError(
                f"{adapter}: its weights cannot be read ({exc}); restore the adapter from a "
                f"backup, or retire it ({retire_hint(adapter)}) and rerun to train it again."
            ) from None
    model.eval()
    return model


def check_adapter(adapter: str | Path, ref: ModelRef) -> None:
    """Refuse an adapter whose recorded base model or revision differs from `ref`."""
    config_path = Path(adapter) / ADAPTER_CONFIG
    if not config_path.exists():
        raise MissingFileError(
            f"{config_path} is missing: {adapter} is not a finished PEFT adapter directory; "
            "rerun its finetune job (snakemake reruns it when the directory is removed)."
        )
    config = read_json(config_path)
    check_adapter_files(adapter)
    base, revision = config.get("base_model_name_or_path"), config.get("revision")
    if base != ref.load_from or (revision or None) != (ref.revision or None):
        raise AdapterMismatchError(
            f"{adapter} was trained on {base} (revision {revision}), not on model "
            f"'{ref.name}' = {ref.load_from} (revision {ref.revision}); evaluate it with the "
            "model it was trained on, or retrain it."
        )
