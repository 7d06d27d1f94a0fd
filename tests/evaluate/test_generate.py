import pytest
import torch
from support.data import DEMO_DATA
from transformers import AutoModelForCausalLM, StoppingCriteria, StoppingCriteriaList

from xlt.data.belebele import read_belebele
from xlt.evaluate.generate import AnswerStop, answer_done, first_line_complete, generate
from xlt.evaluate.scoring import build_requests, score_options
from xlt.models.demo import DemoModelSpec, model_config
from xlt.models.loading import ModelRef, load_model, load_tokenizer
from xlt.prompts import answer_continuation, load_templates

TEMPLATES = load_templates("config/templates.yaml")
LABELS = ["1", "2", "3", "4"]


@pytest.fixture(scope="module")
def lm(tiny_model_ref):
    ref = ModelRef.load(tiny_model_ref)
    return load_model(ref, dtype="float32", device="cpu"), load_tokenizer(ref)


@pytest.fixture(scope="module")
def answering(lm):
    """A random model nudged towards " 1".." 4", ":", line breaks and EOS, so that answers end
    at different steps — by the stop rule, by EOS, or not at all — and some in the middle of a
    multi-byte character."""
    _, tokenizer = lm
    torch.manual_seed(0)
    config = model_config(DemoModelSpec("dense", hidden_size=64, num_layers=2), tokenizer)
    config.initializer_range = 0.3
    model = AutoModelForCausalLM.from_config(config).eval()
    favoured = [encode(tokenizer, s)[0] for s in (" 1", " 2", " 3", " 4", ":", "\n")]
    bias = torch.zeros(len(tokenizer))
    bias[[*favoured, tokenizer.eos_token_id]] = 5.0
    model.lm_head.register_forward_hook(lambda module, inputs, logits: logits + bias)
    return model, tokenizer


def encode(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def contexts(lm):
    _, tokenizer = lm
    template = TEMPLATES["belebele_num"]
    rows = (
        read_belebele(DEMO_DATA / "mlt_Latn.jsonl")[:5]
        + read_belebele(DEMO_DATA / "amh_Ethi.jsonl")[:4]
        + read_belebele(DEMO_DATA / "pes_Arab.jsonl")[:3]
    )
    prompts = [template.render(r) for r in rows]
    conts = [answer_continuation(template, label, chat=False) for label in template.labels]
    requests = build_requests(tokenizer, prompts, conts)
    assert all(len(t) == 1 for t in requests[0].targets), "demo labels should be single tokens"
    return prompts, conts, requests


class ReferenceStop(StoppingCriteria):
    """The stop rule as a transformers stopping criterion, judged on each row's new text."""

    def __init__(self, tokenizer, width, stop):
        self.tokenizer, self.width, self.stop = tokenizer, width, stop

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tokenizer.batch_decode(input_ids[:, self.width :], skip_special_tokens=True)
        return torch.tensor([answer_done(self.stop, t) for t in texts])


def reference_generate(model, tokenizer, contexts, max_new_tokens, stop):
    """`transformers.generate`, greedy, one unpadded context at a time: texts and token counts."""
    results = []
    for context in contexts:
        ids = torch.tensor([context])
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            stopping_criteria=StoppingCriteriaList([ReferenceStop(tokenizer, len(context), stop)]),
        )
        new = out[0, len(context) :].tolist()
        if tokenizer.eos_token_id in new:
            new = new[: new.index(tokenizer.eos_token_id)]
        results.append((tokenizer.decode(new, skip_special_tokens=True), len(new)))
    return results


@pytest.mark.parametrize("batch_size", [1, 4, 12])
def test_greedy_loop_equals_transformers_generate(answering, contexts, batch_size):
    model, tokenizer = answering
    _, _, requests = contexts
    inputs = [r.context for r in requests]
    stop = AnswerStop(LABELS)
    expected = reference_generate(model, tokenizer, inputs, 8, stop)
    ours = generate(model, tokenizer, inputs, 8, batch_size=batch_size, stop=stop)
    assert [(g.text, g.n_tokens) for g in ours] == expected
    # The rows end at different steps, so a batch shrinks on the way.
    assert len({n for _, n in expected}) > 3


def test_batched_generation_equals_unbatched(lm, contexts):
    model, tokenizer = lm
    _, _, requests = contexts
    inputs = [r.context for r in requests]
    one = generate(model, tokenizer, inputs, max_new_tokens=12, batch_size=1)
    many = generate(model, tokenizer, inputs, max_new_tokens=12, batch_size=4)
    assert [g.text for g in one] == [g.text for g in many]
    assert all(g.n_tokens > 0 for g in one)


@pytest.mark.parametrize("labels", [LABELS, ["10", "21", "32", "43"]], ids=["single", "multi"])
def test_label_logprobs_come_from_the_generation_prefill(answering, contexts, labels):
    model, tokenizer = answering
    prompts, _, _ = contexts
    conts = [" " + label for label in labels]
    requests = build_requests(tokenizer, prompts, conts)
    inputs = [r.context for r in requests]
    stop = AnswerStop(LABELS)
    generations = generate(
        model,
        tokenizer,
        inputs,
        8,
        batch_size=5,
        stop=stop,
        label_targets=[r.targets for r in requests],
    )
    scored = score_options(model, tokenizer, prompts, conts, batch_size=2)
    from_prefill = torch.tensor([g.label_logprobs for g in generations], dtype=torch.float64)
    torch.testing.assert_close(from_prefill, scored, atol=1e-4, rtol=0)
    # Scoring the labels in the same prefill leaves the generated answers as they were.
    plain = generate(model, tokenizer, inputs, 8, batch_size=5, stop=stop)
    assert [g.text for g in generations] == [g.text for g in plain]


def test_generation_stops_at_the_first_complete_line(lm, contexts):
    model, tokenizer = lm
    _, _, requests = contexts
    free = generate(model, tokenizer, [requests[0].context], max_new_tokens=40, batch_size=1)
    stopped = generate(
        model,
        tokenizer,
        [requests[0].context],
        max_new_tokens=40,
        batch_size=1,
        stop=AnswerStop(["1", "2", "3", "4"]),
    )
    assert stopped[0].n_tokens <= free[0].n_tokens
    assert free[0].text.startswith(stopped[0].text.rstrip("\n").rstrip())


def test_an_answer_is_not_judged_in_the_middle_of_a_character():
    stop = AnswerStop(LABELS)
    assert stop.complete(" 2\ufffd")  # the rule alone would end " 2" + half a character
    assert not answer_done(stop, " 2\ufffd")
    assert answer_done(stop, " 2:")
    assert not answer_done(stop, " 2ከ")


def test_first_line_complete():
    assert not first_line_complete("")
    assert not first_line_complete("\n")
    assert not first_line_complete(" 2")
    assert first_line_complete(" 2\nP:")


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


def test_generation_ends_at_the_model_s_end_of_turn_token_too(lm, contexts):
    """A chat model may end a turn with a token other than EOS (its generation config lists
    it): generation stops there, as vLLM does, and the token is not kept."""
    model, tokenizer = lm
    _, _, requests = contexts
    context = [requests[0].context]
    assert generate(model, tokenizer, context, max_new_tokens=6, batch_size=1)[0].n_tokens > 0
    with torch.inference_mode():
        first = int(model(torch.tensor(context)).logits[0, -1].argmax())
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, first]
    try:
        ended = generate(model, tokenizer, context, max_new_tokens=6, batch_size=1)[0]
    finally:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    assert (ended.n_tokens, ended.text) == (0, "")


def test_a_reasoning_model_s_structure_survives_decoding():
    """gpt-oss marks its final answer with special tokens; decoding keeps them so that the
    extractor reads the final channel and not the analysis."""
    from xlt.evaluate.extract import strip_reasoning
    from xlt.evaluate.generate import decode_generation
    from xlt.models.demo import train_tokenizer

    tokenizer = train_tokenizer(["the answer is 1 2 3 4"] * 4, vocab_size=300)
    plain = tokenizer.encode("maybe 1", add_special_tokens=False)
    assert decode_generation(tokenizer, plain) == tokenizer.decode(plain, skip_special_tokens=True)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|channel|>", "<|message|>", "<|end|>"]}
    )
    text = "<|channel|>analysis<|message|>maybe 1<|end|><|channel|>final<|message|>2"
    ids = tokenizer.encode(text, add_special_tokens=False)
    decoded = decode_generation(tokenizer, ids)
    assert "<|channel|>" in decoded
    assert strip_reasoning(decoded).strip() == "2"
