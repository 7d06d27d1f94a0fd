"""Optional vLLM backend for large models on GPUs (`backend: vllm` on a model in the config).

Generation and label scoring go through one `vllm.LLM` engine: label log-likelihoods are read
from `prompt_logprobs` of context + label, which vLLM's prefix cache makes nearly free. LoRA
adapters are applied per request (`LoRARequest`). Direct answers end by the same `AnswerStop`
rule as with transformers: vLLM generates up to the (small) direct budget and the text is cut
there, so both backends extract the same answer from the same tokens. The transformers backend
stays the default and the reference; vLLM is not a dependency of xlt (install it on GPU nodes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from xlt.errors import ConfigError, XltError
from xlt.evaluate.generate import AnswerStop, Generation, keeps_structure
from xlt.evaluate.scoring import ScoreRequest
from xlt.io import read_json
from xlt.models.loading import ADAPTER_CONFIG, ModelRef, check_adapter

# The LoRA ranks vLLM's kernels accept for `max_lora_rank`; an adapter of rank r needs the
# smallest one >= r (a larger one only wastes GPU memory on every LoRA slot).
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256)


class VllmUnavailableError(XltError, RuntimeError):
    """The config asks for vLLM where it cannot run."""


def _vllm() -> Any:
    """The vllm module, or None where it is not installed (`VllmBackend.load` says so)."""
    try:
        import vllm
    except ImportError:
        return None
    return vllm


def adapter_rank(adapter: str | Path) -> int:
    """The largest LoRA rank of a PEFT adapter: `r`, or a larger one of its `rank_pattern`."""
    config = read_json(Path(adapter) / ADAPTER_CONFIG)
    ranks = [int(config.get("r") or 8), *map(int, (config.get("rank_pattern") or {}).values())]
    return max(ranks)


def max_lora_rank(adapter: str | Path) -> int:
    """The `max_lora_rank` vLLM needs for an adapter: the smallest supported rank >= its rank."""
    rank = adapter_rank(adapter)
    for supported in VLLM_LORA_RANKS:
        if supported >= rank:
            return supported
    raise ConfigError(
        f"{adapter} has LoRA rank {rank}, above {VLLM_LORA_RANKS[-1]}, the largest vLLM serves; "
        "evaluate this model with `backend: hf`, or train it with a smaller `finetune.lora.r`."
    )


class VllmBackend:
    """A vLLM engine with the two calls evaluation needs: generate and score."""

    name = "vllm"
    scores_while_generating = False

    def __init__(self, engine: Any, lora_request: Any = None, vllm_module: Any = None) -> None:
        self.engine = engine
        self.lora = lora_request
        self.vllm = vllm_module or _vllm()

    @classmethod
    def load(
        cls,
        ref: ModelRef,
        adapter: str | Path | None,
        dtype: str,
        tensor_parallel_size: int,
    ) -> VllmBackend:
        """Start an engine for a model (and adapter), with LoRA slots as large as the adapter's
        rank needs and no larger."""
        vllm = _vllm()
        if vllm is None:
            raise VllmUnavailableError(
                f"model '{ref.name}' has `backend: vllm` but vllm is not installed here; "
                "`pip install vllm` on the GPU nodes or use `backend: hf`."
            )
        lora_options: dict[str, Any] = {"enable_lora": adapter is not None}
        if adapter is not None:
            check_adapter(adapter, ref)
            lora_options["max_lora_rank"] = max_lora_rank(adapter)
        engine = vllm.LLM(
            model=ref.load_from,
            revision=ref.revision,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            enable_prefix_caching=True,
            seed=0,
            **lora_options,
        )
        from vllm.lora.request import LoRARequest

        lora = LoRARequest("xlt-adapter", 1, str(adapter)) if adapter is not None else None
        return cls(engine, lora, vllm)

    @property
    def context_window(self) -> int | None:
        """The engine's maximum model length."""
        config = getattr(getattr(self.engine, "llm_engine", None), "model_config", None)
        return getattr(config, "max_model_len", None)

    def generate(
        self,
        contexts: Sequence[Sequence[int]],
        max_new_tokens: int,
        stop: AnswerStop | None = None,
        label_targets: Sequence[Sequence[Sequence[int]]] | None = None,
    ) -> list[Generation]:
        """Greedy continuations; `stop` is applied by the caller's cut (see module docstring)."""
        if label_targets is not None:
            raise ValueError("the vLLM backend scores labels with score(), not during generation.")
        get_tokenizer = getattr(self.engine, "get_tokenizer", None)
        structure = get_tokenizer is not None and keeps_structure(get_tokenizer())
        params = self.vllm.SamplingParams(
            temperature=0.0, max_tokens=max_new_tokens, skip_special_tokens=not structure
        )
        outputs = self.engine.generate(
            [self.vllm.inputs.TokensPrompt(prompt_token_ids=list(c)) for c in contexts],
            params,
            lora_request=self.lora,
            use_tqdm=False,
        )
        return [
            Generation(text=o.outputs[0].text, n_tokens=len(o.outputs[0].token_ids))
            for o in outputs
        ]

    def score(self, requests: Sequence[ScoreRequest], n_items: int, n_options: int) -> torch.Tensor:
        """Summed label log-likelihoods from prompt_logprobs of context + label tokens."""
        prompts, keys = [], []
        for request in requests:
            for option, targets in enumerate(request.targets):
                ids = [*request.context, *targets]
                prompts.append(self.vllm.inputs.TokensPrompt(prompt_token_ids=ids))
                keys.append((request.item, option, len(targets)))
        params = self.vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = self.engine.generate(prompts, params, lora_request=self.lora, use_tqdm=False)
        scores = torch.full((n_items, n_options), float("nan"), dtype=torch.float64)
        for (item, option, n_targets), output in zip(keys, outputs, strict=True):
            ids = output.prompt_token_ids
            positions = range(len(ids) - n_targets, len(ids))
            scores[item, option] = sum(output.prompt_logprobs[p][ids[p]].logprob for p in positions)
        return scores
