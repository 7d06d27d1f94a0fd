"""The language registry: every Belebele language variant with its family, genus and script.

Belebele (facebook/belebele) has one config per FLORES-200 style code such as `heb_Hebr`
(ISO 639-3 language + ISO 15924 script). The facts live in `languages.tsv` next to this module so
that studies can group languages (e.g. Semitic vs. controls) without any network access, and so
that a config naming an unknown code fails early with a useful message.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files

from xlt.errors import XltError

REGISTRY_FILE = "languages.tsv"
COLUMNS = ("code", "name", "family", "genus", "script")


@dataclass(frozen=True)
class Language:
    """One Belebele language variant; `genus` is the WALS-style branch (e.g. Semitic)."""

    code: str
    name: str
    family: str
    genus: str
    script: str

    @property
    def is_semitic(self) -> bool:
        """Whether the language is Semitic (by genealogy, whatever its script)."""
        return self.genus == "Semitic"


class UnknownLanguageError(XltError, ValueError):
    """Codes that are not in the registry; the message suggests the nearest known codes."""

    def __init__(self, unknown: Sequence[str], where: str | None = None) -> None:
        self.codes = list(unknown)
        self.where = where
        self.suggestions = {code: _suggest(code) for code in self.codes}
        super().__init__(self._message())

    def __reduce__(self) -> tuple[type[UnknownLanguageError], tuple[list[str], str | None]]:
        """Pickle by the constructor arguments (the default would pass the message instead)."""
        return type(self), (self.codes, self.where)

    def _message(self) -> str:
        place = f" in {self.where}" if self.where else ""
        noun = "code" if len(self.codes) == 1 else "codes"
        named = "; ".join(
            f"{code!r}" + (f" (did you mean {', '.join(near)}?)" if near else "")
            for code, near in self.suggestions.items()
        )
        return (
            f"unknown Belebele language {noun}{place}: {named}. Codes are Belebele (FLORES-200) "
            "codes, language_Script, like heb_Hebr or arb_Arab; `xlt languages` lists them."
        )


def _suggest(code: str, limit: int = 5) -> list[str]:
    """Known codes with the same language part (e.g. `heb`), then the closest spellings."""
    code, known = str(code), codes()
    lowered = {c.lower(): c for c in known}
    lang_part = code.split("_")[0].lower()
    same_lang = [c for c in known if c.split("_")[0] == lang_part]
    close = [lowered[c] for c in difflib.get_close_matches(code.lower(), lowered, n=limit)]
    return list(dict.fromkeys(same_lang + close))[:limit]


@functools.cache
def load_registry() -> dict[str, Language]:
    """Code → Language for all rows of the packaged TSV (read once; do not mutate the result)."""
    text = (files("xlt") / REGISTRY_FILE).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    header = tuple(lines[0].split("\t"))
    if header != COLUMNS:
        raise ValueError(f"{REGISTRY_FILE}: header is {header}, expected {COLUMNS}")
    registry: dict[str, Language] = {}
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(COLUMNS) or fields[0] in registry:
            raise ValueError(f"{REGISTRY_FILE}:{number}: bad or duplicate row {line!r}")
        registry[fields[0]] = Language(*fields)
    return registry


def codes() -> list[str]:
    """All Belebele codes, in registry order (alphabetical)."""
    return list(load_registry())


def semitic_codes() -> list[str]:
    """Codes of the Semitic variants (Arabic varieties, Hebrew, Amharic, Tigrinya, Maltese)."""
    return [code for code, lang in load_registry().items() if lang.is_semitic]


def language(code: str) -> Language:
    """The registry entry for `code`; raises UnknownLanguageError with suggestions."""
    try:
        return load_registry()[code]
    except KeyError:
        raise UnknownLanguageError([code]) from None


def check_codes(codes: Iterable[str], where: str) -> None:
    """Raise one UnknownLanguageError naming every unknown code and the config key `where`."""
    registry = load_registry()
    unknown = [code for code in dict.fromkeys(codes) if code not in registry]
    if unknown:
        raise UnknownLanguageError(unknown, where)
