import random

import pytest

from xlt.evaluate.extract import (
    ANSWER_CUES,
    EXTRACTORS,
    Extraction,
    extract_answer,
    extraction_fields,
    normalize_text,
    strip_reasoning,
)

NUM = ("1", "2", "3", "4")
LET = ("A", "B", "C", "D")
OPTIONS = ("the river", "the market", "the school", "the bakery")

COT = (
    "Let's look at each option. Option 1 says the river, but the passage only mentions the river "
    "in passing. Option 2, the market, is described as busy, which is not what is asked. "
    "Option 3 fits: the passage says the children walk to the school every morning. "
    "Therefore, the answer is 3."
)

# (generation, labels, expected strict, expected lenient)
CASES = [
    # the label alone, with punctuation, markdown or brackets
    ("2", NUM, 2, 2),
    (" 3\n", NUM, 3, 3),
    ("(B)", LET, 2, 2),
    ("**C**", LET, 3, 3),
    ("B.", LET, 2, 2),
    ("2)", NUM, 2, 2),
    ("d", LET, 4, 4),
    ("`A`", LET, 1, 1),
    ("Option B", LET, 2, 2),
    ("B) the market", LET, 2, 2),
    # explicit answer statements
    ("Answer: 3", NUM, 3, 3),
    ("The correct answer is (B)", LET, 2, 2),
    ("Final answer: **2**", NUM, 2, 2),
    ("**Answer:** **D**", LET, 4, 4),
    ("The answer is: Option 4", NUM, 4, 4),
    ("The answer to this question is D.", LET, 4, 4),
    ("So the answer is A", LET, 1, 1),
    ("The answer is A because the passage says so.", LET, 1, 1),
    ("$\\boxed{\\text{C}}$", LET, 3, 3),
    ("Answer: the school", NUM, 3, 3),
    # target languages and scripts
    ("الإجابة: ٣", NUM, 3, 3),
    ("الجواب الصحيح هو ٢", NUM, 2, 2),
    ("התשובה הנכונה היא 2", NUM, 2, 2),
    ("תשובה: 4", NUM, 4, 4),
    ("መልሱ 2 ነው።", NUM, 2, 2),
    ("መልሲ፦ 1", NUM, 1, 1),
    ("It-tweġiba t-tajba hija C.", LET, 3, 3),
    ("La bonne réponse est la B.", LET, 2, 2),
    ("Réponse : D", LET, 4, 4),
    ("Doğru cevap B'dir.", LET, 2, 2),
    ("Yanıt: 3'tür", NUM, 3, 3),
    ("پاسخ صحیح گزینه ۳ است", NUM, 3, 3),
    ("جواب: ۴", NUM, 4, 4),
    ("答えは3です", NUM, 3, 3),
    ("正解：Ｃ", LET, 3, 3),
    ("정답은 2번입니다", NUM, 2, 2),
    ("１", NUM, 1, 1),
    # reasoning blocks never count
    ("<think>Option 4 looks right... the answer is 4.</think>\n\n**2**", NUM, 2, 2),
    ("<think>I'd say B.</think>Answer: C", LET, 3, 3),
    ("The passage says... so 1 maybe.</think>\nThe answer is 4", NUM, 4, 4),
    ("<think>Option 1 is wrong. The answer is probably 2, let me check", NUM, None, None),
    # several candidates: the last word counts
    ("Answer: 2. Actually, wait. The answer is 4.", NUM, 4, 4),
    (COT, NUM, 3, 3),
    ("Answer: B or C", LET, None, 3),
    # only lenient finds these
    ("The market.", NUM, None, 2),
    ("It's the school, definitely.", NUM, None, 3),
    ("In 1990 the bakery opened.", NUM, None, 4),
    ("B\n\nExplanation: A is wrong because the passage says otherwise.", LET, None, 2),
    ("I'd pick A", LET, None, 1),
    ("Option 1 says the river is long, but option 4 matches best", NUM, None, 4),
    ("Answer: 2", LET, None, 2),
    ("The answer is B", NUM, None, 2),
    # nothing to find
    ("I don't know", NUM, None, None),
    ("", NUM, None, None),
    ("   \n", LET, None, None),
    ("Barcelona", LET, None, None),
    ("Because of this", LET, None, None),
    ("The bakery opened in 1990.", NUM, None, 4),
    ("It is 2.5 km long", NUM, None, None),
    ("U.S.A.", LET, None, None),
    ("C'est la bonne réponse.", LET, None, None),
    ("A bird sings.", LET, None, None),
    ("The answer is a bird.", LET, None, None),
    ("The answer is not B.", LET, None, None),
    ("There are 2 people here.", LET, None, None),
    ("Answer: 5", NUM, None, None),
    ("Answer: E", LET, None, None),
]


@pytest.mark.parametrize(("generation", "labels", "strict", "lenient"), CASES)
def test_extraction_table(generation, labels, strict, lenient):
    assert extract_answer(generation, labels, OPTIONS, mode="strict").option == strict
    assert extract_answer(generation, labels, OPTIONS, mode="lenient").option == lenient


def test_enough_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    ("generation", "labels", "expected"),
    [
        ("Answer: 3", NUM, Extraction(3, "Answer: 3", "answer_cue")),
        ("**C**", LET, Extraction(3, "C", "bare_label")),
        ("The market.", NUM, Extraction(2, "The market.", "option_text")),
        ("B\n\nSince A is wrong.", LET, Extraction(2, "B", "label_line")),
        ("Answer: 2", LET, Extraction(2, "Answer: 2", "alt_label")),
        ("I'd pick A", LET, Extraction(1, "A", "last_label")),
        ("الإجابة: ٣", NUM, Extraction(3, "الإجابة: 3", "answer_cue")),
        ("I don't know", NUM, Extraction(None, None, None)),
    ],
)
def test_matched_span_and_rule(generation, labels, expected):
    assert extract_answer(generation, labels, OPTIONS) == expected


def test_reasoning_is_never_the_answer():
    result = extract_answer("<think>The answer is 1.</think>The answer is 3.", NUM)
    assert result.option == 3
    assert "1" not in result.matched
    assert strip_reasoning("<think>a</think>b<THINK>c</THINK>d").split() == ["b", "d"]
    assert strip_reasoning("reasoning</think>final") == "final"
    assert strip_reasoning("before<think>never closed") == "before"


def test_option_text_needs_options_and_a_unique_match():
    assert extract_answer("The market.", NUM, None).option is None
    assert extract_answer("Either the river or the market.", NUM, OPTIONS).option is None
    # a label after the option's text is the later word
    assert extract_answer("The market, so 3.", NUM, OPTIONS).option == 3


def test_an_option_text_longer_than_the_label_wins_after_a_cue():
    options = ("5 years", "3 years", "2 years", "4 years")
    assert extract_answer("Answer: 2 years", NUM, options, mode="strict").option == 3
    assert extract_answer("Answer: 2", NUM, options, mode="strict").option == 2
    assert extract_answer("Answer: 2 (4 years)", NUM, options, mode="strict").option == 2


def test_an_option_inside_a_longer_option_is_not_a_second_candidate():
    options = ("Paris", "Paris, France", "Lyon", "Nice")
    assert extract_answer("It was Paris, France.", NUM, options).option == 2


def test_digits_are_not_letter_labels_in_strict_mode():
    for digit in "1234":
        assert extract_answer(digit, LET, OPTIONS, mode="strict").option is None
        assert extract_answer(f"Answer: {digit}", LET, OPTIONS, mode="strict").option is None
        assert extract_answer(f"Answer: {digit}", LET, OPTIONS, mode="lenient").option == int(digit)
    # in running text digits are not read as letter labels, even by lenient
    assert extract_answer("The 2 boys ran 3 km.", LET, mode="lenient").option is None


def test_english_article_a_is_not_label_a():
    assert extract_answer("A bird and a cat.", LET).option is None
    assert extract_answer("a", LET).option == 1
    assert extract_answer("A is correct.", LET).option == 1
    assert extract_answer("Option A fits the passage.", LET).option == 1
    assert extract_answer("A bird sings, so I choose (A) here too.", LET).option == 1


def test_normalisation():
    assert normalize_text("**Ｂ** ٣ ۴ ፪ ③") == "B 3 4 2 3"
    assert normalize_text("الإجَابَة") == "الإجابة"
    assert extract_answer("\u200fالإجابة: \u200f٢", NUM, mode="strict").option == 2
    assert extract_answer("Answer: b", LET, mode="strict").option == 2


def test_special_tokens_and_final_channel():
    assert extract_answer("2<|im_end|>", NUM, mode="strict").option == 2
    harmony = (
        "<|channel|>analysis<|message|>maybe 1<|end|><|start|>assistant<|channel|>final<|message|>4"
    )
    assert extract_answer(harmony, NUM, mode="strict").option == 4
    assert extract_answer("<|channel|>analysis<|message|>maybe 1", NUM).option is None


def test_extractors_have_ids_and_rules():
    assert set(EXTRACTORS) >= {"strict", "lenient"}
    strict, lenient = EXTRACTORS["strict"], EXTRACTORS["lenient"]
    assert lenient.rules[: len(strict.rules)] == strict.rules
    assert strict("Answer: 3", NUM) == extract_answer("Answer: 3", NUM, mode="strict")
    assert lenient.as_record()["id"] == "lenient"


def test_every_language_has_a_cue():
    assert {"eng", "arb", "heb", "amh", "tir", "mlt", "fra", "tur", "pes", "jpn", "kor"} <= set(
        ANSWER_CUES
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown extraction mode"):
        extract_answer("2", NUM, mode="greedy")
    with pytest.raises(ValueError, match="distinct"):
        extract_answer("2", ("A", "a", "B", "C"))
    with pytest.raises(ValueError, match="options"):
        extract_answer("2", NUM, OPTIONS[:3])


TOKENS = [
    *("1", "2", "3", "4", "5", "0", "10", "1990", "A", "B", "C", "D", "E", "a", "b", "x"),
    *("Answer:", "answer is", "(", ")", "**", ".", ",", "\n", "<think>", "</think>", "٣"),
    *("الإجابة:", "התשובה היא", "መልሱ", "答えは", "정답은", "option", "not", "the market"),
    *("the", "river", "Barcelona", "2.5", "B'dir", "\\boxed{", "}", "Ｃ", "③"),
]


@pytest.mark.parametrize("labels", [NUM, LET])
@pytest.mark.parametrize("mode", sorted(EXTRACTORS))
def test_never_an_option_outside_the_labels(labels, mode):
    rng = random.Random(f"{labels}{mode}")
    for _ in range(500):
        text = " ".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 12)))
        result = extract_answer(text, labels, OPTIONS, mode=mode)
        assert result.option is None or 1 <= result.option <= 4, text
        assert (result.option is None) == (result.rule is None) == (result.matched is None)
        if result.option is not None:
            assert result.matched in normalize_text(text)


def test_a_predictions_record_keeps_the_rule_and_the_span_it_read():
    fields = extraction_fields(COT, NUM, OPTIONS, "lenient")
    assert fields == {
        "pred_gen": 3,
        "extraction": "lenient",
        "extraction_rule": "answer_cue",
        "extraction_span": "the answer is 3",
    }
    assert fields["extraction_span"] in normalize_text(COT)
    none_found = extraction_fields("I cannot tell.", NUM, OPTIONS, "strict")
    assert none_found == {
        "pred_gen": None,
        "extraction": "strict",
        "extraction_rule": None,
        "extraction_span": None,
    }
    assert set(extraction_fields(None, NUM, OPTIONS, "lenient").values()) == {None}
