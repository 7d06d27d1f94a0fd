"""Answer extraction: which option (1..n) a raw generation chose, and which rule decided it.

Extractors have ids (`EXTRACTORS`: "strict", "lenient") so that a predictions file can state
which extractor produced a number, as lm-evaluation-harness names its filter pipelines. Every
extraction keeps the span that decided it, so a wrong or missing answer can be audited.

Rules, in the order they are tried (strict runs the first two, lenient all of them):

1. `answer_cue`  an explicit final-answer statement: a cue from `ANSWER_CUES` ("Answer:", "The
   correct answer is", "الإجابة:", "התשובה היא", "መልሱ", "答えは", "정답은", ...) or `\\boxed{...}`,
   followed by a label (optionally "option", brackets, quotes) or by one option's full text. The
   last such statement wins: a model that corrects itself means its last word.
2. `bare_label`  the whole output is a label: "2", "(B)", "**C**", "B.", "2)", "Option B", or a
   label followed by its own option's text ("B) the market").
3. `label_line`  (lenient) the last line that is a bare label, e.g. "B" before an explanation.
4. `alt_label`   (lenient) rules 1-2 with the other usual label set: "Answer: 2" when the labels
   are A-D is option 2 (and "Answer: B" with labels 1-4). Strict counts it as a format failure.
5. `option_text` (lenient) the output is one option's text, or exactly one option's text occurs
   in it and no label follows that occurrence.
6. `last_label`  (lenient) the last standalone label anywhere in the output.

No match gives `Extraction(None, None, None)`: the caller counts the item wrong and a format
failure.

Decisions worth knowing:
- Reasoning is never matched. `<think>...</think>` (and `<thinking>`) blocks are removed; text
  before a closing tag with no opening one is reasoning too (chat templates that open the block
  in the prompt); an unterminated `<think>` means the model ran out of tokens while reasoning,
  so everything from it on is dropped and, with nothing before it, there is no answer in either
  mode. gpt-oss style channels keep only the `final` channel.
- A label is never matched inside a word or number: "Barcelona" is not B, "1990" and "2.5" are not
  1 or 2, "C'est" and "U.S.A." hold no label. Turkish suffixes after an apostrophe are allowed
  ("B'dir", "3'tür"); Japanese and Korean text may touch a label ("答えは3です", "3번").
- Letter labels that are also words (`WORD_LETTERS`: English/French "a", ...) count outside an
  answer cue only when marked: "(A)", "A)", "A.", "A:", "option A", "A is ...", or at the end of
  a line. After a cue, uppercase "A" counts ("the answer is A because ..."), lowercase "a" only
  when marked ("the answer is a bird" is no answer).
- Digits (Arabic-Indic, Persian, Ethiopic 1-9, full-width, circled) become ASCII, full-width
  letters fold (NFKC), letter labels are case-insensitive, markdown (`**`, `*`, `_`, backticks)
  and LaTeX wrappers (`$`, `\\text{}`) are stripped, and Arabic/Hebrew diacritics and bidi
  marks are ignored. `Extraction.matched` is the span as it reads after this normalisation.
- Generations should already be cut at the template's stop sequences: a base model that goes on
  to invent the next item ("2\\n\\nP: ... Answer: 4") would otherwise be read by its last word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# --- data: cues and words, easy to extend --------------------------------------------------------

_EN_LINK = (
    r"(?:\s+(?:is|was|would\s+be|will\s+be|must\s+be|should\s+be)"
    r"(?:\s+(?:therefore|thus|clearly|probably|likely|most\s+likely|definitely))?\s*:?"
    r"|\s*[:=\-–—])"
)
_FR_LINK = r"(?:\s+(?:est|serait|sera)(?:\s+donc)?\s*:?|\s*[:=])"

#: Final-answer cues by language (ISO 639-3), as regexes matched case-insensitively. Each cue
#: ends where the label (or option text) starts, so it includes any linking word ("is", "هي",
#: "היא", "は"); languages that put the copula after the answer (Turkish, Amharic, Persian) need
#: none. English and French require ":" or "is"/"est", so "answer 2 questions" is no cue.
ANSWER_CUES: dict[str, tuple[str, ...]] = {
    "eng": (
        rf"(?:(?:the|my)\s+)?(?:(?:final|correct|right|best)\s+)?answer(?:\s+to\s+(?:this|the)\s+question)?{_EN_LINK}",
        rf"(?:the\s+)?(?:final|correct|right|best)\s+(?:option|choice){_EN_LINK}",
        r"ans\.?\s*:",
    ),
    "fra": (
        rf"(?:bonne\s+)?r[ée]ponse(?:\s+(?:correcte|exacte|juste|finale))?{_FR_LINK}",
        rf"(?:bonne\s+option|option\s+correcte){_FR_LINK}",
    ),
    "tur": (
        r"(?:doğru\s+)?(?:cevab[ıi]m?|cevap|yan[ıi]t[ıi]m?|yan[ıi]t)\s*:?",
        r"doğru\s+(?:seçenek|şık)\s*:?",
    ),
    "arb": (
        r"[وف]?(?:ال)?(?:[اإأآ]جاب[ةه]|جواب)(?:\s+(?:ال)?(?:صحيح[ةه]?|نهائي[ةه]?))?"
        r"(?:\s+(?:هي|هو))?\s*:?",
    ),
    "heb": (r"ה?תשובה(?:\s+ה?(?:נכונה|סופית))?(?:\s+(?:היא|הוא))?\s*:?",),
    "amh": (r"(?:ትክክለኛው\s+)?መል[ስሱ]\s*[:፡፦፥]?",),
    "tir": (r"(?:ቅኑዕ\s+)?መልሲ\s*[:፡፦፥]?",),
    "mlt": (
        r"(?:it-?)?twe[gġ]iba(?:\s+(?:t-tajba|it-tajba|korretta|finali))?"
        r"(?:\s+hi(?:ja)?)?\s*:?",
    ),
    "pes": (
        r"(?:پاسخ|جواب)(?:\s+(?:صحیح|درست|نهایی))?(?:\s+عبارت\s+است\s+از)?\s*:?",
        r"گزینه(?:\s*ی)?\s+(?:صحیح|درست)\s*:?",
    ),
    "jpn": (r"(?:答え|正解|回答|解答)\s*(?:は|:)?\s*、?",),
    "kor": (r"(?:정답|답변|답)\s*(?:[은는이]|:)?",),
    "zho": (r"(?:正确)?答案\s*(?:是|为|:)?",),
}

#: Words that may stand between a cue and the label: "the answer is option B", "la B",
#: "الخيار 2", "گزینه ۲", "選択肢3". Plain strings, matched case-insensitively as whole words.
OPTION_WORDS: tuple[str, ...] = (
    *("the", "option", "choice", "letter", "number", "no.", "no", "n°", "#"),
    *("la", "le", "l'", "l’", "choix", "proposition", "lettre", "réponse", "reponse"),
    *("seçenek", "şık", "opzjoni", "l-opzjoni", "għażla", "il-għażla"),
    *("الخيار", "خيار", "الاختيار", "رقم", "אפשרות", "מספר", "አማራጭ", "ምርጫ", "گزینه", "گزینهی"),
    *("選択肢", "番号", "선택지", "보기", "选项"),
)

#: Single letters that are also words in the studied languages (English "a", French "a"/"y",
#: Spanish "o"/"e", Maltese "u"...). As labels they need a mark (see module docstring).
WORD_LETTERS = frozenset({"a", "i", "e", "o", "u", "y"})

#: Words that, right before a label on its line, say it is *not* the answer ("not B", "ليس 2").
#: English "n't" ("isn't B") is matched as well.
NEGATIONS: tuple[str, ...] = ("not", "never", "pas", "jamais", "ليس", "لا", "לא", "אין")

#: Verbs that show a word letter is a label, not an article: "A is correct", "A seems right".
_LABEL_VERBS = r"(?:is|was|seems|would|must|should|appears|looks|matches|fits|est|semble)"

# --- character classes ---------------------------------------------------------------------------

# Word characters, except CJK, kana and Hangul, which may touch a label ("答えは3です", "3번").
_CJK = (  # case-insensitive matching of these big ranges would make compiling slow
    r"(?-i:[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    r"\uac00-\ud7af\uf900-\ufaff])"
)
_W = rf"(?:(?!{_CJK})\w)"
# Characters that join tokens: "2.5", "1,000", "3:30", "1/4", "B-cell", "C'est", "٣٫٥".
_JOIN = r"[.,:/'’\-٫٬]"
_TR_SUFFIX = r"['’](?:[dt][ıiuü]r|y?[ıiuü]|[dt][ae]n?)(?!" + _W + ")"
_LEFT = rf"(?<!{_W})"
_RIGHT = rf"(?:(?={_TR_SUFFIX})|(?!{_W})(?!{_JOIN}{_W}))"
_OPEN = r"[(\[「『“\"'«]"
_CLOSE = r"[)\]}」』”\"'»]"
_OPTION_WORD = "(?:(?:{})(?!{})|{})".format(
    "|".join(re.escape(w) for w in sorted(OPTION_WORDS, key=len, reverse=True) if w[-1].isalnum()),
    _W,
    "|".join(re.escape(w) for w in OPTION_WORDS if not w[-1].isalnum()),
)
_LABEL_PREFIX = rf"(?:{_OPTION_WORD}\s*){{0,2}}(?:{_OPEN}\s*)?"

_CUE_RE = re.compile(
    rf"{_LEFT}(?:{'|'.join(c for cues in ANSWER_CUES.values() for c in cues)})\s*"
    r"|\\boxed\s*\{\s*",
    re.IGNORECASE,
)

# --- normalisation -------------------------------------------------------------------------------

_DIGITS = {
    cp: str(d) for cp in range(128, 0x10000) if (d := unicodedata.digit(chr(cp), None)) is not None
}
# Arabic and Hebrew diacritics, tatweel, zero-width and bidi controls.
_IGNORED = re.compile(
    r"[\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u0610-\u061a\u061c\u0640"
    r"\u064b-\u065f\u0670\u06d6-\u06ed\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_LATEX_WRAP = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf)\s*\{([^{}]*)\}")
_LATEX_DELIM = re.compile(r"\$+|\\[()\[\]]")
_MARKDOWN = re.compile(r"\*+|`+|~~|(?<!\w)_+|_+(?!\w)")
_SPECIAL_TOKENS = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|</?s>|<eos>|<(?:start|end)_of_turn>", re.IGNORECASE
)
_THINK_TAG = re.compile(r"<(/?)(?:think|thinking)>", re.IGNORECASE)
_FINAL_CHANNEL = re.compile(r"<\|channel\|>\s*final\s*<\|message\|>", re.IGNORECASE)
_ANALYSIS_CHANNEL = re.compile(r"<\|channel\|>\s*analysis", re.IGNORECASE)


def strip_reasoning(generation: str) -> str:
    """The part of a generation that may hold the final answer, reasoning blocks removed.

    Balanced `<think>` blocks go; a closing tag without an opening one means the generation
    started inside a block opened by the prompt, so everything before it goes; an unterminated
    `<think>` means the model never finished reasoning, so everything from it on goes.
    """
    finals = list(_FINAL_CHANNEL.finditer(generation))
    if finals:
        generation = generation[finals[-1].end() :]
    elif _ANALYSIS_CHANNEL.search(generation):
        return ""
    kept: list[str] = []
    depth, pos = 0, 0
    for tag in _THINK_TAG.finditer(generation):
        if depth == 0:
            kept.append(generation[pos : tag.start()])
        if tag.group(1):  # closing tag
            if depth == 0:
                kept = []  # orphan close: what came before was reasoning
            else:
                depth -= 1
        else:
            depth += 1
        pos = tag.end()
    if depth == 0:
        kept.append(generation[pos:])
    return "\n".join(kept)


def normalize_text(text: str) -> str:
    """Fold a text for matching: NFKC, ASCII digits, no diacritics, markdown or LaTeX wrappers."""
    text = unicodedata.normalize("NFKC", text).translate(_DIGITS)
    text = _IGNORED.sub("", text)
    text = _SPECIAL_TOKENS.sub("\n", text)
    text = _LATEX_DELIM.sub("", _LATEX_WRAP.sub(r"\1", text))
    return _MARKDOWN.sub("", text)


_EDGE_PUNCTUATION = " .。!?!:;,\"'“”«»()[]「」『』"


def _fold(text: str) -> str:
    """A phrase for comparison: normalised, case-folded, single spaces, no end punctuation."""
    text = " ".join(normalize_text(text).casefold().split())
    return text.strip(_EDGE_PUNCTUATION)


# --- results and extractors ----------------------------------------------------------------------


@dataclass(frozen=True)
class Extraction:
    """The option a generation chose (1..n, None when none could be extracted) and why.

    `matched` is the deciding span (after normalisation) and `rule` the id of the rule that
    matched, so a predictions file can show how each number was read.
    """

    option: int | None
    matched: str | None = None
    rule: str | None = None


NO_ANSWER = Extraction(None, None, None)


@dataclass(frozen=True)
class Extractor:
    """A named extraction mode: the ordered rules it tries. Call it like `extract_answer`."""

    id: str
    rules: tuple[str, ...]
    description: str

    def __call__(
        self, generation: str, labels: Sequence[str], options: Sequence[str] | None = None
    ) -> Extraction:
        return extract_answer(generation, labels, options, mode=self.id)

    def as_record(self) -> dict[str, Any]:
        """The extractor as a plain dict, for provenance."""
        return {"id": self.id, "rules": list(self.rules), "description": self.description}


_STRICT_RULES = ("answer_cue", "bare_label")
EXTRACTORS: dict[str, Extractor] = {
    "strict": Extractor(
        "strict",
        _STRICT_RULES,
        "Only an explicit final-answer statement or an output that is just a label.",
    ),
    "lenient": Extractor(
        "lenient",
        (*_STRICT_RULES, "label_line", "alt_label", "option_text", "last_label"),
        "Strict first, then a label line, the other label set, an option's text, and finally "
        "the last standalone label.",
    ),
}


# --- matching ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    option: int
    start: int
    end: int


class _Labels:
    """Compiled patterns for one label set; `index` maps a folded label to its option (1..n)."""

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.index = {_fold_label(label): i for i, label in enumerate(labels, start=1)}
        alternatives = "|".join(re.escape(k) for k in sorted(self.index, key=len, reverse=True))
        self.token = rf"(?P<label>{alternatives})"
        flags = re.IGNORECASE
        self.after_cue = re.compile(
            rf"(?P<prefix>{_LABEL_PREFIX}){_LEFT}{self.token}{_RIGHT}", flags
        )
        self.bare = re.compile(
            rf"\s*(?P<prefix>{_LABEL_PREFIX}){_LEFT}{self.token}{_RIGHT}\s*(?:{_CLOSE}\s*)?"
            r"[.:。!\-–—)]*\s*",
            flags,
        )
        self.alternative = re.compile(
            rf"\s*(?:{_CLOSE}\s*)?(?:or|and|ou|et|veya|ya\s+da|או|أو|او|یا|/)\s*(?:{_OPEN}\s*)?"
            rf"{self.token}{_RIGHT}",
            flags,
        )
        self.scan = re.compile(rf"{_LEFT}(?<!{_W}{_JOIN}){self.token}{_RIGHT}", flags)

    def option(self, label: str) -> int:
        return self.index[_fold_label(label)]


def _fold_label(label: str) -> str:
    return normalize_text(label).strip().casefold()


@lru_cache(maxsize=64)
def _compiled(labels: tuple[str, ...]) -> _Labels:
    return _Labels(labels)


def _alternative_labels(labels: tuple[str, ...]) -> tuple[str, ...] | None:
    """The other usual label set (digits for letters, letters for digits), if labels are one."""
    n = len(labels)
    if n > 9:
        return None
    folded = tuple(_fold_label(label) for label in labels)
    digits = tuple(str(i) for i in range(1, n + 1))
    letters = tuple("abcdefghi"[:n])
    if folded == letters:
        return digits
    if folded == digits:
        return tuple(x.upper() for x in letters)
    return None


def _is_word_letter(label: str) -> bool:
    return label.casefold() in WORD_LETTERS


_MARK_AFTER = re.compile(
    rf"[.:)\]」』”\"'»]|[ \t]*[.:;,!?。]*[ \t]*(?:\n|$)|\s+{_LABEL_VERBS}(?!{_W})", re.IGNORECASE
)


def _marked(text: str, match: re.Match[str]) -> bool:
    """Whether a label that is also a word is clearly used as a label here."""
    if match.groupdict().get("prefix", "").strip():
        return True
    start, end = match.span("label")
    before = text[max(0, start - 8) : start].rstrip(" \t")
    return before.endswith(tuple("([「『“\"'«")) or bool(_MARK_AFTER.match(text, end))


_WORD_CHAR = re.compile(_W)


class _OptionPattern:
    """An option's text as a whole phrase: the words in order, any whitespace between, and no
    word character right before or after.

    The word boundaries are checked by one precompiled pattern: compiling them into a pattern
    per option (a large Unicode class each time) cost milliseconds per item.
    """

    def __init__(self, words: Sequence[str]) -> None:
        self.body = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)

    def _bounded(self, text: str, start: int, end: int) -> bool:
        before = start == 0 or not _WORD_CHAR.match(text, start - 1)
        return before and (end == len(text) or not _WORD_CHAR.match(text, end))

    def match(self, text: str, pos: int) -> re.Match[str] | None:
        m = self.body.match(text, pos)
        return m if m and self._bounded(text, m.start(), m.end()) else None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        pos = 0
        while (m := self.body.search(text, pos)) is not None:
            if self._bounded(text, m.start(), m.end()):
                yield m
                pos = max(m.end(), m.start() + 1)
            else:
                pos = m.start() + 1


def _option_patterns(options: Sequence[str] | None) -> list[_OptionPattern | None]:
    """One whole-phrase pattern per option text (None for an empty one)."""
    patterns: list[_OptionPattern | None] = []
    for option in options or ():
        words = _fold(option).split()
        patterns.append(_OptionPattern(words) if words else None)
    return patterns


_LEAD = re.compile(rf"\s*(?:{_OPEN}\s*)?")
_CLOSE_AFTER = re.compile(rf"\s*{_CLOSE}(?!{_W})")


def _text_after(text: str, pos: int, options: list[_OptionPattern | None]) -> _Hit | None:
    """The option whose full text starts at `pos` (after an optional quote); the longest wins."""
    lead = _LEAD.match(text, pos)
    start = lead.end() if lead else pos
    best: _Hit | None = None
    for i, pattern in enumerate(options, start=1):
        m = pattern.match(text, start) if pattern else None
        if m and (best is None or m.end() > best.end):
            best = _Hit(i, pos, m.end())
    return best


def _label_after(text: str, pos: int, labels: _Labels) -> _Hit | None:
    """A label at `pos` (after optional option words and bracket), if one stands there."""
    m = labels.after_cue.match(text, pos)
    if not m:
        return None
    label = m.group("label")
    if _is_word_letter(label) and label.islower() and not _marked(text, m):
        return None
    if labels.alternative.match(text, m.end()):  # "B or C": no single answer
        return None
    close = _CLOSE_AFTER.match(text, m.end())
    return _Hit(labels.option(label), pos, close.end() if close else m.end())


def _answer_cue(
    text: str, labels: _Labels, options: list[_OptionPattern | None]
) -> tuple[_Hit, int] | None:
    """The last cue followed by a label or an option's text; returns the hit and the cue start."""
    found: tuple[_Hit, int] | None = None
    for cue in _CUE_RE.finditer(text):
        by_label = _label_after(text, cue.end(), labels)
        by_text = _text_after(text, cue.end(), options)
        hit = by_text if by_text and (not by_label or by_text.end > by_label.end) else by_label
        if hit:
            found = (hit, cue.start())
    return found


def _bare(
    text: str, labels: _Labels, options: list[_OptionPattern | None]
) -> tuple[_Hit, int] | None:
    """`text` is just a label, or a label followed by its own option's text."""
    m = labels.bare.match(text)
    if not m:
        return None
    option = labels.option(m.group("label"))
    rest = text[m.end() :]
    if rest.strip():
        pattern = options[option - 1] if option <= len(options) else None
        own = pattern.match(text, m.end()) if pattern else None
        if not own or text[own.end() :].strip(" \t\n.。!"):
            return None
    start = m.start("prefix") if m.group("prefix").strip() else m.start("label")
    return _Hit(option, start, len(text.rstrip())), start


def _label_line(
    text: str, labels: _Labels, options: list[_OptionPattern | None]
) -> tuple[_Hit, int] | None:
    """The last line that is a bare label."""
    found = None
    offset = 0
    for line in text.splitlines(keepends=True):
        bare = _bare(line.rstrip("\r\n"), labels, options)
        if bare:
            hit, start = bare
            found = (_Hit(hit.option, offset + hit.start, offset + hit.end), offset + start)
        offset += len(line)
    return found


_NEGATED = re.compile(
    rf"(?:{_LEFT}(?:{'|'.join(re.escape(w) for w in NEGATIONS)})|n['’]t)\s+(?:{_LABEL_PREFIX})?$",
    re.IGNORECASE,
)


def _scan(text: str, labels: _Labels) -> list[_Hit]:
    """Every standalone label, word letters ('A') only where marked, negated ones left out."""
    hits = []
    for m in labels.scan.finditer(text):
        label = m.group("label")
        if _is_word_letter(label) and not _marked(text, m):
            continue
        line_start = text.rfind("\n", max(0, m.start() - 40), m.start()) + 1
        if _NEGATED.search(text, max(line_start, m.start() - 40), m.start()):
            continue
        hits.append(_Hit(labels.option(label), m.start(), m.end()))
    return hits


def _option_text(
    text: str, labels: _Labels, options: list[_OptionPattern | None], folded: Sequence[str]
) -> _Hit | None:
    """The option whose text the output is, or the only option whose text occurs in it.

    An occurrence followed by a label is left to `last_label` (the model's last word).
    """
    whole = _fold(text)
    exact = [i for i, f in enumerate(folded, start=1) if f and f == whole]
    if len(exact) == 1:
        stripped = text.strip()
        start = text.find(stripped)
        return _Hit(exact[0], start, start + len(stripped))
    hits = [
        _Hit(i, m.start(), m.end())
        for i, pattern in enumerate(options, start=1)
        if pattern
        for m in pattern.finditer(text)
    ]
    # "Paris" inside "Paris, France" is part of the longer option, not a mention of its own.
    hits = [
        h
        for h in hits
        if not any(
            o.option != h.option and o.start <= h.start and h.end <= o.end and o != h for o in hits
        )
    ]
    if len({h.option for h in hits}) != 1:
        return None
    last = max(hits, key=lambda h: h.end)
    if any(label.start >= last.end for label in _scan(text, labels)):
        return None
    return last


@dataclass(frozen=True)
class _Item:
    """One generation prepared for the rules: normalised text and compiled label/option patterns."""

    text: str
    labels: tuple[str, ...]
    compiled: _Labels
    options: list[_OptionPattern | None]
    folded_options: list[str]


# A rule returns the hit and where the span that decided it starts, or None.
_Rule = Callable[[_Item], tuple[_Hit, int] | None]


def _hit_at(hit: _Hit | None) -> tuple[_Hit, int] | None:
    return (hit, hit.start) if hit else None


def _alt_label(item: _Item) -> tuple[_Hit, int] | None:
    """Rules answer_cue and bare_label with the other usual label set (lenient only)."""
    alternative = _alternative_labels(item.labels)
    if alternative is None:
        return None
    compiled = _compiled(alternative)
    return _answer_cue(item.text, compiled, []) or _bare(item.text, compiled, [])


_RULES: dict[str, _Rule] = {
    "answer_cue": lambda it: _answer_cue(it.text, it.compiled, it.options),
    "bare_label": lambda it: _bare(it.text, it.compiled, it.options),
    "label_line": lambda it: _label_line(it.text, it.compiled, it.options),
    "alt_label": _alt_label,
    "option_text": lambda it: _hit_at(
        _option_text(it.text, it.compiled, it.options, it.folded_options)
    ),
    "last_label": lambda it: _hit_at(
        max(_scan(it.text, it.compiled), key=lambda h: h.end, default=None)
    ),
}


def extraction_fields(
    generation: str | None,
    labels: Sequence[str],
    options: Sequence[str] | None,
    mode: str,
) -> dict[str, Any]:
    """The generative fields of a predictions record: `pred_gen`, the option the generation
    chose, and the trail of that choice: `extraction` (the extractor id), `extraction_rule` (the
    rule that decided) and `extraction_span` (the span it read, as normalised). All None when
    nothing was generated; the three but `extraction` None when no answer was found.

    Native cells (`xlt.evaluate.cell`) and imported ones (`xlt.analysis.importers`) both build
    their records here, so their answers are read by the same rules and can be compared.
    """
    if generation is None:
        return {
            "pred_gen": None,
            "extraction": None,
            "extraction_rule": None,
            "extraction_span": None,
        }
    found = extract_answer(generation, labels, options, mode=mode)
    return {
        "pred_gen": found.option,
        "extraction": mode,
        "extraction_rule": found.rule,
        "extraction_span": found.matched,
    }


def extract_answer(
    generation: str,
    labels: Sequence[str],
    options: Sequence[str] | None = None,
    mode: str = "lenient",
) -> Extraction:
    """The option (1..len(labels)) that `generation` chose, with the span and rule that decided.

    `labels` are the template's option labels ("1".."4" or "A".."D"); `options` the answer
    texts, which let an answer given as text count. `mode` is an id in `EXTRACTORS`.
    """
    if mode not in EXTRACTORS:
        raise ValueError(f"unknown extraction mode '{mode}'; choose one of {sorted(EXTRACTORS)}.")
    label_key = tuple(labels)
    folded = {_fold_label(x) for x in label_key}
    if not label_key or "" in folded or len(folded) != len(label_key):
        raise ValueError(f"labels must be non-empty and distinct, got {list(labels)}.")
    if options is not None and len(options) != len(label_key):
        raise ValueError(f"got {len(options)} options for {len(label_key)} labels.")

    text = normalize_text(strip_reasoning(generation or ""))
    if not text.strip():
        return NO_ANSWER
    item = _Item(
        text=text,
        labels=label_key,
        compiled=_compiled(label_key),
        options=_option_patterns(options),
        folded_options=[_fold(o) for o in options or ()],
    )
    for rule in EXTRACTORS[mode].rules:
        found = _RULES[rule](item)
        if found:
            hit, start = found
            return Extraction(hit.option, text[start : hit.end].strip(), rule)
    return NO_ANSWER
