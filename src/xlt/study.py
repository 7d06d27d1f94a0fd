"""The grid of a study, in one place: its cells, weights names, file layout, per-model settings.

A study is a grid of cells, model × weights × prompting × language, where weights are `base`
or a LoRA adapter `ft-<source>-s<seed>`. `Study.from_config` builds it once from a validated
config, whose defaults `xlt.config.validate_config` has filled from config/schema.yaml (the
one place a default is written); what a model inherits from the study-wide settings is resolved
here, in `ModelSettings.from_config`. The workflow's rules, its scripts and the analysis all
read paths, settings and cluster requests from it.
`Cell` builds a cell's file path and parses one back; `Weights` is the one grammar of weights
names.

Nothing here imports torch, pandas or scipy: the workflow builds a `Study` on every
`snakemake` call, so it must be cheap.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Mapping, Sequence
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


def find_cells(root: str | Path) -> list[Cell]:
    """The cells of a predictions tree: every `<model>/<weights>/<prompting>/<lang>.jsonl`."""
    root = Path(root)
    found = [
        Cell.from_path(p) for p in sorted(root.glob("*/*/*/*.jsonl")) if not p.name.startswith(".")
    ]
    return sorted(found)


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


# Model config keys -> snakemake-executor-plugin-slurm resource names (README, "Resources per
# model"). `gpus` is special: see `slurm_request`.
SLURM_NAMES = {
    "cpus": "cpus_per_task",  # --cpus-per-task (threads: the job gets the same number)
    "mem_mb": "mem_mb",  # --mem, per node
    "runtime": "runtime",  # --time, minutes
    "nodes": "nodes",  # --nodes
    "partition": "slurm_partition",  # --partition
    "account": "slurm_account",  # --account
    "constraint": "constraint",  # --constraint
}


def slurm_request(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The plugin resources for one `resources.<rule>` entry of a model; unset keys left out.

    `gpus` counts GPUs per node. On one node that is the plugin's `gpu` (`--gpus=N`, with
    `gpu_model`: `--gpus=<model>:N`); across `nodes` > 1 it is `gres` (`--gres=gpu[:<model>]:N`,
    which SLURM applies per node), since `--gpus` would count the job's total.
    """
    request = {SLURM_NAMES[key]: value for key, value in settings.items() if key in SLURM_NAMES}
    gpus, gpu_model = settings.get("gpus", 0), settings.get("gpu_model")
    if gpus and settings.get("nodes", 1) > 1:
        request["gres"] = ":".join(["gpu", *([gpu_model] if gpu_model else []), str(gpus)])
    elif gpus:
        request["gpu"] = gpus
        if gpu_model:
            request["gpu_model"] = gpu_model
    return request


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

    # -- the analysis -----------------------------------------------------------------------

    @property
    def external(self) -> bool:
        """Whether the analysis reads a predictions tree made elsewhere."""
        return self.analysis.predictions_dir is not None

    @property
    def analysis_root(self) -> str:
        """Where the analysis writes: results/ for this workflow's own cells; for a tree made
        elsewhere, `analysis.output_dir` (default results/external), never results/ itself."""
        if not self.external:
            return RESULTS
        return (self.analysis.output_dir or f"{RESULTS}/external").rstrip("/")

    @property
    def analysis_logs(self) -> str:
        return "logs/analysis" if not self.external else "logs/external-analysis"

    @cached_property
    def analysis_cells(self) -> tuple[Cell, ...]:
        """The cells the analysis reads: this grid's, or those of `analysis.predictions_dir`
        (only the `models:` and `languages:` the config lists, when it lists any)."""
        if not self.external:
            return self.cells
        root = self.analysis.predictions_dir
        if Path(root).resolve() == Path(PREDICTIONS.split("/{")[0]).resolve():
            raise GridError(
                "analysis.predictions_dir: results/predictions is where this workflow writes its "
                "own predictions; put a tree made elsewhere in another directory."
            )
        if Path(self.analysis_root).resolve() == Path(RESULTS).resolve():
            raise GridError(
                "analysis.output_dir: results/ holds this workflow's own tables; choose another "
                "directory for the analysis of a tree made elsewhere (default results/external)."
            )
        found = find_cells(root)
        if self.model_names:
            found = [cell for cell in found if cell.model in self.model_names]
        if self.languages:
            found = [cell for cell in found if cell.lang in self.languages]
        if not found:
            raise GridError(
                f"analysis.predictions_dir: no <model>/<weights>/<prompting>/<lang>.jsonl files "
                f"under {root}"
                + (" for the models and languages the config lists." if self.model_names else ".")
            )
        from xlt.languages import check_codes

        check_codes([cell.lang for cell in found], where=f"analysis.predictions_dir ({root})")
        for cell in found:
            source = cell.parsed_weights.source
            if source is not None and source not in self.sources:
                raise GridError(
                    f"{cell.predictions(root)}: weights {cell.weights} were fine-tuned on "
                    f"source '{source}', which `sources:` does not declare; add `sources: "
                    f"{{{source}: [<its language codes>]}}` so that its own languages are not "
                    "counted as transfer targets."
                )
        return tuple(found)

    def analysis_test_files(self) -> list[str]:
        """The test splits the analysis checks every cell against (none for an outside tree)."""
        if self.external:
            return []
        return [DATA.format(lang=lang, split="test") for lang in self.languages]

    def analysis_predictions(self) -> list[str]:
        """The predictions files the analysis reads."""
        root = self.analysis.predictions_dir
        return [cell.predictions(root) for cell in self.analysis_cells]

    def figures(self) -> list[str]:
        """The figures the analysis can draw: deltas need fine-tuned or cot cells, the FT-vs-CoT
        figure needs both."""
        has_ft = any(not cell.parsed_weights.is_base for cell in self.analysis_cells)
        has_cot = any(
            cell.weights == BASE and cell.prompting == "cot" for cell in self.analysis_cells
        )
        return [
            "accuracy",
            *(["delta_heatmap", "base_vs_delta"] if has_ft or has_cot else []),
            *(["ft_vs_cot"] if has_ft and has_cot else []),
            *(["transfer_matrix"] if has_ft else []),
        ]

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

    # -- cluster requests -------------------------------------------------------------------

    def resources(
        self, model: str, rule: str, defaults: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The plugin resources of one model's `rule` job, from the config alone.

        `defaults` (e.g. the profile's default-resources) fill what the model leaves unset.
        """
        return {**(defaults or {}), **self._requests[(model, rule)]}

    @cached_property
    def _requests(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (name, rule): slurm_request(model.resources.get(rule, {}))
            for name, model in self.models.items()
            for rule in MODEL_RULES
        }

    def threads(self, model: str, rule: str) -> int:
        """Threads of a model's `rule` job: its `cpus` (1 when not set)."""
        return int(self.models[model].resources.get(rule, {}).get("cpus", 1))

    def requested_resources(self, rule: str) -> list[str]:
        """Resource names that some model requests for `rule` (the others stay with defaults)."""
        return sorted({name for model in self.models for name in self.resources(model, rule)})

    def gpus(self, model: str, rule: str) -> int:
        """GPUs per node of a model's `rule` job (0: CPU)."""
        return int(self.models[model].resources.get(rule, {}).get("gpus", 0))


def literal_defaults(args: Iterable[str]) -> dict[str, Any]:
    """Plain `name=value` default resources (as `--default-resources` gives them) as a mapping.

    Integers become ints; quoted strings and bare words (`gpu`, `n1-standard-4`: Snakemake reads
    these as strings too) become strings; expressions such as Snakemake's own
    `min(max(2*input.size_mb, 1000), 8000)` are left out, since they depend on the job.
    """
    found: dict[str, Any] = {}
    for arg in args:
        name, _, value = arg.partition("=")
        value = value.strip()
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            literal = value if re.fullmatch(r"[\w.:/@-]+", value) else None
        if isinstance(literal, int | str) and not isinstance(literal, bool):
            found[name] = literal
    return found
