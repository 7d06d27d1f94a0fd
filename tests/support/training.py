"""Fine-tuning helpers shared by tests/train/: the prompt template, short runs on the tiny
model, and jobs that are stopped and resumed."""

from __future__ import annotations

import os
from dataclasses import asdict

import torch
from safetensors.torch import load_file

from support.data import REPO
from xlt.prompts import load_templates
from xlt.train.launch import FinetuneJob
from xlt.train.loop import finetune
from xlt.train.settings import LoraSettings, TrainSettings

TEMPLATE = load_templates(REPO / "config" / "templates.yaml")["belebele_num"]
# One thread in the runs a test starts (tests/train/conftest.py sets it in the test process):
# bitwise comparisons across processes need the same reduction order (and one thread does not
# oversubscribe a small machine).
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def train_tiny(model_ref, train_setup, name: str, seed: int = 0, keep_checkpoints=False, **train):
    """LoRA on the tiny model's Arabic train files into `<root>/<name>`: float32, activation
    checkpointing off unless `train` turns it on. Returns (summary, adapter directory)."""
    root, files = train_setup
    out = root / name
    settings = TrainSettings(**{"dtype": "float32", "gradient_checkpointing": False, **train})
    summary = finetune(
        model_ref,
        files,
        root / "split.json",
        out,
        TEMPLATE,
        chat=False,
        lora=LoraSettings(),
        train=settings,
        seed=seed,
        keep_checkpoints=keep_checkpoints,
    )
    return summary, out


RESUME_TRAIN = {
    "max_steps": 7,  # 48 items / 8 a batch: crosses an epoch boundary at step 6
    "learning_rate": 5e-3,
    "dtype": "float32",
    "gradient_checkpointing": False,
    "checkpoint_every": None,
    "log_every": 1,
}


def tiny_job(
    model_ref, train_setup, out, *, lora: LoraSettings, train: dict, seed: int
) -> FinetuneJob:
    """A fine-tuning job (what the finetune rule writes) on the tiny model's Arabic train files."""
    root, files = train_setup
    return FinetuneJob(
        model=str(model_ref),
        train_files=[str(f) for f in files],
        split=str(root / "split.json"),
        out_dir=str(out),
        template=TEMPLATE.as_record(),
        chat=False,
        lora=asdict(lora),
        train=train,
        seed=seed,
    )


def resume_job(model_ref, train_setup, out, **train) -> FinetuneJob:
    """A job with LoRA dropout on, so that restoring the RNG state matters."""
    return tiny_job(
        model_ref,
        train_setup,
        out,
        lora=LoraSettings(dropout=0.1),
        train={**RESUME_TRAIN, **train},
        seed=3,
    )


class Interrupted(Exception):
    """Stands for a crash in the middle of a run."""


def interrupt_at(stop_step):
    """An `on_step` hook that crashes the run after `stop_step` (before its checkpoint)."""

    def hook(step):
        if step == stop_step:
            raise Interrupted(step)

    return hook


def assert_same_adapter(out, reference):
    """The adapter in `out` has exactly the `reference` weights."""
    weights = load_file(out / "adapter_model.safetensors")
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[k], reference[k]) for k in reference)
