"""Tiny demo models: build, load through the hub code path, tokenizer, determinism, pre-training."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from xlt.models.demo import (
    DemoModelSpec,
    build_demo_model,
    corpus_rows,
    corpus_texts,
    label_tokens_single,
    mean_loss,
    pack_chunks,
    read_build_record,
    train_tokenizer,
)

TEXTS = {
    "eng_Latn": (
        "The city council approved the new budget on Tuesday after a long debate. "
        "Scientists found that the river had changed its course over the last century.",
        "Many tourists visit the old market in the early morning, when it is quiet. "
        "The museum will be closed for repairs until the end of the year.",
    ),
    "arb_Arab": (
        "وافق مجلس المدينة على الميزانية الجديدة يوم الثلاثاء بعد نقاش طويل. "
        "وجد العلماء أن النهر قد غير مجراه خلال القرن الماضي.",
        "يزور كثير من السياح السوق القديم في الصباح الباكر عندما يكون هادئا. "
        "سيبقى المتحف مغلقا للإصلاحات حتى نهاية العام.",
    ),
    "heb_Hebr": (
        "מועצת העיר אישרה את התקציב החדש ביום שלישי לאחר דיון ארוך. "
        "מדענים גילו שהנהר שינה את מסלולו במהלך המאה האחרונה.",
        "תיירים רבים מבקרים בשוק הישן מוקדם בבוקר, כשהוא שקט. "
        "המוזיאון יהיה סגור לשיפוצים עד סוף השנה.",
    ),
}
ROUND_TRIP = (
    "The museum reopened in 1998, 4 years later.",
    "وافق مجلس المدينة على الميزانية الجديدة.",
    "מועצת העיר אישרה את התקציב החדש.",
    "የከተማው ምክር ቤት አዲሱን በጀት አጸደቀ።",
    "  spaces,\ttabs\nand newlines  ",
)
FAST = DemoModelSpec(architecture="dense", pretrain_steps=5)


def belebele_rows(lang: str) -> list[dict]:
    rows = []
    for p, passage in enumerate(TEXTS[lang]):
        words = passage.split()
        for q in (1, 2):
            rows.append(
                {
                    "link": f"https://demo.test/{p}",
                    "question_number": q,
                    "flores_passage": passage,
                    "question": " ".join(words[q : q + 6]) + "?",
                    "mc_answer1": words[0],
                    "mc_answer2": words[2],
                    "mc_answer3": words[4],
                    "mc_answer4": words[6],
                    "correct_answer_num": str((p + q) % 4 + 1),
                    "dialect": lang,
                    "ds": "2026-11-23",
                }
            )
    return rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("corpus")
    files = []
    for lang in TEXTS:
        path = root / f"{lang}.jsonl"
        rows = belebele_rows(lang)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        files.append(path)
    return files


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    out = {}
    for arch in ("dense", "moe"):
        out[arch] = root / arch
        build_demo_model(corpus, replace(FAST, architecture=arch), out[arch])
    return out


@pytest.mark.parametrize("arch", ["dense", "moe"])
def test_model_loads_like_a_hub_model(built, arch):
    model = AutoModelForCausalLM.from_pretrained(built[arch])
    tokenizer = AutoTokenizer.from_pretrained(built[arch])
    assert model.dtype == torch.float32
    assert model.config.vocab_size == len(tokenizer) <= FAST.vocab_size
    assert model.config.tie_word_embeddings
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert (model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id) == (
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    )
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    ids = tokenizer("Many tourists visit the old market.", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], model.config.vocab_size)
    assert torch.isfinite(logits).all()
    assert not list(built[arch].parent.glob(".*"))


def test_moe_model_is_a_mixture_of_experts(built):
    model = AutoModelForCausalLM.from_pretrained(built["moe"])
    assert model.config.model_type == "qwen3_moe"
    assert model.config.num_experts == FAST.num_experts > 1
    assert model.config.num_experts_per_tok == FAST.num_experts_per_tok
    assert AutoModelForCausalLM.from_pretrained(built["dense"]).config.model_type == "llama"
    experts = model.model.layers[0].mlp.experts
    assert experts.gate_up_proj.shape[0] == FAST.num_experts


@pytest.mark.parametrize("source", ["trained", "saved"])
def test_tokenizer_round_trips_scripts_and_has_chat_template(corpus, built, source):
    if source == "trained":
        tokenizer = train_tokenizer(corpus_texts(corpus_rows(corpus)), 512)
    else:
        tokenizer = AutoTokenizer.from_pretrained(built["dense"])
    for text in ROUND_TRIP:
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == text
        assert tokenizer.bos_token_id not in ids
    assert tokenizer.encode("<|user|>") == [tokenizer.convert_tokens_to_ids("<|user|>")]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt == "<|user|>\nhi<|eos|>\n<|assistant|>\n"
    assert tokenizer.padding_side == "right"
    assert all(label_tokens_single(tokenizer).values())


def test_pretraining_never_sees_the_answer_key(corpus):
    rows = corpus_rows(corpus)
    texts = corpus_texts(rows)
    fields = ("flores_passage", "question", "mc_answer1", "mc_answer2", "mc_answer3", "mc_answer4")
    assert set(texts) == {row[f] for row in rows for f in fields}
    assert len(texts) == len(set(texts))


def test_rebuild_is_byte_identical_and_seed_matters(corpus, built, tmp_path):
    build_demo_model(corpus, FAST, tmp_path / "again")
    build_demo_model(corpus, replace(FAST, seed=1), tmp_path / "seed1")
    weights = "model.safetensors"
    reference = (built["dense"] / weights).read_bytes()
    assert (tmp_path / "again" / weights).read_bytes() == reference
    assert (tmp_path / "seed1" / weights).read_bytes() != reference
    for name in ("tokenizer.json", "config.json", "generation_config.json"):
        assert (tmp_path / "again" / name).read_bytes() == (built["dense"] / name).read_bytes()


def test_pretraining_lowers_the_loss(corpus, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="xlt.models.demo"):
        build_demo_model(corpus, replace(FAST, pretrain_steps=0), tmp_path / "init")
        build_demo_model(corpus, replace(FAST, pretrain_steps=30), tmp_path / "trained")
    assert "pretrain step 30/30 loss" in caplog.text
    history = read_build_record(tmp_path / "trained")["pretrain_loss"]
    assert [step for step, _ in history] == [1, 25, 30]
    assert history[-1][1] < history[0][1]
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "trained")
    chunks = pack_chunks(corpus_texts(corpus_rows(corpus)), tokenizer)
    before = mean_loss(AutoModelForCausalLM.from_pretrained(tmp_path / "init"), chunks)
    after = mean_loss(AutoModelForCausalLM.from_pretrained(tmp_path / "trained"), chunks)
    assert after < before - 0.5


def test_build_replaces_stale_temp_and_old_output(corpus, tmp_path):
    import os

    out = tmp_path / "model"
    stale = tmp_path / f".model.tmp-{os.getpid()}"
    stale.mkdir()
    (stale / "junk").write_text("half-written")
    out.mkdir()
    (out / "old.txt").write_text("previous build")
    build_demo_model(corpus, replace(FAST, pretrain_steps=1), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert not (out / "old.txt").exists()
    assert (out / "model.safetensors").stat().st_mode & 0o044


def test_spec_rejects_unknown_architecture():
    with pytest.raises(ValueError, match="architecture"):
        DemoModelSpec(architecture="mamba")
    with pytest.raises(ValueError, match="divisible"):
        DemoModelSpec(architecture="dense", hidden_size=30, num_heads=4)


def test_answer_labels_become_tokens_even_when_the_corpus_crowds_them_out():
    words = [a + b for a in "efghijklmnopqrstuvwxyz" for b in "ou"]
    crowded = [" ".join(words * 1500)]
    tokenizer = train_tokenizer(crowded, 300)
    assert all(label_tokens_single(tokenizer).values())
    assert tokenizer.decode(tokenizer.encode(crowded[0][:200])) == crowded[0][:200]
