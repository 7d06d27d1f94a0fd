import json

import pytest
import torch
from conftest import DEMO_DATA, write_jsonl

from xlt.data import make_split, read_belebele, split_language
from xlt.finetune import IGNORE_INDEX, LoraSettings, TrainSettings, finetune, training_example
from xlt.modeling import AdapterMismatchError, ModelRef, load_model, load_tokenizer
from xlt.prompts import load_templates

TEMPLATE = load_templates("config/templates.yaml")["belebele_num"]


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


def test_training_lowers_the_loss_and_saves_a_loadable_adapter(tiny_model_ref, train_setup):
    root, files = train_setup
    out = root / "adapter"
    summary = finetune(
        tiny_model_ref,
        files,
        root / "split.json",
        out,
        TEMPLATE,
        chat=False,
        lora=LoraSettings(),
        train=TrainSettings(epochs=3, learning_rate=5e-3, dtype="float32"),
        seed=0,
    )
    assert summary["last_loss"] < summary["first_loss"]
    assert (out / "adapter_model.safetensors").exists()
    ref = ModelRef.load(tiny_model_ref)
    model = load_model(ref, adapter=out, dtype="float32", device="cpu")
    assert model.active_adapter == "default"
    with pytest.raises(FileExistsError, match="exists"):
        finetune(
            tiny_model_ref,
            files,
            root / "split.json",
            out,
            TEMPLATE,
            chat=False,
            lora=LoraSettings(),
            train=TrainSettings(max_steps=1, dtype="float32"),
            seed=0,
        )


def test_an_adapter_refuses_another_base_model(tiny_model_ref, train_setup):
    root, files = train_setup
    out = root / "adapter-mismatch"
    finetune(
        tiny_model_ref,
        files,
        root / "split.json",
        out,
        TEMPLATE,
        chat=False,
        lora=LoraSettings(),
        train=TrainSettings(max_steps=1, dtype="float32"),
        seed=0,
    )
    ref = ModelRef.load(tiny_model_ref)
    other = ModelRef(name="other", load_from="/elsewhere/model", source="local")
    with pytest.raises(AdapterMismatchError, match="other"):
        load_model(other, adapter=out)
    assert load_model(ref, adapter=out, dtype="float32", device="cpu") is not None


def test_same_seed_same_adapter_other_seed_differs(tiny_model_ref, train_setup):
    from safetensors.torch import load_file

    root, files = train_setup
    weights = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        out = root / f"seed-{name}"
        finetune(
            tiny_model_ref,
            files,
            root / "split.json",
            out,
            TEMPLATE,
            chat=False,
            lora=LoraSettings(),
            train=TrainSettings(max_steps=4, dtype="float32"),
            seed=seed,
        )
        weights[name] = load_file(out / "adapter_model.safetensors")
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert any(not torch.equal(weights["a"][k], weights["c"][k]) for k in weights["a"])


def test_moe_model_trains_its_experts_and_reloads(tmp_path, train_setup):
    from xlt.demo_models import DemoModelSpec, build_demo_model
    from xlt.modeling import local_model_ref

    root, files = train_setup
    model_dir = tmp_path / "moe"
    build_demo_model(
        sorted(DEMO_DATA.glob("*.jsonl")),
        DemoModelSpec(architecture="moe", pretrain_steps=2),
        model_dir,
    )
    marker = tmp_path / "moe.json"
    local_model_ref("moe", model_dir).save(marker)
    out = tmp_path / "adapter"
    lora = LoraSettings(target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"])
    finetune(
        marker,
        files,
        root / "split.json",
        out,
        TEMPLATE,
        chat=True,
        lora=lora,
        train=TrainSettings(max_steps=2, dtype="float32"),
        seed=0,
    )
    from safetensors.torch import load_file

    keys = load_file(out / "adapter_model.safetensors").keys()
    assert any("experts" in k for k in keys)
    assert any("q_proj" in k for k in keys)
    model = load_model(ModelRef.load(marker), adapter=out, dtype="float32", device="cpu")
    assert model is not None
