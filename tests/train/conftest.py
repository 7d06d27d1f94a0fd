"""Fixtures of the fine-tuning tests: one torch thread, and the demo's Arabic train files."""

import pytest
import torch
from support.data import DEMO_DATA, write_jsonl

from xlt.data.belebele import make_split, read_belebele, split_language


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread per test module: bitwise comparisons need one reduction order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def train_setup(tmp_path_factory):
    """Split the shipped demo data and write Arabic train files, as the workflow does."""
    root = tmp_path_factory.mktemp("ft")
    split = make_split(read_belebele(DEMO_DATA / "eng_Latn.jsonl"), 16, 0, "eng_Latn")
    split.save(root / "split.json")
    files = []
    for lang in ("arb_Arab", "arz_Arab"):
        train, _ = split_language(read_belebele(DEMO_DATA / f"{lang}.jsonl"), split, lang)
        files.append(write_jsonl(root / f"{lang}.train.jsonl", train))
    return root, files
