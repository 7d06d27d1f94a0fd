"""Prompt templates are data: an id, a text with {passage} {question} {options}, option labels.

The exact prompt string (after the template and, for chat models, the chat template) is stored
with every prediction, so two users can tell exactly what a model was asked.
"""

from __future__ import annotations

import difflib
import string
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xlt.data.belebele import N_OPTIONS
from xlt.errors import XltError
from xlt.io import read_yaml

PLACEHOLDERS = {"passage", "question", "options"}
OPTION_PLACEHOLDERS = {"label", "answer"}


class TemplateError(XltError, ValueError):
    """A prompt template that cannot be used; the message names the template and the fix."""


@dataclass(frozen=True)
class PromptTemplate:
    """A multiple-choice prompt: `text` around the passage, question and rendered options.

    `target_delimiter` goes between the prompt and the answer label for plain (non-chat)
    prompts, as lm-evaluation-harness does; chat prompts end with the assistant header, so
    the label follows directly. `answer_cue` is appended after a chain-of-thought generation
    to score the labels on the log-likelihood scale (e.g. "\nAnswer:").
    """

    id: str
    text: str
    option: str = "{label}: {answer}"
    labels: tuple[str, ...] = ("1", "2", "3", "4")
    target_delimiter: str = " "
    answer_cue: str = "\nAnswer:"
    description: str = ""

    def __post_init__(self) -> None:
        _check_fields(self.id, "text", self.text, PLACEHOLDERS)
        _check_fields(self.id, "option", self.option, OPTION_PLACEHOLDERS)
        for name in ("target_delimiter", "answer_cue"):
            _check_fields(self.id, name, getattr(self, name), set())
        if len(self.labels) != N_OPTIONS or len(set(self.labels)) != N_OPTIONS:
            raise TemplateError(
                f"template '{self.id}': needs {N_OPTIONS} distinct labels, got {list(self.labels)}."
            )
        if any(not label.strip() for label in self.labels):
            raise TemplateError(f"template '{self.id}': labels must be non-empty.")

    def render(self, row: dict[str, Any]) -> str:
        """The plain prompt for one Belebele row."""
        options = "\n".join(
            self.option.format(label=label, answer=row[f"mc_answer{i}"].strip())
            for i, label in enumerate(self.labels, start=1)
        )
        return self.text.format(
            passage=row["flores_passage"].strip(), question=row["question"].strip(), options=options
        )

    def as_record(self) -> dict[str, Any]:
        """The template as a plain dict, for params and provenance."""
        return {**asdict(self), "labels": list(self.labels)}


def _placeholder_hint(field: str, allowed: set[str]) -> str:
    near = difflib.get_close_matches(field, sorted(allowed), n=1)
    return "{" + field + "}" + (f" (did you mean {{{near[0]}}}?)" if near else "")


def _check_fields(template_id: str, name: str, text: str, allowed: set[str]) -> None:
    """A template field must use exactly its placeholders: a typo such as {answr} is named,
    with the nearest valid placeholder, when the config is checked (not in every cell)."""
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        raise TemplateError(
            f"template '{template_id}': {name} is not a valid format string ({exc}); "
            "write literal braces as {{ and }}."
        ) from None
    unknown, missing = sorted(used - allowed), sorted(allowed - used)
    if unknown:
        hints = ", ".join(_placeholder_hint(field, allowed) for field in unknown)
        valid = ", ".join("{" + f + "}" for f in sorted(allowed)) or "none"
        raise TemplateError(
            f"template '{template_id}': {name} uses unknown placeholder {hints}; "
            f"the placeholders of {name} are {valid}."
        )
    if missing:
        raise TemplateError(
            f"template '{template_id}': {name} must use "
            + ", ".join("{" + f + "}" for f in missing)
            + "."
        )


def load_templates(path: str | Path) -> dict[str, PromptTemplate]:
    """Read a templates YAML file: a mapping from template id to its fields."""
    path = Path(path)
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise TemplateError(f"{path}: expected a mapping from template id to template.")
    templates = {}
    for template_id, fields in raw.items():
        try:
            templates[template_id] = template_from_record({"id": template_id, **fields})
        except TypeError as exc:
            raise TemplateError(f"{path}: template '{template_id}': {exc}") from None
        except TemplateError as exc:
            raise TemplateError(f"{path}: {exc}") from None
    return templates


def template_from_record(record: dict[str, Any]) -> PromptTemplate:
    """Rebuild a template from `as_record()` output (e.g. Snakemake params)."""
    return PromptTemplate(**{**record, "labels": tuple(record.get("labels", ("1", "2", "3", "4")))})


def chat_prompt(tokenizer: Any, user_text: str, thinking: bool | None = None) -> str:
    """Wrap a prompt in the tokenizer's chat template, ending with the assistant header.

    `thinking=False` asks templates with a reasoning switch (Qwen3's `enable_thinking`) to
    answer at once; templates without one ignore it. None leaves the template's default."""
    if not getattr(tokenizer, "chat_template", None):
        raise TemplateError(
            "model is marked `chat: true` in the config but its tokenizer has no chat template; "
            "set `chat: false` for base models."
        )
    switch = {} if thinking is None else {"enable_thinking": thinking}
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}],
        add_generation_prompt=True,
        tokenize=False,
        **switch,
    )


def build_prompt(
    row: dict[str, Any],
    template: PromptTemplate,
    tokenizer: Any = None,
    chat: bool = False,
    thinking: bool | None = None,
) -> str:
    """The exact prompt given to the model for one row. Direct answers (evaluation and the
    fine-tuning examples) pass `thinking=False`: a reasoning model asked for a label must not
    spend its few tokens thinking; chain-of-thought keeps the template's default."""
    text = template.render(row)
    return chat_prompt(tokenizer, text, thinking) if chat else text


def answer_continuation(template: PromptTemplate, label: str, chat: bool) -> str:
    """The text scored (or trained on) after the prompt for one option label."""
    return label if chat else template.target_delimiter + label
