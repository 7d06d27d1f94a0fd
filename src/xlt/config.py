"""Checks and helpers on a study config that the JSON schema alone cannot express.

The workflow calls `check_config` right after schema validation, so an unknown language code,
a source that names no language, or a missing template stops the run before any job starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xlt.errors import ConfigError
from xlt.languages import check_codes
from xlt.prompts import load_templates

__all__ = ["ConfigError", "check_config"]


def check_config(config: Mapping[str, Any], base_dir: str | Path = ".") -> None:
    """Raise ConfigError (or UnknownLanguageError) for the first problem found."""
    check_codes(config["languages"], where="languages")
    check_codes([config["data"]["reference"]], where="data.reference")
    for name, codes in config["sources"].items():
        check_codes(codes, where=f"sources.{name}")
    for name, model in config["models"].items():
        if "build" in model:
            check_codes(model["build"]["corpus"], where=f"models.{name}.build.corpus")
    if config["data"]["source"] == "local" and "local_pattern" not in config["data"]:
        raise ConfigError(
            "data.source is 'local' but data.local_pattern is not set; give the "
            "path of each language's file with {lang}, e.g. data/{lang}.jsonl."
        )
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
