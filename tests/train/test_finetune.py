"""Fine-tuning a LoRA adapter: the loss falls, the adapter loads on its base model only, and
identical runs write identical bytes."""

import json
import subprocess
import sys
import warnings

import pytest
import torch
from safetensors.torch import load_file
from support.data import DEMO_DATA, REPO
from support.training import ONE_THREAD, TEMPLATE, tiny_job, train_tiny

from xlt.errors import ConfigError
from xlt.io import sha256_path
from xlt.models.loading import AdapterMismatchError, ModelRef, load_model
from xlt.train.adapter import read_summary
from xlt.train.checkpoints import checkpoint_root
from xlt.train.loop import finetune
from xlt.train.model import check_quantization, dequantizing_config
from xlt.train.settings import (
    AdapterExistsError,
    LoraSettings,
    QuantizationUnavailableError,
    TrainSettings,
)


def test_training_lowers_the_loss_and_saves_a_loadable_adapter(tiny_model_ref, train_setup):
    summary, out = train_tiny(tiny_model_ref, train_setup, "adapter", epochs=3, learning_rate=5e-3)
    assert summary["last_loss"] < summary["first_loss"]
    assert (out / "adapter_model.safetensors").exists()
    ref = ModelRef.load(tiny_model_ref)
    model = load_model(ref, adapter=out, dtype="float32", device="cpu")
    assert model.active_adapter == "default"
    assert not checkpoint_root(out).exists(), "checkpoints are removed once the adapter exists"


def test_a_finished_adapter_is_never_overwritten(tiny_model_ref, train_setup):
    root, files = train_setup
    out = root / "adapter-kept"
    settings = TrainSettings(max_steps=1, dtype="float32", gradient_checkpointing=False)
    args = (tiny_model_ref, files, root / "split.json", out, TEMPLATE)
    finetune(*args, chat=False, lora=LoraSettings(), train=settings, seed=0)
    before = (out / "adapter_model.safetensors").read_bytes()

    def never(step):
        raise AssertionError("a run into an existing adapter must stop before training")

    with pytest.raises(AdapterExistsError, match="exists"):
        finetune(*args, chat=False, lora=LoraSettings(), train=settings, seed=1, on_step=never)
    assert (out / "adapter_model.safetensors").read_bytes() == before
    # and Snakemake write-protects it once the job succeeds
    rule = (REPO / "rules" / "finetune.smk").read_text()
    assert "protected(directory(ADAPTER))" in rule


def test_an_adapter_refuses_another_base_model(tiny_model_ref, train_setup):
    _, out = train_tiny(tiny_model_ref, train_setup, "adapter-mismatch", max_steps=1)
    ref = ModelRef.load(tiny_model_ref)
    other = ModelRef(name="other", load_from="/elsewhere/model", source="local")
    with pytest.raises(AdapterMismatchError, match="other"):
        load_model(other, adapter=out)
    assert load_model(ref, adapter=out, dtype="float32", device="cpu") is not None


def test_same_seed_same_adapter_other_seed_differs(tiny_model_ref, train_setup):
    weights = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        # gradient checkpointing on: recomputation must not cost determinism
        _, out = train_tiny(
            tiny_model_ref,
            train_setup,
            f"seed-{name}",
            seed=seed,
            max_steps=4,
            gradient_checkpointing=True,
        )
        weights[name] = load_file(out / "adapter_model.safetensors")
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert any(not torch.equal(weights["a"][k], weights["c"][k]) for k in weights["a"])


def test_identical_runs_write_byte_identical_adapters(tiny_model_ref, train_setup):
    """Two processes (other hash seeds, so PEFT's sets come out in other orders) train the same
    job: every file of the adapter directory, and so its provenance hash, is the same."""
    root, _ = train_setup
    outs = []
    for hash_seed in ("1", "2"):
        out = root / f"twin-{hash_seed}"
        train = {"max_steps": 2, "dtype": "float32", "gradient_checkpointing": False}
        job = tiny_job(tiny_model_ref, train_setup, out, lora=LoraSettings(), train=train, seed=0)
        job.save(root / f"twin-{hash_seed}.json")
        run = subprocess.run(
            [sys.executable, "-m", "xlt.train.launch", str(root / f"twin-{hash_seed}.json")],
            capture_output=True,
            text=True,
            env={**ONE_THREAD, "PYTHONHASHSEED": hash_seed},
        )
        assert run.returncode == 0, run.stderr[-2000:]
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(p.name for p in outs[1].iterdir())
    assert {"adapter_config.json", "adapter_model.safetensors", "xlt_training.json"} <= set(names)
    differ = [n for n in names if (outs[0] / n).read_bytes() != (outs[1] / n).read_bytes()]
    assert differ == []
    assert sha256_path(outs[0]) == sha256_path(outs[1])
    config = json.loads((outs[0] / "adapter_config.json").read_text())
    assert config["target_modules"] == sorted(config["target_modules"])
    # The wall time is kept, beside the adapter rather than in it.
    assert "seconds" not in json.loads((outs[0] / "xlt_training.json").read_text())
    assert read_summary(outs[0])["seconds"] >= 0


def test_moe_model_trains_its_experts_and_reloads(tmp_path, train_setup):
    from xlt.models.demo import DemoModelSpec, build_demo_model
    from xlt.models.loading import local_model_ref

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
    saved = load_file(out / "adapter_model.safetensors")
    assert any("experts" in k for k in saved)
    assert any("q_proj" in k for k in saved)
    # PEFT warns that the experts' rank pattern "did not match any targeted module and was
    # ignored" (xlt silences that); it is applied: every expert LoRA weight loads at its shape.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = load_model(ModelRef.load(marker), adapter=out, dtype="float32", device="cpu")
    loaded = {
        name.replace(".default", ""): tuple(param.shape)
        for name, param in model.named_parameters()
        if "lora_" in name
    }
    assert {k: tuple(v.shape) for k, v in saved.items() if "experts" in k}.items() <= loaded.items()


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the error path of a CPU machine")
def test_qlora_without_cuda_stops_before_loading_the_model(tiny_model_ref, train_setup):
    root, files = train_setup
    with pytest.raises(QuantizationUnavailableError, match=r"CUDA GPU.*quantization: none"):
        finetune(
            tiny_model_ref,
            files,
            root / "split.json",
            root / "qlora",
            TEMPLATE,
            chat=False,
            lora=LoraSettings(),
            train=TrainSettings(max_steps=1),
            seed=0,
            quantization="4bit",
        )
    with pytest.raises(ConfigError, match=r"one of none, 4bit.*models\.m\.quantization"):
        check_quantization("3bit", "m")
    check_quantization("none")


@pytest.mark.parametrize(
    ("method", "expected"), [("mxfp4", "Mxfp4Config"), ("fp8", "FineGrainedFP8Config")]
)
def test_checkpoints_shipped_quantized_are_dequantized_to_train(tmp_path, method, expected):
    from transformers import AutoConfig

    config = AutoConfig.for_model("llama", hidden_size=8, num_attention_heads=2)
    config.save_pretrained(tmp_path)
    ref = ModelRef(name="m", load_from=str(tmp_path), source="local")
    assert dequantizing_config(ref) is None
    record = json.loads((tmp_path / "config.json").read_text())
    record["quantization_config"] = {"quant_method": method}
    (tmp_path / "config.json").write_text(json.dumps(record))
    found = dequantizing_config(ref)
    assert found.dequantize is True
    assert type(found).__name__ == expected
