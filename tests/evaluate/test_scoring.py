import logging

import pytest
import torch
from support.data import DEMO_DATA

import xlt.evaluate.scoring as scoring
from xlt.data.belebele import read_belebele
from xlt.evaluate.scoring import (
    ContextTooLongError,
    build_requests,
    encode_pair,
    score_options,
)
from xlt.models.loading import ModelRef, load_model, load_tokenizer
from xlt.prompts import answer_continuation, load_templates

# Labels that the demo tokenizer splits into several tokens, of different lengths.
MULTI_TOKEN = [" river bank", " 10", " school", " bakery shop"]


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


@pytest.fixture(params=["4-D mask (sdpa)", "4-D mask (eager)", "cache copies"])
def sharing(request, lm, monkeypatch):
    """Each way options share their context: in the prefill under a 4-D mask (boolean for
    sdpa, additive for eager attention), or on copies of the context's KV cache (models with
    other attention)."""
    model, _ = lm
    if request.param == "cache copies":
        monkeypatch.setattr(scoring, "full_attention_only", lambda model: False)
    elif request.param == "4-D mask (eager)":
        model.set_attn_implementation("eager")
        yield request.param
        model.set_attn_implementation("sdpa")
        return
    yield request.param


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


def test_multi_token_options_share_the_context_and_equal_scoring_each_alone(lm, prompts, sharing):
    model, tokenizer = lm
    _, texts = prompts
    lengths = {len(encode_pair(tokenizer, texts[0], c)[1]) for c in MULTI_TOKEN}
    assert len(lengths) > 1 and max(lengths) > 1, "options should have different lengths"
    # Batches of 3 mix prompts of different lengths: left padding in every batch.
    scores = score_options(model, tokenizer, texts, MULTI_TOKEN, batch_size=3)
    for i, text in enumerate(texts):
        for j, cont in enumerate(MULTI_TOKEN):
            assert scores[i, j] == pytest.approx(
                brute_force(model, tokenizer, text, cont), abs=1e-4
            ), (sharing, i, cont)


def test_multi_token_scores_equal_lm_evaluation_harness(lm, prompts):
    pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    model, tokenizer = lm
    _, texts = prompts
    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=3)
    requests = [
        Instance(request_type="loglikelihood", doc={}, arguments=(text, cont), idx=j)
        for text in texts
        for j, cont in enumerate(MULTI_TOKEN)
    ]
    theirs = torch.tensor([ll for ll, _ in harness.loglikelihood(requests, disable_tqdm=True)])
    ours = score_options(model, tokenizer, texts, MULTI_TOKEN, batch_size=3)
    torch.testing.assert_close(ours, theirs.view(len(texts), -1).double(), atol=1e-4, rtol=0)


def test_one_request_per_item_whatever_the_labels(lm, prompts, caplog):
    _, tokenizer = lm
    _, texts = prompts
    with caplog.at_level(logging.WARNING, logger="xlt.evaluate.scoring"):
        requests = build_requests(tokenizer, texts[:3], MULTI_TOKEN)
    assert sum("favours the shorter ones" in r.message for r in caplog.records) == 1
    assert [r.item for r in requests] == [0, 1, 2]
    for request, text in zip(requests, texts[:3], strict=True):
        for cont, targets in zip(MULTI_TOKEN, request.targets, strict=True):
            assert (list(request.context), list(targets)) == encode_pair(tokenizer, text, cont)


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
        score_options(
            model, tokenizer, texts[:1], [" 1", " 2"], batch_size=2, max_length=5, item_ids=["q7"]
        )


def test_the_longest_option_counts_against_the_context_window(lm, prompts):
    _, tokenizer = lm
    _, texts = prompts
    request = build_requests(tokenizer, texts[:1], MULTI_TOKEN)[0]
    longest = len(request.context) + max(len(t) for t in request.targets) - 1
    assert build_requests(tokenizer, texts[:1], MULTI_TOKEN, max_length=longest)
    with pytest.raises(ContextTooLongError, match=f"{longest} tokens"):
        build_requests(tokenizer, texts[:1], MULTI_TOKEN, max_length=longest - 1)


def test_labels_of_equal_length_are_not_warned_about(lm, prompts, caplog):
    """Gemma's " 1".." 4" are two tokens each: a fair comparison, no warning. (The demo
    tokenizer makes " 1" one token, so " 1 1" is two.)"""
    _, tokenizer = lm
    _, texts = prompts
    labels = [" 1 1", " 2 2", " 3 3", " 4 4"]
    lengths = {len(tokenizer(label, add_special_tokens=False)["input_ids"]) for label in labels}
    assert lengths == {2}
    with caplog.at_level(logging.WARNING, logger="xlt.evaluate.scoring"):
        build_requests(tokenizer, texts[:2], labels)
    assert not [r for r in caplog.records if "favours" in r.message]
