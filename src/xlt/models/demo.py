"""Tiny causal LMs built locally for the embedded demo, saved in the Hugging Face format.

The demo must run offline on a laptop CPU, so it cannot download a model. Instead it trains a
byte-level BPE tokenizer on its own Belebele-schema corpus, builds a dense (Llama) or MoE
(Qwen3-MoE) model from a config, pre-trains it for a few steps on the corpus text (never on the
answer key) and saves both with `save_pretrained`. Every later stage then loads them through
`from_pretrained(path)`, exactly as it loads a hub model. Same inputs and spec, same bytes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from xlt.data.belebele import TEXT_FIELDS
from xlt.io import read_jsonl, sha256_file, write_json

BOS, EOS, PAD, USER, ASSISTANT = "<|bos|>", "<|eos|>", "<|pad|>", "<|user|>", "<|assistant|>"
SPECIAL_TOKENS = (BOS, EOS, PAD, USER, ASSISTANT)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '<|eos|>\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\n' + message['content'] + '<|eos|>\n' }}"
    "{% else %}{{ raise_exception('demo models know only the user and assistant roles') }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
LABEL_TOKENS = ("1", "2", "3", "4", "A", "B", "C", "D")
BUILD_RECORD = "xlt_demo_build.json"
BLOCK_SIZE = 128
BATCH_SIZE = 8
LEARNING_RATE = 3e-3
LOG_EVERY = 25

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoModelSpec:
    """What to build: architecture, sizes, pre-training length and seed."""

    architecture: str
    vocab_size: int = 1024
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    max_position_embeddings: int = 1024
    pretrain_steps: int = 150
    seed: int = 0
    chat: bool = False
    num_experts: int = 4
    num_experts_per_tok: int = 2

    def __post_init__(self) -> None:
        if self.architecture not in ("dense", "moe"):
            raise ValueError(f"architecture must be 'dense' or 'moe', got {self.architecture!r}.")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads "
                f"({self.num_heads})."
            )
        if self.architecture == "moe" and not 1 <= self.num_experts_per_tok <= self.num_experts:
            raise ValueError("num_experts_per_tok must be between 1 and num_experts.")


def label_tokens_single(tokenizer: PreTrainedTokenizerFast) -> dict[str, bool]:
    """Whether each answer label, bare and after a space ("1", " 1", ..., " D"), is one token."""
    labels = [*LABEL_TOKENS, *(f" {label}" for label in LABEL_TOKENS)]
    return {label: len(tokenizer.encode(label)) == 1 for label in labels}


def train_bpe(texts: Sequence[str], vocab_size: int, label_count: int = 0) -> Tokenizer:
    """Byte-level BPE with the chat special tokens, trained on the texts plus the spaced answer
    labels `label_count` times (0: the texts alone)."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    labels = "".join(f" {label}" for label in LABEL_TOKENS)
    extra = [labels * label_count] if label_count else []
    backend.train_from_iterator([*texts, *extra], trainer=trainer)
    return backend


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer (any script encodes) with chat special tokens.

    The answer labels after a space (" 1".." 4", " A".." D") are added to the training text
    often enough to become single tokens, as in the big models' vocabularies (a small corpus
    alone does not merge them all); bare labels are single bytes anyway. If that is not enough,
    training is redone with the labels more frequent than any pair can be (no pair occurs more
    often than its first byte), so they are the first merges.
    """
    wrap = partial(
        PreTrainedTokenizerFast,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens=[USER, ASSISTANT],
        chat_template=CHAT_TEMPLATE,
        add_bos_token=False,
        add_eos_token=False,
        clean_up_tokenization_spaces=False,
    )
    tokenizer = wrap(tokenizer_object=train_bpe(texts, vocab_size, len(texts) + 1000))
    if not all(label_tokens_single(tokenizer).values()):
        byte_counts = Counter(b"".join(text.encode("utf-8") for text in texts))
        top = max(byte_counts.values(), default=0)
        tokenizer = wrap(tokenizer_object=train_bpe(texts, vocab_size, top + 1))
    return tokenizer


def corpus_rows(corpus_files: Sequence[Path]) -> list[dict[str, Any]]:
    """All rows of the corpus files, in file order."""
    return [row for path in corpus_files for row in read_jsonl(path)]


def corpus_texts(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Distinct passages, questions and options, in first-seen order; never the answer key."""
    seen: dict[str, None] = {}
    for row in rows:
        for field in TEXT_FIELDS:
            text = row.get(field)
            if isinstance(text, str) and text.strip():
                seen.setdefault(text, None)
    return list(seen)


def pack_chunks(
    texts: Sequence[str], tokenizer: PreTrainedTokenizerFast, block_size: int = BLOCK_SIZE
) -> torch.Tensor:
    """Concatenate the texts (each ended by EOS) and cut them into equal-length token blocks."""
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream.extend([*ids, tokenizer.eos_token_id])
    block = min(block_size, len(stream))
    if block < 2:
        raise ValueError("the corpus is too small to pre-train on (fewer than 2 tokens).")
    n_blocks = len(stream) // block
    return torch.tensor(stream[: n_blocks * block]).view(n_blocks, block)


def model_config(spec: DemoModelSpec, tokenizer: PreTrainedTokenizerFast) -> Any:
    """The transformers config of the spec: Llama for dense, Qwen3-MoE for MoE."""
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype="float32",
    )
    if spec.architecture == "dense":
        return AutoConfig.for_model("llama", intermediate_size=4 * spec.hidden_size, **common)
    return AutoConfig.for_model(
        "qwen3_moe",
        intermediate_size=4 * spec.hidden_size,
        moe_intermediate_size=2 * spec.hidden_size,
        num_experts=spec.num_experts,
        num_experts_per_tok=spec.num_experts_per_tok,
        norm_topk_prob=True,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        **common,
    )


def mean_loss(model: PreTrainedModel, chunks: torch.Tensor, batch_size: int = BATCH_SIZE) -> float:
    """Mean next-token loss of the model over all chunks (for checks and the build record)."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(chunks), batch_size):
            batch = chunks[start : start + batch_size]
            total += model(input_ids=batch, labels=batch).loss.item() * len(batch)
            count += len(batch)
    return total / count


def pretrain(
    model: PreTrainedModel, chunks: torch.Tensor, steps: int, seed: int, log: logging.Logger
) -> list[tuple[int, float]]:
    """Causal-LM pre-training for a fixed number of AdamW steps; returns the logged losses.

    Chunks are drawn in epochs, shuffled by a seeded `random.Random`, so the run is
    reproducible given the seed and the corpus.
    """
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    order: list[int] = []
    history: list[tuple[int, float]] = []
    model.train()
    for step in range(1, steps + 1):
        batch_ids: list[int] = []
        while len(batch_ids) < min(BATCH_SIZE, len(chunks)):
            if not order:
                order = list(range(len(chunks)))
                rng.shuffle(order)
            batch_ids.append(order.pop())
        batch = chunks[batch_ids]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step == 1 or step % LOG_EVERY == 0 or step == steps:
            history.append((step, loss.item()))
            log.info("pretrain step %d/%d loss %.4f", step, steps, loss.item())
    model.eval()
    return history


def _make_readable(directory: Path) -> None:
    """Give saved files the usual umask-based modes; safetensors writes them owner-only (0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in directory.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~umask)
    directory.chmod(0o777 & ~umask)


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move a finished build into place, replacing an earlier build of the same model."""
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def build_demo_model(
    corpus_files: list[Path],
    spec: DemoModelSpec,
    out_dir: Path,
    log: logging.Logger | None = None,
) -> None:
    """Train the tokenizer, build and pre-train the model, save both to `out_dir` atomically."""
    log = log or _log
    out_dir = Path(out_dir)
    started = time.perf_counter()
    rows = corpus_rows([Path(p) for p in corpus_files])
    texts = corpus_texts(rows)
    if not texts:
        raise ValueError(f"no text in the demo corpus files {[str(p) for p in corpus_files]}.")
    tokenizer = train_tokenizer(texts, spec.vocab_size)
    tokenizer.model_max_length = spec.max_position_embeddings
    single = label_tokens_single(tokenizer)
    log.info(
        "tokenizer: %d tokens from %d texts; answer labels not single tokens: %s",
        len(tokenizer),
        len(texts),
        [k for k, v in single.items() if not v] or "none",
    )

    torch.manual_seed(spec.seed)
    config = model_config(spec, tokenizer)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    log.info(
        "%s model (%s): %d parameters",
        spec.architecture,
        config.model_type,
        sum(p.numel() for p in model.parameters()),
    )
    chunks = pack_chunks(texts, tokenizer)
    history = pretrain(model, chunks, spec.pretrain_steps, spec.seed, log)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )

    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(
            tmp / BUILD_RECORD,
            {
                "spec": asdict(spec),
                "corpus": [{"file": Path(p).name, "sha256": sha256_file(p)} for p in corpus_files],
                "n_texts": len(texts),
                "n_chunks": len(chunks),
                "block_size": chunks.shape[1],
                "pretrain_loss": [list(item) for item in history],
                "single_token_labels": single,
            },
        )
        _make_readable(tmp)
        _replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("saved %s in %.1f s", out_dir, time.perf_counter() - started)


def read_build_record(model_dir: Path) -> dict[str, Any]:
    """The build record written next to a demo model's weights."""
    return json.loads((Path(model_dir) / BUILD_RECORD).read_text(encoding="utf-8"))
