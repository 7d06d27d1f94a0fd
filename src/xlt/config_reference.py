"""The config reference, config/README.md, generated from config/schema.yaml.

Every key of the schema has a `description:` and at most one `default:`; this module turns them
into one table per section, so the reference cannot drift from what validation accepts and
fills. Regenerate it with `python -m xlt.config_reference` (tests/test_config_reference.py
fails when the committed file differs or a key has no description).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlt.config import CHECKOUT_SCHEMA, LANG_CODE_PATTERN, read_schema, resolve_ref

REFERENCE = CHECKOUT_SCHEMA.with_name("README.md")
COMMAND = "python -m xlt.config_reference"

HEADER = f"""\
# Config reference

<!-- Generated from config/schema.yaml by `{COMMAND}`; edit the schema, not this file. -->

A study is one YAML file: `config/config.yaml` is the demo; `config/small-real.yaml`,
`config/paper.yaml` and `config/powered.yaml` are studies. `snakemake --configfile FILE`
*replaces* the demo config, it is not merged with it. Every file is checked against
`config/schema.yaml` and by `xlt.config.check_config` before any job runs; a mistake stops the
run with one line naming the key, e.g.
`xlt: error: config: unknown key 'chatt' (did you mean 'chat'?) in models.demo-dense; ...`.

Every default is written once, in the schema, and `xlt.config.validate_config` fills it into
the config before anything reads it. A default of the form `← key` means the key falls back to
that study-wide key (resolved in `xlt.study.ModelSettings.from_config`). The defaults of
`finetune.lora` and `finetune.train` are applied by the training code: the workflow passes
those blocks to the finetune rule as the config gives them, so a default added later never
reruns a finished adapter.

Data rows follow the Belebele schema: `link`, `question_number`, `flores_passage`, `question`,
`mc_answer1`..`mc_answer4`, `correct_answer_num` ("1".."4"), `dialect`, `ds`.

A prompt template (in `templates_file`) has `text` (exactly `{{passage}}`, `{{question}}`,
`{{options}}`), `option` (exactly `{{label}}` and `{{answer}}`), four distinct `labels`,
`target_delimiter` (between prompt and label for plain prompts), `answer_cue` (after a CoT
generation, before the labels are scored) and a `description`. A misspelled placeholder is
named when the config is checked.
"""


@dataclass(frozen=True)
class Key:
    """One row of the reference: a key path, its type, its default and what it means."""

    path: str
    type: str
    default: str
    description: str | None


def _type(node: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """The type of a key as the reference shows it: its values, or its JSON type(s)."""
    if "enum" in node:
        return " \\| ".join(f"`{value}`" for value in node["enum"])
    if "oneOf" in node:
        return " or ".join(_type(branch, schema) for branch in node["oneOf"])
    if node.get("pattern") == LANG_CODE_PATTERN:
        return "language code"
    kind = node.get("type", "object" if "properties" in node else "")
    kinds = kind if isinstance(kind, list) else [kind]
    return " or ".join(k if k != "array" else _array(node, schema) for k in kinds if k)


def _array(node: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    items = _type(resolve_ref(node.get("items", {}), schema), schema)
    return f"list of {items}" if items else "list"


def _default(node: Mapping[str, Any], required: bool) -> str:
    if "default" in node:
        return f"`{json.dumps(node['default'])}`"
    if "x-inherits" in node:
        return f"← `{node['x-inherits']}`"
    return "required" if required else "—"


def _children(node: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """(name, schema, required) of each key under an object node, named maps as `<name>`."""
    required = set(node.get("required", ()))
    for branch in node.get("oneOf", ()):
        yield from ((k, v, False) for k, v in branch.get("properties", {}).items())
    for name, child in node.get("properties", {}).items():
        yield name, child, name in required
    named = node.get("additionalProperties")
    if isinstance(named, Mapping):
        yield "<name>", named, False


def keys(node: Mapping[str, Any], schema: Mapping[str, Any], prefix: str = "") -> Iterator[Key]:
    """Every key under `node`, depth first. A `$ref` whose referring key has a description of
    its own is one row (its keys are listed where the definition is referred to bare)."""
    for name, child, required in _children(node):
        path = f"{prefix}.{name}" if prefix else name
        own = child
        child = resolve_ref(child, schema)
        yield Key(path, _type(child, schema), _default(child, required), child.get("description"))
        if "$ref" in own and "description" in own:
            continue
        yield from keys(child, schema, path)


def study_required(schema: Mapping[str, Any]) -> set[str]:
    """Top-level keys a study config needs (the schema's `else` branch)."""
    return set(schema.get("required", ())) | set(schema.get("else", {}).get("required", ()))


def reference(schema: Mapping[str, Any]) -> str:
    """The text of config/README.md for `schema`."""
    needed = study_required(schema)
    lines = [HEADER]
    for name, node in schema["properties"].items():
        node = resolve_ref(node, schema)
        lines += ["", f"## {name}", ""]
        lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        rows = [
            Key(name, _type(node, schema), _default(node, name in needed), node.get("description"))
        ]
        rows += list(keys(node, schema, name))
        for row in rows:
            meaning = _markdown(row.description or "")
            lines.append(f"| `{row.path}` | {row.type} | {row.default} | {meaning} |")
    return "\n".join(lines) + "\n"


def _markdown(text: str) -> str:
    """Prose for a table cell: `<` escaped outside code spans (else read as an HTML tag)."""
    parts = text.split("`")
    return "`".join(p if i % 2 else p.replace("<", "\\<") for i, p in enumerate(parts))


def undocumented(schema: Mapping[str, Any]) -> list[str]:
    """Key paths of the schema that have no `description:`."""
    return [key.path for key in keys(schema, schema) if not key.description]


def main(argv: list[str] | None = None) -> int:
    """Write config/README.md from config/schema.yaml (this checkout's)."""
    del argv
    schema = read_schema(CHECKOUT_SCHEMA)
    missing = undocumented(schema)
    if missing:
        print(f"config/schema.yaml: no description for {', '.join(missing)}", file=sys.stderr)
        return 1
    Path(REFERENCE).write_text(reference(schema), encoding="utf-8")
    print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
