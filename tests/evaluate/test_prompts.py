import pytest
from support.data import belebele_row

from xlt.prompts import (
    PromptTemplate,
    TemplateError,
    answer_continuation,
    build_prompt,
    load_templates,
    template_from_record,
)

TEMPLATES = "config/templates.yaml"


def test_render_numbers_options_in_order():
    template = load_templates(TEMPLATES)["belebele_num"]
    prompt = template.render(belebele_row("l", 1, 2))
    assert prompt.startswith("P: Passage l")
    assert "\n1: the river\n2: the market\n3: the school\n4: the bakery\nAnswer:" in prompt
    assert prompt.endswith("Answer:")


def test_letters_template_matches_lm_eval_layout():
    template = load_templates(TEMPLATES)["belebele_letters"]
    prompt = template.render(belebele_row("l", 1, 2))
    assert "\nA: the river\nB: the market\n" in prompt
    assert answer_continuation(template, "B", chat=False) == " B"


def test_chat_prompt_uses_the_tokenizer_template_and_no_delimiter():
    class Tok:
        chat_template = "x"

        def apply_chat_template(self, messages, add_generation_prompt, tokenize):
            assert add_generation_prompt and not tokenize
            return f"<user>{messages[0]['content']}</user><assistant>"

    template = load_templates(TEMPLATES)["belebele_num"]
    prompt = build_prompt(belebele_row("l", 1, 1), template, Tok(), chat=True)
    assert prompt.startswith("<user>P: ") and prompt.endswith("<assistant>")
    assert answer_continuation(template, "1", chat=True) == "1"


def test_chat_without_chat_template_is_a_clear_error():
    class Tok:
        chat_template = None

    template = load_templates(TEMPLATES)["belebele_num"]
    with pytest.raises(TemplateError, match="chat: false"):
        build_prompt(belebele_row("l", 1, 1), template, Tok(), chat=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "{passage} {question}"}, r"text must use \{options\}"),
        ({"text": "{passage} {question} {options} {extra}"}, r"unknown placeholder \{extra\}"),
        ({"option": "{label}: {answr}"}, r"\{answr\} \(did you mean \{answer\}\?\)"),
        ({"option": "{label}"}, r"option must use \{answer\}"),
        ({"answer_cue": "Answer {label}:"}, r"answer_cue uses unknown placeholder"),
        ({"labels": ("1", "1", "2", "3")}, "distinct labels"),
        ({"labels": ("A", "B", "C")}, "distinct labels"),
    ],
)
def test_bad_templates_are_rejected(fields, message):
    with pytest.raises(TemplateError, match=message):
        PromptTemplate(**{"id": "t", "text": "{passage}{question}{options}", **fields})


def test_template_record_round_trip():
    template = load_templates(TEMPLATES)["belebele_instruct"]
    assert template_from_record(template.as_record()) == template


def test_direct_prompts_switch_a_reasoning_template_off_and_cot_keeps_its_default():
    """Qwen3-style templates open a <think> block unless `enable_thinking` is false."""
    from xlt.models.demo import train_tokenizer

    tokenizer = train_tokenizer(["a b c d e f"] * 4, vocab_size=300)
    tokenizer.chat_template = (
        "{{ messages[0]['content'] }}|assistant:"
        "{% if enable_thinking is defined and not enable_thinking %}<think></think>{% endif %}"
    )
    template = load_templates(TEMPLATES)["belebele_num"]
    row = belebele_row("l", 1, 1)
    direct = build_prompt(row, template, tokenizer, chat=True, thinking=False)
    cot = build_prompt(row, template, tokenizer, chat=True)
    assert direct.endswith("|assistant:<think></think>")
    assert cot.endswith("|assistant:")
