"""Training data: the loss on the answer only, the length limit, the order of the batches."""

import json

import pytest
from support.training import TEMPLATE

from xlt.errors import ConfigError
from xlt.models.loading import ModelRef, load_tokenizer
from xlt.train.data import (
    IGNORE_INDEX,
    epoch_order,
    rank_share,
    step_batch,
    training_example,
    training_examples,
)


def test_prompt_tokens_carry_no_loss(tiny_model_ref, train_setup):
    tokenizer = load_tokenizer(ModelRef.load(tiny_model_ref))
    _, files = train_setup
    row = json.loads(files[0].read_text().splitlines()[0])
    example = training_example(row, TEMPLATE, tokenizer, chat=False)
    scored = [
        t
        for t, label in zip(example.input_ids, example.labels, strict=True)
        if label != IGNORE_INDEX
    ]
    gold = TEMPLATE.labels[int(row["correct_answer_num"]) - 1]
    assert tokenizer.decode(scored) == f" {gold}<|eos|>"
    n_prompt = example.labels.index(scored[0])
    assert all(label == IGNORE_INDEX for label in example.labels[:n_prompt])
    assert len(example.input_ids) == len(example.labels)


def test_items_longer_than_max_length_name_the_key_to_raise(tiny_model_ref, train_setup):
    tokenizer = load_tokenizer(ModelRef.load(tiny_model_ref))
    root, files = train_setup
    args = (files, root / "split.json", TEMPLATE, tokenizer, False)
    with pytest.raises(ConfigError, match=r"`finetune\.train\.max_length` \(or `models\.m\."):
        training_examples(*args, max_length=5, model="m")
    assert training_examples(*args, max_length=None, model="m")


def test_epoch_order_is_a_function_of_seed_and_epoch():
    assert epoch_order(48, 0, 1) == epoch_order(48, 0, 1)
    assert sorted(epoch_order(48, 0, 1)) == list(range(48))
    assert epoch_order(48, 0, 1) != epoch_order(48, 0, 2) != epoch_order(48, 1, 2)
    steps = [step_batch(s, 20, 8, 0) for s in range(3)]  # 8 + 8 + 4
    assert sorted(i for batch in steps for i in batch) == list(range(20))
    assert step_batch(3, 20, 8, 0) == epoch_order(20, 0, 1)[:8]


def test_rank_shares_cover_the_batch_and_never_run_empty():
    batch = [5, 6, 7, 8, 9]
    shares = [rank_share(batch, rank, 2) for rank in range(2)]
    assert sorted(shares[0] + shares[1]) == batch
    assert all(rank_share([4, 2], rank, 4) for rank in range(4))
