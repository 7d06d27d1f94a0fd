"""LoRA fine-tuning on the source languages' train items, loss on the answer tokens only.

One code path for one CPU process, one GPU, or many GPUs under `accelerate launch` (FSDP or
DeepSpeed ZeRO-3): the loop runs through `accelerate.Accelerator`. A run survives a cluster:
every `checkpoint_every` steps, and when SIGTERM arrives (SLURM's warning before a time limit or
preemption), it writes a checkpoint (adapter weights, optimizer, scheduler, RNG states, step)
into a hidden directory beside the output; started again, it resumes there and ends with the
same adapter as an uninterrupted run (bitwise on CPU). The data order needs no saved state: the
order of epoch e is a pure function of (seed, e).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import torch

from xlt.data.belebele import Split, assert_no_leak, read_items
from xlt.errors import ConfigError, XltError
from xlt.evaluate.scoring import bos_prefix, encode_pair
from xlt.io import atomic_dir, read_json, write_json
from xlt.jobs import CONSOLE
from xlt.models.loading import (
    ModelRef,
    load_tokenizer,
    peft_pattern_warnings_silenced,
    torch_dtype,
)
from xlt.prompts import PromptTemplate, answer_continuation, build_prompt

log = logging.getLogger(__name__)
IGNORE_INDEX = -100
# EX_TEMPFAIL (sysexits.h): "temporary failure, try again later" -- rerun the job to resume.
PREEMPTED_EXIT_CODE = 75
QUANTIZATIONS = ("none", "4bit")
STOP_SIGNALS = ("SIGTERM", "SIGUSR1")
KEEP_CHECKPOINTS = 2
STATE_FILE = "state.json"
SUMMARY_FILE = "xlt_training.json"
# Facts of how a run went, not of what it made (wall time, where it resumed): they stay out of
# the adapter directory, so that identical runs give byte-identical adapters and output hashes.
RUN_FACTS = ("seconds", "resumed_from")
# Train settings that change how a run is logged, checkpointed or launched, not what it computes:
# changing them does not invalidate a checkpoint.
NOT_IN_FINGERPRINT = frozenset(
    {"log_every", "checkpoint_every", "gradient_checkpointing", "accelerate_config"}
)


class Preempted(RuntimeError):
    """Training stopped on request (SIGTERM/SIGUSR1) after writing a checkpoint; rerun resumes."""

    def __init__(self, step: int, total: int, checkpoint: Path, reason: str = "SIGTERM") -> None:
        super().__init__(
            f"stopped by {reason} after step {step}/{total}; checkpoint written to {checkpoint}. "
            "Run the same job again (Snakemake --retries, SLURM requeue) to resume from it."
        )
        self.step, self.total, self.checkpoint, self.reason = step, total, checkpoint, reason


class QuantizationUnavailableError(XltError, RuntimeError):
    """QLoRA was asked for where bitsandbytes or a CUDA GPU is missing."""


class AdapterExistsError(XltError, FileExistsError):
    """The output directory of a training run already holds files: a finished adapter is never
    overwritten by a run."""


@dataclass(frozen=True)
class LoraSettings:
    """Which weights LoRA adapts and how. `target_parameters` reaches fused MoE experts."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    target_parameters: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings, uniform across models by default, plus how a run is kept alive.

    `checkpoint_every` (steps; None = only on SIGTERM) and `gradient_checkpointing` (activation
    recomputation, less memory for ~30% more compute) do not change the result;
    `accelerate_config` is the launcher config used when the model gets more than one GPU.
    """

    epochs: int = 1
    learning_rate: float = 2e-4
    batch_size: int = 8
    max_steps: int | None = None
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_length: int | None = None
    dtype: str = "auto"
    log_every: int = 10
    checkpoint_every: int | None = 50
    gradient_checkpointing: bool = True
    accelerate_config: str = "accelerate/fsdp.yaml"

    def __post_init__(self) -> None:
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1 or null, not {self.checkpoint_every}.")


@dataclass(frozen=True)
class Example:
    """One training sequence; `labels` is IGNORE_INDEX on every prompt token."""

    item: str
    input_ids: list[int]
    labels: list[int]


@dataclass
class Progress:
    """Where a run stands; saved in every checkpoint so a resumed run reports the whole run."""

    step: int = 0
    tokens: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    resumed_from: list[int] = field(default_factory=list)


def training_example(
    row: dict[str, Any], template: PromptTemplate, tokenizer: Any, chat: bool
) -> Example:
    """Prompt + gold label + EOS, with the loss on the label and EOS only."""
    prompt = build_prompt(row, template, tokenizer, chat, thinking=False)
    label = template.labels[int(row["correct_answer_num"]) - 1]
    prefix = [] if chat else bos_prefix(tokenizer)
    continuation = answer_continuation(template, label, chat)
    context, answer = encode_pair(tokenizer, prompt, continuation, prefix, not chat)
    answer = [*answer, tokenizer.eos_token_id]
    return Example(row["id"], context + answer, [IGNORE_INDEX] * len(context) + answer)


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding carries no loss and no attention."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def training_examples(
    train_files: Sequence[str | Path],
    split: str | Path,
    template: PromptTemplate,
    tokenizer: Any,
    chat: bool,
    max_length: int | None = None,
    model: str = "<model>",
) -> list[Example]:
    """The tokenized training examples of the source languages' train files, after checking that
    no held-out item leaked in and that none is longer than `max_length` tokens (`model`, the
    config name, only names the key to change)."""
    rows = [row for path in train_files for row in read_items(path)]
    assert_no_leak(rows, Split.load(split))
    examples = [training_example(r, template, tokenizer, chat) for r in rows]
    too_long = [e for e in examples if max_length and len(e.input_ids) > max_length]
    if too_long:
        longest = max(len(e.input_ids) for e in too_long)
        raise ConfigError(
            f"{len(too_long)} training item(s) exceed max_length "
            f"{max_length} tokens, e.g. {[e.item for e in too_long[:3]]}; set "
            f"`finetune.train.max_length` (or `models.{model}.train.max_length`) to at least "
            f"{longest}, or to null for no limit."
        )
    return examples


def seed_everything(seed: int) -> None:
    """Seed Python and torch (CPU and every GPU) so a run is repeatable."""
    random.seed(seed)
    torch.manual_seed(seed)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled item order of one epoch: a pure function of (seed, epoch), so a resumed run
    needs no saved data-loader state to see the same batches."""
    order = list(range(n))
    random.Random(f"xlt-order:{seed}:{epoch}").shuffle(order)
    return order


def step_batch(step: int, n: int, batch_size: int, seed: int) -> list[int]:
    """Indices of the global batch of 0-based `step`; the last batch of an epoch may be short."""
    steps_per_epoch = -(-n // batch_size)
    epoch, index = divmod(step, steps_per_epoch)
    return epoch_order(n, seed, epoch)[index * batch_size : (index + 1) * batch_size]


def rank_share(batch: Sequence[int], rank: int, world: int) -> list[int]:
    """This process's part of a global batch. A batch smaller than the world is topped up by
    repeating its items, so that no process runs a step without data (a collective would hang)."""
    if len(batch) < world:
        batch = [batch[i % len(batch)] for i in range(world)]
    return list(batch[rank::world])


def checkpoint_root(out_dir: str | Path) -> Path:
    """Where the checkpoints of `out_dir` live: hidden beside it, never inside it.

    The adapter directory is created atomically at the end, and Snakemake deletes the outputs of
    a failed job, so checkpoints inside it would not survive a preempted job.
    """
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.checkpoints"


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


def run_fingerprint(
    ref: ModelRef,
    examples: Sequence[Example],
    lora: LoraSettings,
    train: TrainSettings,
    seed: int,
    quantization: str,
    world: dict[str, Any],
) -> str:
    """A hash of everything that decides the trained weights; a checkpoint resumes only a run
    with the same fingerprint. The examples stand for data, template, chat template and tokenizer.
    """
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.input_ids, e.labels]).encode())
    record = {
        "model": [ref.load_from, ref.revision, ref.weights_sha256],
        "examples": digest.hexdigest(),
        "lora": asdict(lora),
        "train": {k: v for k, v in asdict(train).items() if k not in NOT_IN_FINGERPRINT},
        "seed": seed,
        "quantization": quantization,
        "world": world,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


class StopRequest:
    """Turns SIGTERM/SIGUSR1 into a flag checked between steps, so that a stop never interrupts
    an optimizer step or a checkpoint write. Handlers are installed only in the main thread."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def make_accelerator() -> Any:
    """The Accelerator of this process: plain single-process on CPU or one GPU; under
    `accelerate launch` it takes the launcher's settings (FSDP/DeepSpeed, bf16, process group)."""
    from accelerate import Accelerator

    return Accelerator()


def _any_process(flag: bool, accelerator: Any) -> bool:
    """True on every process if `flag` is true on any: all stop at the same step, or none."""
    if accelerator.num_processes == 1:
        return flag
    from accelerate.utils import reduce

    return bool(reduce(torch.tensor([float(flag)], device=accelerator.device), "sum").item() > 0)


def _is_deepspeed(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def adapter_state(accelerator: Any, model: Any) -> dict[str, torch.Tensor]:
    """The trainable (LoRA) weights gathered whole onto the CPU, named as in the PEFT model.

    A collective under FSDP and ZeRO-3: every process must call it. Only the adapter is gathered,
    never the frozen base model (140 GB at 70B).
    """
    if _is_deepspeed(accelerator):
        import deepspeed

        named = [(n, p) for n, p in accelerator.unwrap_model(model).named_parameters()]
        trainable = [(n, p) for n, p in named if p.requires_grad]
        with deepspeed.zero.GatheredParameters([p for _, p in trainable]):
            return {n: p.detach().to("cpu", copy=True) for n, p in trainable}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)
    return {k: v.contiguous() for k, v in get_model_state_dict(model, options=options).items()}


def save_checkpoint(
    root: Path,
    progress: Progress,
    fingerprint: str,
    accelerator: Any,
    model: Any,
    optimizer: Any,
    scheduler: Any,
) -> Path:
    """Write `root/step-N/` atomically: built in `.step-N.tmp`, renamed when complete.

    Holds the adapter weights, optimizer and scheduler states, every process's RNG states and
    `state.json` (progress and fingerprint). Older checkpoints beyond the last two are removed.
    """
    from safetensors.torch import save_file

    name = f"step-{progress.step:08d}"
    final, tmp = root / name, root / f".{name}.tmp"
    main = accelerator.is_main_process
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    torch.save(_rng_state(), tmp / f"rng-{accelerator.process_index}.pt")
    if _is_deepspeed(accelerator):
        model.save_checkpoint(str(tmp), tag="deepspeed", exclude_frozen_parameters=True)
    else:
        weights = adapter_state(accelerator, model)
        optim = _optimizer_state(model, optimizer)
        if main:
            save_file(weights, tmp / "adapter.safetensors")
            torch.save(optim, tmp / "optimizer.pt")
    if main:
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        write_json(tmp / STATE_FILE, {"fingerprint": fingerprint, **asdict(progress)})
    accelerator.wait_for_everyone()
    if main:
        _sync_files(tmp)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        _sync_files(root)
        for old in _checkpoints(root)[KEEP_CHECKPOINTS:]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _sync_files(directory: Path) -> None:
    """fsync the files of `directory` and the directory itself, so that a checkpoint that has
    been renamed into place is on disk even if the node crashes right after."""
    for path in [*(p for p in directory.iterdir() if p.is_file()), directory]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under `root`, newest first."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.glob("step-*") if (p / STATE_FILE).exists()), reverse=True)


def latest_checkpoint(root: Path, fingerprint: str) -> Path | None:
    """The newest checkpoint of this very run, if any. Checkpoints of another run (other data,
    settings or code) cannot be resumed: they are named in the log and passed over."""
    for path in _checkpoints(root):
        try:
            state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable checkpoint %s (%s)", path, exc)
            continue
        if state.get("fingerprint") == fingerprint:
            return path
        log.warning("ignoring checkpoint %s: it belongs to a run with other data or settings", path)
    return None


def load_checkpoint(
    path: Path, accelerator: Any, model: Any, optimizer: Any, scheduler: Any
) -> Progress:
    """Restore everything `save_checkpoint` wrote; the run continues at the next step."""
    from safetensors.torch import load_file

    if _is_deepspeed(accelerator):
        model.load_checkpoint(str(path), tag="deepspeed", load_module_strict=False)
    else:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, strict=False)
        weights = load_file(path / "adapter.safetensors")
        missing = set(_adapter_names(model)) - set(weights)
        if missing:
            raise ValueError(f"{path}: checkpoint lacks {len(missing)} adapter weights.")
        set_model_state_dict(model, weights, options=options)
        optim = torch.load(path / "optimizer.pt", weights_only=True)
        set_optimizer_state_dict(model, _inner(optimizer), optim, options=options)
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    _set_rng_state(torch.load(path / f"rng-{accelerator.process_index}.pt", weights_only=True))
    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    state.pop("fingerprint")
    return Progress(**state)


def _adapter_names(model: Any) -> list[str]:
    """Names of the trainable parameters as the state-dict API names them (no wrapper prefix)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(ignore_frozen_params=True)
    return list(get_model_state_dict(model, options=options))


def _inner(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside accelerate's wrapper."""
    return getattr(optimizer, "optimizer", optimizer)


def _optimizer_state(model: Any, optimizer: Any) -> dict[str, Any]:
    """The optimizer state keyed by parameter name, gathered whole (a collective under FSDP)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_optimizer_state_dict(model, _inner(optimizer), options=options)


def _rng_state() -> dict[str, Any]:
    """Python's and torch's (CPU and every GPU) random states of this process."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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


def _configure_launcher(accelerator: Any, model: Any, per_process_batch: int) -> None:
    """What FSDP (v1) and DeepSpeed need to know about a PEFT model before `prepare`."""
    from accelerate.utils import DistributedType

    state = accelerator.state
    if accelerator.distributed_type == DistributedType.FSDP and state.fsdp_plugin.fsdp_version == 1:
        from peft.utils.other import fsdp_auto_wrap_policy

        # Wrap LoRA layers on their own: FSDP v1 cannot flatten fp32 LoRA with bf16 base weights.
        state.fsdp_plugin.auto_wrap_policy = fsdp_auto_wrap_policy(model)
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        config = state.deepspeed_plugin.deepspeed_config
        config["train_micro_batch_size_per_gpu"] = per_process_batch


def _duration(seconds: float) -> str:
    """`1h02m03s`-style duration for log lines."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@contextmanager
def _timer(progress: Progress) -> Iterator[None]:
    """Add the wall time of the block to `progress.seconds` (training time across resumes)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        progress.seconds += time.perf_counter() - started


def finetune(
    model: str | Path,
    train_files: Sequence[str | Path],
    split: str | Path,
    out_dir: str | Path,
    template: PromptTemplate,
    chat: bool,
    lora: LoraSettings,
    train: TrainSettings,
    seed: int,
    quantization: str = "none",
    on_step: Callable[[int], None] | None = None,
    keep_checkpoints: bool = False,
) -> dict[str, Any]:
    """Train a LoRA adapter and save it in PEFT's format to `out_dir` (atomically), resuming from
    the latest checkpoint of the same run if there is one.

    `keep_checkpoints`: leave the checkpoints for the caller to remove (`remove_checkpoints`)
    once the adapter is recorded: a job that fails after training (while recording it) loses
    its output, and a rerun then resumes from them instead of starting over.

    Raises Preempted (after a checkpoint) on SIGTERM/SIGUSR1. `on_step(step)` is called after
    every optimizer step, before that step's checkpoint (tests use it to kill a run mid-way).
    Returns a summary (steps, losses, tokens, time) that is also saved beside the adapter.
    """
    from transformers import get_linear_schedule_with_warmup

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise AdapterExistsError(
            f"{out_dir} exists and is not empty; move it away or delete it to retrain it."
        )
    ref = ModelRef.load(model)
    check_quantization(quantization, ref.name)
    tokenizer = load_tokenizer(ref)
    examples = training_examples(
        train_files, split, template, tokenizer, chat, train.max_length, model=ref.name
    )
    accelerator = make_accelerator()
    world = {"type": str(accelerator.distributed_type), "processes": accelerator.num_processes}
    if train.batch_size < accelerator.num_processes:
        raise ConfigError(
            f"batch_size {train.batch_size} is smaller than the {accelerator.num_processes} "
            "processes; every process needs at least one item a step: set "
            f"`finetune.train.batch_size` (or `models.{ref.name}.train.batch_size`) to at least "
            f"{accelerator.num_processes}, or give the model fewer GPUs."
        )
    seed_everything(seed)
    base = load_base_model(ref, train, quantization, accelerator)
    peft_model = make_peft_model(base, ref, lora, train, quantization, accelerator.num_processes)
    peft_model.train()
    adapted = adapted_weights(peft_model)
    log.info("LoRA adapts %s", ", ".join(adapted))

    steps_per_epoch = -(-len(examples) // train.batch_size)
    total = train.max_steps or steps_per_epoch * train.epochs
    params = [p for p in peft_model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in params)
    optimizer = torch.optim.AdamW(params, lr=train.learning_rate, weight_decay=train.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(train.warmup_ratio * total), total)
    _configure_launcher(accelerator, peft_model, -(-train.batch_size // accelerator.num_processes))
    peft_model, optimizer = accelerator.prepare(peft_model, optimizer)

    run = TrainingRun(
        accelerator=accelerator,
        model=peft_model,
        optimizer=optimizer,
        scheduler=scheduler,
        examples=examples,
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        train=train,
        seed=seed,
        total=total,
        root=checkpoint_root(out_dir),
        fingerprint=run_fingerprint(ref, examples, lora, train, seed, quantization, world),
    )
    run.resume()
    with StopRequest() as stop:
        run.loop(stop, on_step)

    progress = run.progress
    summary = {
        "model": ref.name,
        "seed": seed,
        "steps": progress.step,
        "examples": len(examples),
        "tokens": progress.tokens,
        "seconds": round(progress.seconds, 3),
        "first_loss": progress.losses[0] if progress.losses else None,
        "last_loss": progress.losses[-1] if progress.losses else None,
        "losses": progress.losses,
        "resumed_from": progress.resumed_from,
        "lora": asdict(lora),
        "train": asdict(train),
        "quantization": quantization,
        "processes": accelerator.num_processes,
        "distributed": world["type"],
        "trainable_parameters": n_trainable,
        "adapted": adapted,
    }
    save_adapter(accelerator, peft_model, out_dir, summary)
    if accelerator.is_main_process and not keep_checkpoints:
        remove_checkpoints(out_dir)
    accelerator.wait_for_everyone()
    return summary


def remove_checkpoints(out_dir: str | Path) -> None:
    """Remove the checkpoints of a finished adapter (call once it is saved and recorded)."""
    shutil.rmtree(checkpoint_root(out_dir), ignore_errors=True)


@dataclass
class TrainingRun:
    """A prepared model, optimizer and data, and where the run stands: steps and checkpoints."""

    accelerator: Any
    model: Any
    optimizer: Any
    scheduler: Any
    examples: Sequence[Example]
    pad_id: int
    train: TrainSettings
    seed: int
    total: int
    root: Path
    fingerprint: str
    progress: Progress = field(default_factory=Progress)

    def resume(self) -> None:
        """Continue from the latest checkpoint of this run, if there is one; checkpoints of
        another run (other data or settings) cannot be resumed and are removed."""
        path = latest_checkpoint(self.root, self.fingerprint)
        if path is None:
            if self.accelerator.is_main_process and self.root.exists():
                log.warning("removing checkpoints of another run: %s", self.root)
                shutil.rmtree(self.root)  # else pruning might keep them over this run's own
            self.accelerator.wait_for_everyone()
            return
        self.progress = load_checkpoint(
            path, self.accelerator, self.model, self.optimizer, self.scheduler
        )
        self.progress.resumed_from.append(self.progress.step)
        log.info("resuming from %s (step %d/%d)", path, self.progress.step, self.total)

    def checkpoint(self) -> Path:
        """Write a checkpoint of the current step."""
        return save_checkpoint(
            self.root,
            self.progress,
            self.fingerprint,
            self.accelerator,
            self.model,
            self.optimizer,
            self.scheduler,
        )

    def step(self) -> None:
        """One optimizer step on the next global batch (this process's share of it)."""
        rank, world = self.accelerator.process_index, self.accelerator.num_processes
        ids = step_batch(self.progress.step, len(self.examples), self.train.batch_size, self.seed)
        batch = collate([self.examples[i] for i in rank_share(ids, rank, world)], self.pad_id)
        batch = {k: v.to(self.accelerator.device) for k, v in batch.items()}
        loss = self.model(**batch).loss
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss = loss.detach()
        if world > 1:
            loss = self.accelerator.reduce(loss, "mean")
        self.progress.step += 1
        self.progress.tokens += sum(len(self.examples[i].input_ids) for i in ids)
        self.progress.losses.append(float(loss))

    def loop(self, stop: StopRequest, on_step: Callable[[int], None] | None = None) -> None:
        """Run the remaining steps, checkpointing every `checkpoint_every` steps and after the
        step during which a stop was requested (then raise Preempted)."""
        progress, every = self.progress, self.train.checkpoint_every
        window = (progress.tokens, progress.seconds)
        while progress.step < self.total:
            with _timer(progress):
                self.step()
            if progress.step % self.train.log_every == 0 or progress.step == self.total:
                window = _log_progress(progress, self.total, window)
            if on_step is not None:
                on_step(progress.step)
            if progress.step == self.total:
                break
            if _any_process(stop.signal_name is not None, self.accelerator):
                reason = stop.signal_name or "a stop request on another process"
                raise Preempted(progress.step, self.total, self.checkpoint(), reason)
            if every and progress.step % every == 0:
                log.info("checkpoint of step %d: %s", progress.step, self.checkpoint())


def _log_progress(progress: Progress, total: int, window: tuple[int, float]) -> tuple[int, float]:
    """One log line: step, loss, tokens/s since the last line, elapsed and remaining time."""
    rate = (progress.tokens - window[0]) / max(progress.seconds - window[1], 1e-9)
    eta = progress.seconds / max(progress.step, 1) * (total - progress.step)
    log.info(
        "step %d/%d loss %.4f tokens/s %.0f elapsed %s eta %s",
        progress.step,
        total,
        progress.losses[-1],
        rate,
        _duration(progress.seconds),
        _duration(eta),
        extra=CONSOLE,
    )
    return progress.tokens, progress.seconds


def save_adapter(accelerator: Any, model: Any, out_dir: Path, summary: dict[str, Any]) -> None:
    """Gather the adapter (every process takes part) and write it from the main process only,
    atomically, with the training summary beside it.

    The directory is a pure function of the run's inputs: the summary inside leaves out
    `RUN_FACTS` (kept in `run_facts_path(out_dir)`), and PEFT's unordered config fields are
    sorted, so two identical runs write the same bytes.
    """
    weights = adapter_state(accelerator, model)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        with atomic_dir(out_dir) as tmp:
            unwrapped.save_pretrained(tmp, state_dict=weights)
            sort_unordered_config(unwrapped, Path(tmp))
            made = {k: v for k, v in summary.items() if k not in RUN_FACTS}
            write_json(Path(tmp) / SUMMARY_FILE, made)
            _sync_files(Path(tmp))  # on disk before the rename publishes it
        write_json(run_facts_path(out_dir), {k: summary[k] for k in RUN_FACTS if k in summary})
    accelerator.wait_for_everyone()


def sort_unordered_config(model: Any, directory: Path) -> None:
    """Rewrite `adapter_config.json` with the fields PEFT holds as sets (`target_modules`, ...)
    sorted: PEFT writes a set in hash order, which changes from one process to the next."""
    from peft.utils import CONFIG_NAME

    config = model.peft_config["default"]
    unordered = [key for key, value in config.to_dict().items() if isinstance(value, set)]
    if not unordered:
        return
    path = directory / CONFIG_NAME
    record = json.loads(path.read_text(encoding="utf-8"))
    for key in unordered:
        record[key] = sorted(record[key])
    # PEFT's own layout (indent 2, sorted keys, no final newline), so only the order changes.
    path.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")


def run_facts_path(out_dir: str | Path) -> Path:
    """Where the run facts of an adapter (wall time, resumed steps) are kept: hidden beside it."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.run.json"


def read_summary(out_dir: str | Path) -> dict[str, Any]:
    """The training summary of a written adapter, with its run facts when they are there."""
    summary = read_json(Path(out_dir) / SUMMARY_FILE)
    facts = run_facts_path(out_dir)
    return {**summary, **(read_json(facts) if facts.exists() else {})}
