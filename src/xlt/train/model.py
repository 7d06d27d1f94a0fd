"""The model a run trains: the base model (dequantized, or 4-bit for QLoRA) wrapped with LoRA."""

from __future__ import annotations

import re
from importlib.util import find_spec
from typing import Any

import torch

from xlt.errors import ConfigError
from xlt.models.loading import ModelRef, peft_pattern_warnings_silenced, torch_dtype
from xlt.train.settings import LoraSettings, QuantizationUnavailableError, TrainSettings

QUANTIZATIONS = ("none", "4bit")


def check_quantization(quantization: str, model: str = "<model>") -> None:
    """Refuse an unknown quantization, and QLoRA without bitsandbytes and a CUDA GPU, early.

    bitsandbytes' 4-bit kernels run on CUDA only; better to stop before loading a 70B model.
    `model` (the config name) only names the key to change.
    """
    if quantization not in QUANTIZATIONS:
        raise ConfigError(
            f"quantization must be one of {', '.join(QUANTIZATIONS)}, not {quantization!r}; "
            f"set `models.{model}.quantization` in the config to one of them."
        )
    if quantization == "none":
        return
    missing = []
    if find_spec("bitsandbytes") is None:
        missing.append("the bitsandbytes package is not installed (pip install bitsandbytes)")
    if not torch.cuda.is_available():
        missing.append("no CUDA GPU is visible")
    if missing:
        raise QuantizationUnavailableError(
            f"quantization '{quantization}' (QLoRA) needs bitsandbytes and a CUDA GPU, but "
            f"{' and '.join(missing)}; run this model on a GPU node with bitsandbytes, or set "
            "its `quantization: none` in the config to train it unquantized."
        )


def dequantizing_config(ref: ModelRef) -> Any | None:
    """A quantization config that dequantizes a checkpoint shipped quantized (gpt-oss: MXFP4
    experts; DeepSeek-V3: FP8 blocks) to the training dtype while loading, or None.

    LoRA trains on top of bf16 base weights; PEFT cannot wrap the MXFP4/FP8 kernels' modules.
    """
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(ref.load_from, revision=ref.revision)
    quant = getattr(config, "quantization_config", None) or {}
    method = quant.get("quant_method") if isinstance(quant, dict) else quant.quant_method
    if method == "mxfp4":
        from transformers import Mxfp4Config

        return Mxfp4Config(dequantize=True)
    if method == "fp8":
        from transformers import FineGrainedFP8Config

        return FineGrainedFP8Config(dequantize=True)
    return None


def load_base_model(
    ref: ModelRef, train: TrainSettings, quantization: str, accelerator: Any
) -> Any:
    """The base model in the training dtype (bf16 on a GPU with `auto`), 4-bit NF4 for QLoRA.

    Created after the Accelerator, so that DeepSpeed ZeRO-3 can partition it while loading.
    """
    from transformers import AutoModelForCausalLM

    dtype = torch_dtype(train.dtype)
    kwargs: dict[str, Any] = {"revision": ref.revision, "dtype": dtype}
    shipped = dequantizing_config(ref)
    if shipped is not None and quantization != "none":
        raise ConfigError(
            f"{ref.name} ships quantized weights ({type(shipped).__name__}); QLoRA on top of "
            f"them is not supported: set `models.{ref.name}.quantization: none` (it is "
            "dequantized to train)."
        )
    if shipped is not None:
        kwargs["quantization_config"] = shipped
    if quantization == "4bit":
        from transformers import BitsAndBytesConfig

        # quant_storage = dtype lets FSDP/ZeRO-3 shard the 4-bit weights like the others.
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_quant_storage=dtype,
        )
        if accelerator.num_processes == 1:
            kwargs["device_map"] = {"": accelerator.device}
    model = AutoModelForCausalLM.from_pretrained(ref.load_from, **kwargs)
    model.config.use_cache = False  # the KV cache is useless in training and fights checkpointing
    return model


def make_peft_model(
    base: Any,
    ref: ModelRef,
    lora: LoraSettings,
    train: TrainSettings,
    quantization: str,
    world: int,
) -> Any:
    """Wrap the base model with LoRA (recording the base revision in the adapter config).

    QLoRA on one process goes through `prepare_model_for_kbit_training` (norms in fp32); sharded
    QLoRA skips it, since FSDP and ZeRO-3 need uniform bf16 storage.
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    checkpointing = {"use_reentrant": False}
    if quantization != "none" and world == 1:
        base = prepare_model_for_kbit_training(
            base,
            use_gradient_checkpointing=train.gradient_checkpointing,
            gradient_checkpointing_kwargs=checkpointing,
        )
    elif train.gradient_checkpointing:
        enable_activation_checkpointing(base, checkpointing)
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        target_parameters=lora.target_parameters or None,
        task_type="CAUSAL_LM",
        revision=ref.revision,
    )
    with peft_pattern_warnings_silenced():
        return get_peft_model(base, config)


def enable_activation_checkpointing(model: Any, kwargs: dict[str, Any]) -> None:
    """Recompute activations in the backward pass (transformers 5 name, older name as fallback)."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def adapted_weights(model: Any) -> list[str]:
    """The weights LoRA adapts, layer numbers folded (`model.layers.*.mlp.experts.gate_up_proj`).

    Recorded in the summary because PEFT resolves the config per architecture: on some MoE models
    (qwen3_moe, mixtral, deepseek_v3) it maps `all-linear` onto the fused experts and the router.
    """
    from peft.tuners.lora import LoraLayer

    names = set()
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            name = re.sub(r"\.\d+\.", ".*.", name.removeprefix("base_model.model."))
            name = name.replace(".base_layer", "")
            parameter = getattr(module, "parameter_name", None)
            names.add(f"{name}.{parameter}" if parameter else name)
    return sorted(names)
