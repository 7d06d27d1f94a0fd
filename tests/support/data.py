"""Small Belebele-style rows and files for tests."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_DATA = REPO / "resources" / "demo" / "belebele"


def belebele_row(link: str, qnum: int, gold: int, lang: str = "eng_Latn") -> dict:
    """A valid Belebele row with distinguishable text."""
    return {
        "link": link,
        "question_number": qnum,
        "flores_passage": f"Passage {link} in {lang}. The river is long and the market is busy.",
        "question": f"Question {qnum} about {link}?",
        "mc_answer1": "the river",
        "mc_answer2": "the market",
        "mc_answer3": "the school",
        "mc_answer4": "the bakery",
        "correct_answer_num": str(gold),
        "dialect": lang,
        "ds": "2026-11-23",
    }


def synthetic_rows(n_passages: int = 10, lang: str = "eng_Latn") -> list[dict]:
    """Parallel items: passages with 2 questions, except every third with 1."""
    rows = []
    for p in range(n_passages):
        for q in range(1, (1 if p % 3 == 2 else 2) + 1):
            rows.append(belebele_row(f"https://demo.test/p{p}", q, (p + q) % 4 + 1, lang))
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path
