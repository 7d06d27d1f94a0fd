"""The grid of a study, in one place: its cells, weights names, file layout, per-model settings.

A study is a grid of cells, model × weights × prompting × language, where weights are `base`
or a LoRA adapter `ft-<source>-s<seed>`. `Study.from_config` builds it once from a validated
config, whose defaults `xlt.config.validate_config` has filled from config/schema.yaml (the
one place a default is written); what a model inherits from the study-wide settings is resolved
here, in `ModelSettings.from_config`. The workflow's rules, its scripts and the analysis all
read paths and settings from it (the cluster requests of its models are in xlt.cluster, the
cells an analysis reads in xlt.discovery).
`Cell` builds a cell's file path and parses one back; `Weights` is the one grammar of weights
names.

Nothing here imports torch, pandas or scipy: the workflow builds a `Study` on every
`snakemake` call, so it must be cheap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from xlt.analysis.settings import AnalysisSettings
from xlt.errors import XltError
from xlt.prompts import PromptTemplate, load_templates

# The file contract between rules (README, "Files"). Wildcards in braces.
RESULTS = "results"
CELL = "{model}/{weights}/{prompting}/{lang}"
PREDICTIONS = f"results/predictions/{CELL}.jsonl"
EVAL_LOG = f"logs/evaluate/{CELL}.log"
DATA = "results/data/{lang}/{split}.jsonl"
ITEMS = "results/data/{lang}/items.jsonl"  # every row of a language, checked and normalised
SPLIT = "results/data/split.json"
RAW_HUB_DATA = "results/raw/belebele/{lang}.jsonl"
MODEL_MARKER = "results/models/{model}.json"
MODEL_DIR = "results/models/{model}"
ADAPTER = "results/adapters/{model}/{weights}"
FINETUNE_LOG = "logs/finetune/{model}/{weights}.log"

# Weights names: `base`, or `ft-<source>-s<seed>` (a source is a name of `sources:`).
BASE = "base"
SOURCE_NAME = r"[a-z0-9]+"
ADAPTER_NAME = rf"ft-{SOURCE_NAME}-s[0-9]+"
WEIGHTS_NAME = rf"{BASE}|{ADAPTER_NAME}"
LANG_CODE = r"[a-z]{3}_[A-Z][a-z]{3}"
_ADAPTER = re.compile(rf"^ft-(?P<source>{SOURCE_NAME})-s(?P<seed>[0-9]+)$")

PROMPTINGS = ("direct", "cot")
MODEL_RULES = ("finetune", "evaluate")
# How the models of a study can be given; exactly one of these keys per model entry.
ORIGINS = ("hub_id", "path", "gguf", "build")


class GridError(XltError, ValueError):
    """A name or path that is not part of the grid; the message says what was expected."""


@dataclass(frozen=True, order=True)
class Weights:
    """`base` (source None) or a LoRA adapter trained on `source` with `seed`."""

    source: str | None = None
    seed: int | None = None

    @classmethod
    def parse(cls, name: str) -> Weights:
        """The weights a name stands for; anything but `base` or `ft-<source>-s<seed>` raises."""
        if name == BASE:
            return cls()
        match = _ADAPTER.match(name)
        if not match:
            raise GridError(f"weights '{name}' is neither '{BASE}' nor ft-<source>-s<seed>.")
        return cls(match["source"], int(match["seed"]))

    @classmethod
    def adapter(cls, source: str, seed: int) -> Weights:
        """The weights fine-tuned on `source` with `seed`."""
        return cls(source, int(seed))

    @property
    def is_base(self) -> bool:
        return self.source is None

    @property
    def name(self) -> str:
        """The name used in paths and tables."""
        return BASE if self.is_base else f"ft-{self.source}-s{self.seed}"

    def __str__(self) -> str:
        return self.name


def is_weights_name(name: str) -> bool:
    """Whether `name` follows the weights grammar."""
    return name == BASE or bool(_ADAPTER.match(name))


@dataclass(frozen=True, order=True)
class Cell:
    """One cell of the grid: a model, its weights, a prompting condition and a language."""

    model: str
    weights: str
    prompting: str
    lang: str

    def __post_init__(self) -> None:
        Weights.parse(self.weights)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.model, self.weights, self.prompting, self.lang)

    @property
    def parsed_weights(self) -> Weights:
        return Weights.parse(self.weights)

    def predictions(self, root: str | Path | None = None) -> str:
        """The cell's predictions file: under `results/predictions`, or under another `root`."""
        if root is None:
            return PREDICTIONS.format(**asdict(self))
        return f"{Path(root).as_posix().rstrip('/')}/{CELL.format(**asdict(self))}.jsonl"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_path(cls, path: str | Path) -> Cell:
        """The cell of a predictions file `<root>/<model>/<weights>/<prompting>/<lang>.jsonl`."""
        path = Path(path)
        if len(path.parts) < 4 or path.suffix != ".jsonl":
            raise GridError(
                f"{path}: predictions must be at <root>/<model>/<weights>/<prompting>/<lang>.jsonl"
            )
        model, weights, prompting = path.parts[-4:-1]
        try:
            return cls(model, weights, prompting, path.stem)
        except GridError as exc:
            raise GridError(f"{path}: {exc}") from None


def _expand_file(gguf: Mapping[str, Any]) -> dict[str, Any]:
    """A gguf entry with "~" in a local `file` expanded (a file inside a package is relative)."""
    gguf = dict(gguf)
    if "file" in gguf and "package" not in gguf:
        gguf["file"] = os.path.expanduser(gguf["file"])
    return gguf


@dataclass(frozen=True)
class DataSettings:
    """The `data:` section of a study config (defaults filled by the schema)."""

    source: str
    local_pattern: str | None
    hub_dataset: str
    hub_revision: str | None
    reference: str
    n_test: int
    split_seed: int
    gold_mismatch: str

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> DataSettings:
        """Settings of a validated `data:` section."""
        return cls(
            source=data["source"],
            local_pattern=data.get("local_pattern"),  # only with `source: local`
            hub_dataset=data["hub_dataset"],
            hub_revision=data["hub_revision"],
            reference=data["reference"],
            n_test=int(data["n_test"]),
            split_seed=int(data["split_seed"]),
            gold_mismatch=data["gold_mismatch"],
        )


@dataclass(frozen=True)
class ModelSettings:
    """One model of the study, with every default applied.

    `origin` says where the weights come from: `hub_id` (downloaded and pinned to a commit),
    `path` (a Hugging Face directory that is already on disk), `gguf` (a GGUF file, converted
    once into a Hugging Face directory) or `build` (a tiny model built for the demo).
    """

    name: str
    origin: str
    architecture: str
    chat: bool
    dtype: str
    quantization: str
    backend: str
    # None only in an analysis-only config, which has no `evaluate:` to inherit from.
    eval_batch_size: int | None
    lora: Mapping[str, Any]
    train: Mapping[str, Any]
    resources: Mapping[str, Mapping[str, Any]]
    hub_id: str | None = None
    revision: str | None = None
    path: str | None = None
    gguf: Mapping[str, Any] | None = None
    build: Mapping[str, Any] | None = None
    size_b: float | None = None
    active_b: float | None = None
    band: str | None = None

    @classmethod
    def from_config(
        cls, name: str, entry: Mapping[str, Any], study_config: Mapping[str, Any]
    ) -> ModelSettings:
        """Settings of `models.<name>` (a validated entry, defaults filled). A key the entry
        leaves unset that has a study-wide counterpart (`x-inherits` in the schema) takes it
        here, and only here: `eval_batch_size` from `evaluate.batch_size`, `lora` and `train`
        key by key from `finetune.lora` and `finetune.train`."""
        origins = [key for key in ORIGINS if key in entry]
        if len(origins) != 1:
            raise GridError(
                f"models.{name}: give exactly one of {', '.join(ORIGINS)} (found "
                f"{', '.join(origins) or 'none'})."
            )
        # An analysis-only config may have neither section (its models are never run).
        finetune = study_config.get("finetune") or {}
        evaluate = study_config.get("evaluate") or {}
        return cls(
            name=name,
            origin=origins[0],
            architecture=entry["architecture"],
            chat=bool(entry["chat"]),
            hub_id=entry.get("hub_id"),
            revision=entry.get("revision"),
            # "~" is the user's home, as in the config checks (Snakemake would not expand it).
            path=os.path.expanduser(entry["path"]) if "path" in entry else None,
            gguf=_expand_file(entry["gguf"]) if "gguf" in entry else None,
            build=dict(entry["build"]) if "build" in entry else None,
            size_b=entry.get("size_b"),
            active_b=entry.get("active_b"),
            band=entry.get("band"),
            dtype=entry["dtype"],
            quantization=entry["quantization"],
            backend=entry["backend"],
            eval_batch_size=entry.get("eval_batch_size", evaluate.get("batch_size")),
            lora={**finetune.get("lora", {}), **entry.get("lora", {})},
            train={**finetune.get("train", {}), **entry.get("train", {})},
            resources={
                rule: dict(entry.get("resources", {}).get(rule, {})) for rule in MODEL_RULES
            },
        )

    def facts(self) -> dict[str, Any]:
        """Size, active size and architecture: the model columns of every table (and the
        weak/strong band, where the config fixes it, for the analysis)."""
        facts = {
            "size_b": self.size_b,
            "active_b": self.active_b,
            "architecture": self.architecture,
        }
        return {**facts, "band": self.band} if self.band else facts


@dataclass(frozen=True)
class StudyFacts:
    """What the analysis needs of a study beyond its files: sources and model facts.

    Plain data, so it travels as rule params (a change reruns the analysis) and into provenance.
    """

    sources: Mapping[str, Sequence[str]] = field(default_factory=dict)
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def source_langs(self, source: str | None = None) -> set[str]:
        """Languages of one fine-tuning source, or of every source when `source` is None."""
        if source is None:
            return {lang for langs in self.sources.values() for lang in langs}
        return set(self.sources.get(source, ()))

    def source_scripts(self, source: str) -> set[str]:
        """Scripts of a source's languages (a target in one of them shares the source script)."""
        from xlt.languages import language

        return {language(lang).script for lang in self.source_langs(source)}

    def model_columns(self, model: str) -> dict[str, Any]:
        """Size (billions), active size and architecture of a model; empty if not configured."""
        facts = self.models.get(model, {})
        return {k: facts.get(k) for k in ("size_b", "active_b", "architecture")}

    def as_record(self) -> dict[str, Any]:
        return {"sources": {k: list(v) for k, v in self.sources.items()}, "models": self.models}


@dataclass(frozen=True)
class Study:
    """A validated config as a grid: models, weights, promptings, languages, and their files."""

    config: Mapping[str, Any]
    base_dir: Path
    models: Mapping[str, ModelSettings]
    languages: tuple[str, ...]
    sources: Mapping[str, tuple[str, ...]]
    seeds: tuple[int, ...]
    promptings: tuple[str, ...]
    analysis: AnalysisSettings
    data: DataSettings | None  # None for an analysis of predictions made elsewhere
    model_names: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], base_dir: str | Path = ".") -> Study:
        """The study of a config already validated against config/schema.yaml.

        `base_dir` is where relative paths of the config (templates_file) are resolved.
        """
        # An analysis-only config (`analysis.predictions_dir`) needs `sources` and nothing
        # else: no models, languages or seeds to run; its `models:` may be bare names that
        # filter the tree (`model_names`).
        entries = config.get("models") or {}
        external = bool((config.get("analysis") or {}).get("predictions_dir"))
        return cls(
            config=config,
            base_dir=Path(base_dir),
            models={
                name: ModelSettings.from_config(name, entry, config)
                for name, entry in entries.items()
                if not external or (entry and any(origin in entry for origin in ORIGINS))
            },
            model_names=tuple(entries),
            languages=tuple(config.get("languages", ())),
            sources={name: tuple(langs) for name, langs in config["sources"].items()},
            seeds=tuple(int(seed) for seed in config.get("seeds", ())),
            promptings=tuple(config.get("prompting", ())),
            analysis=AnalysisSettings.from_config(config),
            data=DataSettings.from_config(config["data"]) if not external else None,
        )

    # -- the grid ---------------------------------------------------------------------------

    @cached_property
    def adapter_weights(self) -> tuple[str, ...]:
        """Every fine-tuned weights name: one per source × seed."""
        return tuple(
            Weights.adapter(source, seed).name for source in self.sources for seed in self.seeds
        )

    @property
    def weights(self) -> tuple[str, ...]:
        """`base` followed by every adapter name."""
        return (BASE, *self.adapter_weights)

    def models_from(self, *origins: str) -> list[str]:
        """Names of the models whose weights come from one of `origins` (e.g. "build")."""
        return [name for name, model in self.models.items() if model.origin in origins]

    @cached_property
    def cells(self) -> tuple[Cell, ...]:
        """Every cell of the grid, model-major."""
        return tuple(
            Cell(model, weights, prompting, lang)
            for model in self.models
            for weights in self.weights
            for prompting in self.promptings
            for lang in self.languages
        )

    def adapters(self) -> list[str]:
        """Every adapter directory of the grid."""
        return [
            ADAPTER.format(model=model, weights=weights)
            for model in self.models
            for weights in self.adapter_weights
        ]

    def facts(self) -> StudyFacts:
        """Sources and model facts, for the analysis."""
        return StudyFacts(
            sources={k: list(v) for k, v in self.sources.items()},
            models={name: model.facts() for name, model in self.models.items()},
        )

    # -- files ------------------------------------------------------------------------------

    def raw_data(self, lang: str) -> str:
        """Where one language's Belebele rows come from: a local file or the hub download."""
        if self.data.source == "local":
            return self.data.local_pattern.format(lang=lang)
        return RAW_HUB_DATA.format(lang=lang)

    def source_train(self, weights: str) -> list[str]:
        """Train files of the languages an adapter is fine-tuned on."""
        source = Weights.parse(weights).source
        if source is None:
            raise GridError("base weights are not fine-tuned: they have no training data.")
        return [DATA.format(lang=lang, split="train") for lang in self.sources[source]]

    def gguf_file(self, model: str) -> list[str]:
        """The GGUF file a `gguf: {file: ...}` model is converted from (an input, so a changed
        file reconverts); none for a file inside a package (see `gguf_params`)."""
        gguf = self.models[model].gguf or {}
        return [gguf["file"]] if "file" in gguf and "package" not in gguf else []

    def gguf_params(self, model: str) -> dict[str, Any]:
        """The convert rule's params: the config entry and, for a package, the version installed
        now, so upgrading the package reconverts the model. A package uninstalled after the
        conversion keeps the version the conversion recorded: removing the source of a model
        already converted must not plan a conversion that cannot run."""
        from importlib import metadata

        gguf = dict(self.models[model].gguf or {})
        if "package" in gguf:
            try:
                gguf["installed_version"] = metadata.version(gguf["package"])
            except metadata.PackageNotFoundError:
                gguf["installed_version"] = self._converted_version(model)
        return gguf

    def _converted_version(self, model: str) -> str | None:
        """The package version recorded by the conversion of `model`, if it was converted."""
        from xlt.provenance import read_provenance

        try:
            return read_provenance(MODEL_MARKER.format(model=model))["params"]["installed_version"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def adapter(self, model: str, weights: str) -> list[str]:
        """The adapter directory of fine-tuned weights as a rule input; none for `base`."""
        if Weights.parse(weights).is_base:
            return []
        return [ADAPTER.format(model=model, weights=weights)]

    # -- settings ---------------------------------------------------------------------------

    @cached_property
    def templates(self) -> dict[str, PromptTemplate]:
        """The prompt template of each prompting condition (the templates file, read once)."""
        path = self.base_dir / self.config["templates_file"]
        known = load_templates(path)
        return {prompting: known[name] for prompting, name in self.config["prompts"].items()}

    def eval_params(self, model: str, prompting: str) -> dict[str, Any]:
        """The evaluate rule's params of one model and prompting: what the cell's results
        depend on, so a change here reruns the cell."""
        return self._eval_params[(model, prompting)]

    @cached_property
    def _eval_params(self) -> dict[tuple[str, str], dict[str, Any]]:
        evaluate = self.config["evaluate"]
        return {
            (name, prompting): {
                "template": self.templates[prompting].as_record(),
                "chat": model.chat,
                "dtype": model.dtype,
                "batch_size": model.eval_batch_size,
                "max_length": evaluate["max_length"],
                "max_new_tokens": evaluate["max_new_tokens"][prompting],
                "extraction": evaluate["extraction"],
                "backend": model.backend,
            }
            for name, model in self.models.items()
            for prompting in self.promptings
        }

    def finetune_params(self, model: str, weights: str) -> dict[str, Any]:
        """The finetune rule's params: LoRA and training settings, seed, template, chat."""
        settings = self.models[model]
        return {
            "lora": dict(settings.lora),
            "train": dict(settings.train),
            "quantization": settings.quantization,
            "seed": Weights.parse(weights).seed,
            "template": self.templates["direct"].as_record(),
            "chat": settings.chat,
        }
