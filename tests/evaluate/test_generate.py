import pytest
import torch
from support.data import DEMO_DATA

from xlt.data.belebele import read_belebele
from xlt.evaluate.generate import AnswerStop, first_line_complete, generate, trim_after_eos
from xlt.evaluate.scoring import build_requests, score_options
from xlt.models.loading import ModelRef, load_model, load_tokenizer
from xlt.prompts import answer_continuation, load_templates

TEMPLATES = load_templates("config/templates.yaml")


@pytest.fixture(scope="module")
def lm(tiny_model_ref):
    ref = ModelRef.load(tiny_model_ref)
    return load_model(ref, dtype="float32", device="cpu"), load_tokenizer(ref)


@pytest.fixture(scope="module")
def contexts(lm):
    _, tokenizer = lm
    template = TEMPLATES["belebele_num"]
    rows = (
        read_belebele(DEMO_DATA / "mlt_Latn.jsonl")[:5]
        + read_belebele(DEMO_DATA / "pes_Arab.jsonl")[:4]
    )
    prompts = [template.render(r) for r in rows]
    conts = [answer_continuation(template, label, chat=False) for label in template.labels]
    requests = build_requests(tokenizer, prompts, conts)
    assert len(requests) == len(prompts), "demo labels should be single tokens"
    return prompts, conts, requests


def test_batched_generation_equals_unbatched(lm, contexts):
    model, tokenizer = lm
    _, _, requests = contexts
    inputs = [r.input_ids for r in requests]
    one = generate(model, tokenizer, inputs, max_new_tokens=12, batch_size=1)
    many = generate(model, tokenizer, inputs, max_new_tokens=12, batch_size=4)
    assert [g.text for g in one] == [g.text for g in many]
    assert all(g.n_tokens > 0 for g in one)


def test_label_logprobs_come_from_the_generation_prefill(lm, contexts):
    model, tokenizer = lm
    prompts, conts, requests = contexts
    label_ids = [t[0] for _, t in requests[0].reads]
    generations = generate(
        model,
        tokenizer,
        [r.input_ids for r in requests],
        4,
        batch_size=3,
        label_token_ids=label_ids,
    )
    scored = score_options(model, tokenizer, prompts, conts, batch_size=2)
    from_prefill = torch.tensor([g.label_logprobs for g in generations], dtype=torch.float64)
    torch.testing.assert_close(from_prefill, scored, atol=1e-4, rtol=0)


def test_generation_stops_at_the_first_complete_line(lm, contexts):
    model, tokenizer = lm
    _, _, requests = contexts
    free = generate(model, tokenizer, [requests[0].input_ids], max_new_tokens=40)
    stopped = generate(
        model,
        tokenizer,
        [requests[0].input_ids],
        max_new_tokens=40,
        stop=AnswerStop(["1", "2", "3", "4"]),
    )
    assert stopped[0].n_tokens <= free[0].n_tokens
    assert free[0].text.startswith(stopped[0].text.rstrip("\n").rstrip())


def test_first_line_complete():
    assert not first_line_complete("")
    assert not first_line_complete("\n")
    assert not first_line_complete(" 2")
    assert first_line_complete(" 2\nP:")


def test_trim_after_eos_and_padding():
    assert trim_after_eos([5, 6, 1, 7], eos_id=1, pad_id=2) == [5, 6]
    assert trim_after_eos([5, 6, 2, 2], eos_id=1, pad_id=2) == [5, 6]


@pytest.mark.parametrize(
    ("text", "done"),
    [
        (" 2", False),
        (" 2:", True),
        (" 20", False),
        (" (B)", True),
        (" Bus", False),
        (" 3.", True),
        ("\n", False),
        (" four\n", True),
        (" **4**", True),
    ],
)
def test_a_direct_answer_is_complete_after_a_label_and_a_break(text, done):
    labels = ["1", "2", "3", "4", "A", "B", "C", "D"]
    assert AnswerStop(labels).complete(text) is done


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        (" 2: It was warm\nThe end", " 2:"),
        ("\n 3.", "\n 3."),
        (" four\nmore", " four\n"),
        (" 20 people", " 20 people"),
        ("**4** because", "**4*"),  # complete at the first non-word character after the label
    ],
)
def test_the_stop_rule_cuts_an_answer_where_it_is_complete(text, cut):
    assert AnswerStop(["1", "2", "3", "4"]).cut(text) == cut
