"""One interface for the engines that run a model: transformers (the default and the reference)
and vLLM (optional, for large models on GPUs). Chosen per model by `backend:` in the config.

Evaluation asks a backend for two things, on already-tokenised inputs:
- `score(requests)`: summed log-likelihood of each option's label tokens (`ScoreRequest`s);
- `generate(contexts, max_new_tokens, stop)`: greedy continuations; with `stop` (an
  `AnswerStop`) a backend may stop early, and evaluation cuts every text with the same rule.
A backend whose generation also returns the labels' log-likelihoods from its own prefill
(`scores_while_generating`, given `label_targets`) lets a direct cell cost one prefill per item,
whether the labels are one token or several.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from xlt.evaluate.generate import AnswerStop, Generation, generate
from xlt.evaluate.scoring import ScoreRequest, score_requests
from xlt.models.loading import ModelRef, load_model, load_tokenizer

BACKENDS = ("hf", "vllm")


class Backend(Protocol):
    """What evaluation needs of an engine."""

    name: str
    scores_while_generating: bool
    context_window: int | None

    def score(self, requests: Sequence[ScoreRequest], n_items: int, n_options: int) -> torch.Tensor:
        """Summed label log-likelihoods, shape (n_items, n_options), float64."""
        ...

    def generate(
        self,
        contexts: Sequence[Sequence[int]],
        max_new_tokens: int,
        stop: AnswerStop | None = None,
        label_targets: Sequence[Sequence[Sequence[int]]] | None = None,
    ) -> list[Generation]:
        """Greedy continuations of token-id contexts, in input order; with `label_targets`
        (per context, each option's target ids) also each option's summed log-likelihood."""
        ...


class TransformersBackend:
    """A transformers model in eval mode (LoRA applied), batched on one device."""

    name = "hf"
    scores_while_generating = True

    def __init__(self, model: Any, tokenizer: Any, batch_size: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    @property
    def context_window(self) -> int | None:
        """The longest input the model takes (its maximum positions)."""
        return getattr(self.model.config, "max_position_embeddings", None)

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else 0

    def score(self, requests: Sequence[ScoreRequest], n_items: int, n_options: int) -> torch.Tensor:
        return score_requests(
            self.model, requests, n_items, n_options, self.pad_id, self.batch_size
        )

    def generate(
        self,
        contexts: Sequence[Sequence[int]],
        max_new_tokens: int,
        stop: AnswerStop | None = None,
        label_targets: Sequence[Sequence[Sequence[int]]] | None = None,
    ) -> list[Generation]:
        return generate(
            self.model,
            self.tokenizer,
            contexts,
            max_new_tokens,
            self.batch_size,
            label_targets=label_targets,
            stop=stop,
        )


def load_backend(
    name: str,
    ref: ModelRef,
    adapter: str | Path | None,
    dtype: str,
    batch_size: int,
    gpus: int,
) -> tuple[Backend, Any]:
    """The backend `name` for a model (and adapter), and the model's tokenizer."""
    tokenizer = load_tokenizer(ref)
    if name == "vllm":
        from xlt.evaluate.vllm import VllmBackend

        return VllmBackend.load(ref, adapter, dtype, tensor_parallel_size=max(1, gpus)), tokenizer
    if name != "hf":
        raise ValueError(f"unknown backend '{name}'; use one of {', '.join(BACKENDS)}.")
    model = load_model(ref, adapter=adapter, dtype=dtype)
    return TransformersBackend(model, tokenizer, batch_size), tokenizer
