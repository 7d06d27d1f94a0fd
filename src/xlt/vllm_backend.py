"""Optional vLLM backend for large models on GPUs (`backend: vllm` on a model in the config).

Generation and label scoring go through one `vllm.LLM` engine: label log-likelihoods are read
from `prompt_logprobs` of context + label, which vLLM's prefix cache makes nearly free. LoRA
adapters are applied per request (`LoRARequest`). The Hugging Face backend stays the default
and the reference; vLLM is not a dependency of xlt (install it on the GPU nodes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from xlt.generate import Generation
from xlt.modeling import ModelRef, check_adapter
from xlt.scoring import ScoreRequest


class VllmUnavailableError(RuntimeError):
    """The config asks for vLLM where it cannot run."""


class VllmBackend:
    """A vLLM engine with the two calls evaluation needs: generate and score."""

    xlt_backend = "vllm"

    def __init__(
        self,
        ref: ModelRef,
        adapter: str | Path | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        max_lora_rank: int = 64,
    ) -> None:
        try:
            from vllm import LLM
            from vllm.lora.request import LoRARequest
        except ImportError as exc:
            raise VllmUnavailableError(
                f"model '{ref.name}' has `backend: vllm` but vllm is not installed here; "
                "`pip install vllm` on the GPU nodes or use `backend: hf`."
            ) from exc
        if adapter is not None:
            check_adapter(adapter, ref)
        self.llm = LLM(
            model=ref.load_from,
            revision=ref.revision,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            enable_lora=adapter is not None,
            max_lora_rank=max_lora_rank,
            enable_prefix_caching=True,
            seed=0,
        )
        self.lora = LoRARequest("xlt-adapter", 1, str(adapter)) if adapter is not None else None

    def generate(
        self, contexts: Sequence[Sequence[int]], max_new_tokens: int, stop_at_newline: bool
    ) -> list[Generation]:
        """Greedy continuations; a direct answer stops at its first line break."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(
            temperature=0.0, max_tokens=max_new_tokens, stop=["\n"] if stop_at_newline else None
        )
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=list(c)) for c in contexts],
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
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompts, keys = [], []
        for request in requests:
            for option, targets in request.reads:
                # A request's input ends with targets[:-1]; the full sequence adds the last one.
                context = list(request.input_ids)[: len(request.input_ids) - len(targets) + 1]
                prompts.append(TokensPrompt(prompt_token_ids=context + list(targets)))
                keys.append((request.item, option, len(targets)))
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = self.llm.generate(prompts, params, lora_request=self.lora, use_tqdm=False)
        scores = torch.full((n_items, n_options), float("nan"), dtype=torch.float64)
        for (item, option, n_targets), output in zip(keys, outputs, strict=True):
            ids = output.prompt_token_ids
            positions = range(len(ids) - n_targets, len(ids))
            scores[item, option] = sum(output.prompt_logprobs[p][ids[p]].logprob for p in positions)
        return scores


def is_vllm(model: Any) -> bool:
    """Whether evaluation should call the vLLM backend for this model object."""
    return getattr(model, "xlt_backend", None) == "vllm"
