import logging

import pytest
import torch
from support.data import DEMO_DATA

from xlt.data.belebele import read_belebele
from xlt.evaluate.scoring import ContextTooLongError, encode_pair, score_options
from xlt.models.loading import ModelRef, load_model, load_tokenizer
from xlt.prompts import answer_continuation, load_templates


@pytest.fixture(scope="module")
def lm(tiny_model_ref):
    ref = ModelRef.load(tiny_model_ref)
    return load_model(ref, dtype="float32", device="cpu"), load_tokenizer(ref)


@pytest.fixture(scope="module")
def prompts():
    template = load_templates("config/templates.yaml")["belebele_num"]
    rows = read_belebele(DEMO_DATA / "heb_Hebr.jsonl")[:6]
    rows += read_belebele(DEMO_DATA / "amh_Ethi.jsonl")[:4]
    return template, [template.render(r) for r in rows]


def brute_force(model, tokenizer, prompt, continuation):
    """Score one option alone: the whole sequence in one unpadded forward pass."""
    context, target = encode_pair(tokenizer, prompt, continuation)
    ids = torch.tensor([context + target])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0].double(), -1)
    return sum(float(logprobs[len(context) - 1 + i, t]) for i, t in enumerate(target))


def test_scores_equal_a_brute_force_forward_pass_per_option(lm, prompts):
    model, tokenizer = lm
    template, texts = prompts
    conts = [answer_continuation(template, label, chat=False) for label in template.labels]
    scores = score_options(model, tokenizer, texts, conts, batch_size=4)
    for i, text in enumerate(texts):
        for j, cont in enumerate(conts):
            assert scores[i, j] == pytest.approx(
                brute_force(model, tokenizer, text, cont), abs=1e-4
            )


def test_multi_token_labels_are_summed_and_warned_once(lm, prompts, caplog):
    model, tokenizer = lm
    _, texts = prompts
    conts = [" river bank", " the market", " school", " bakery shop"]
    assert any(len(encode_pair(tokenizer, texts[0], c)[1]) > 1 for c in conts)
    with caplog.at_level(logging.WARNING, logger="xlt.evaluate.scoring"):
        scores = score_options(model, tokenizer, texts[:3], conts, batch_size=2)
    assert sum("not all single tokens" in r.message for r in caplog.records) == 1
    for j, cont in enumerate(conts):
        assert scores[1, j] == pytest.approx(
            brute_force(model, tokenizer, texts[1], cont), abs=1e-4
        )


def test_batch_size_does_not_change_scores(lm, prompts):
    model, tokenizer = lm
    template, texts = prompts
    conts = [answer_continuation(template, label, chat=False) for label in template.labels]
    one = score_options(model, tokenizer, texts, conts, batch_size=1)
    many = score_options(model, tokenizer, texts, conts, batch_size=7)
    torch.testing.assert_close(one, many, atol=1e-5, rtol=0)
    assert torch.equal(one.argmax(1), many.argmax(1))


def test_trailing_space_moves_into_the_continuation(lm):
    _, tokenizer = lm
    assert encode_pair(tokenizer, "Answer: ", "1") == encode_pair(tokenizer, "Answer:", " 1")


def test_prompt_longer_than_the_context_is_a_clear_error(lm, prompts):
    model, tokenizer = lm
    _, texts = prompts
    with pytest.raises(ContextTooLongError, match="item q7"):
        score_options(model, tokenizer, texts[:1], [" 1", " 2"], max_length=5, item_ids=["q7"])
