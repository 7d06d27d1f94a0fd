"""Fine-tuning throughput and peak memory: `xlt.train.loop.finetune` against a bare PEFT loop.

Both train the same LoRA adapter on the same model and the same batches (the demo's Arabic
train items, in xlt's order), each run in its own process so that peak memory is its own:
max RSS on CPU, `torch.cuda.max_memory_allocated` on a GPU. Throughput is answer+prompt tokens
per second over steps 2..N (step 1 warms up), xlt's periodic checkpoint writes included.
Runs alternate (xlt, bare, xlt, bare, ...) and the best of `--repeats` counts, so a busy machine
slows both alike. The two adapters are also compared: xlt adds bookkeeping, not numerics.

    python benchmarks/bench_finetune.py [--steps 24] [--repeats 2] [--hidden 128 --layers 4]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo" / "belebele"
SOURCES = ("arb_Arab", "arz_Arab")
TEMPLATE_ID = "belebele_num"
SEED = 0


def prepare(workdir: Path, hidden: int, layers: int) -> None:
    """Build a demo model and the Arabic train files, as the workflow does."""
    from xlt.data.belebele import make_split, read_belebele, split_language
    from xlt.io import write_jsonl
    from xlt.models.demo import DemoModelSpec, build_demo_model
    from xlt.models.loading import local_model_ref

    # Untrained weights: throughput does not depend on what the model knows.
    spec = DemoModelSpec("dense", hidden_size=hidden, num_layers=layers, pretrain_steps=0)
    build_demo_model(sorted(DEMO.glob("*.jsonl")), spec, workdir / "model")
    local_model_ref("bench", workdir / "model").save(workdir / "model.json")
    split = make_split(read_belebele(DEMO / "eng_Latn.jsonl"), 16, 0, "eng_Latn")
    split.save(workdir / "split.json")
    for lang in SOURCES:
        train, _ = split_language(read_belebele(DEMO / f"{lang}.jsonl"), split, lang)
        write_jsonl(workdir / f"{lang}.train.jsonl", train)


def settings(steps: int, checkpoint_every: int | None) -> tuple[Any, Any, Any]:
    """The template, LoRA and train settings both runs share (the demo's)."""
    from xlt.prompts import load_templates
    from xlt.train.settings import LoraSettings, TrainSettings

    template = load_templates(REPO / "config" / "templates.yaml")[TEMPLATE_ID]
    train = TrainSettings(
        max_steps=steps,
        learning_rate=0.01,
        batch_size=8,
        dtype="float32",
        log_every=10**9,
        checkpoint_every=checkpoint_every,
        gradient_checkpointing=False,
    )
    return template, LoraSettings(), train


def peak_memory_mb() -> float:
    """Peak memory of this process: GPU allocations on a GPU, else max resident set size."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class StepClock:
    """Times steps 2..N: `tick(step)` after every optimizer step."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last = 0.0

    def tick(self, step: int) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        now = time.perf_counter()
        if step == 1:
            self.first = now
        self.last = now


def run_xlt(workdir: Path, steps: int, checkpoint_every: int | None, out: Path) -> StepClock:
    """xlt's own code path: `finetune()`, as the rule calls it."""
    from xlt.train.loop import finetune

    template, lora, train = settings(steps, checkpoint_every)
    clock = StepClock()
    files = [workdir / f"{lang}.train.jsonl" for lang in SOURCES]
    finetune(
        workdir / "model.json", files, workdir / "split.json", out, template, chat=False,
        lora=lora, train=train, seed=SEED, on_step=clock.tick,
    )  # fmt: skip
    return clock


def run_bare(workdir: Path, steps: int, out: Path) -> StepClock:
    """The floor: transformers + PEFT + AdamW on the same batches, nothing else."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, get_linear_schedule_with_warmup

    from xlt.data.belebele import read_items
    from xlt.models.loading import ModelRef, load_tokenizer
    from xlt.train.data import collate, step_batch, training_example

    template, lora, train = settings(steps, None)
    ref = ModelRef.load(workdir / "model.json")
    tokenizer = load_tokenizer(ref)
    rows = [r for lang in SOURCES for r in read_items(workdir / f"{lang}.train.jsonl")]
    examples = [training_example(r, template, tokenizer, chat=False) for r in rows]
    batches = [
        collate(
            [examples[i] for i in step_batch(s, len(examples), 8, SEED)], tokenizer.pad_token_id
        )
        for s in range(steps)
    ]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_pretrained(ref.load_from, dtype=torch.float32).to(device)
    model.config.use_cache = False  # as xlt: no KV cache in training
    config = LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=lora.target_modules, task_type="CAUSAL_LM",
    )  # fmt: skip
    model = get_peft_model(model, config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=train.learning_rate, weight_decay=train.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, steps)
    clock = StepClock()
    for step, batch in enumerate(batches, start=1):
        loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss.detach())
        clock.tick(step)
    model.save_pretrained(out)
    return clock


def timed_tokens(workdir: Path, steps: int) -> int:
    """Tokens in steps 2..N (the timed ones); the same batches in both runs."""
    from xlt.data.belebele import read_items
    from xlt.models.loading import ModelRef, load_tokenizer
    from xlt.train.data import step_batch, training_example

    template, _, _ = settings(steps, None)
    tokenizer = load_tokenizer(ModelRef.load(workdir / "model.json"))
    rows = [r for lang in SOURCES for r in read_items(workdir / f"{lang}.train.jsonl")]
    lengths = [len(training_example(r, template, tokenizer, False).input_ids) for r in rows]
    return sum(lengths[i] for s in range(1, steps) for i in step_batch(s, len(rows), 8, SEED))


def worker(args: argparse.Namespace) -> None:
    """One measured run in this process; prints a JSON line."""
    torch.set_num_threads(args.threads)
    workdir, out = Path(args.workdir), Path(args.out)
    started = time.perf_counter()
    if args.worker == "bare":
        clock = run_bare(workdir, args.steps, out)
    else:
        clock = run_xlt(workdir, args.steps, args.checkpoint_every, out)
    seconds = clock.last - (clock.first or clock.last)
    print(
        json.dumps(
            {
                "loop_seconds": seconds,
                "job_seconds": time.perf_counter() - started,
                "peak_mb": peak_memory_mb(),
            }
        )
    )


def measure(name: str, args: argparse.Namespace, workdir: Path, out: Path) -> dict[str, float]:
    """Run one worker in a fresh process and read its figures."""
    command = [
        sys.executable, __file__, "--worker", name, "--workdir", str(workdir), "--out", str(out),
        "--steps", str(args.steps), "--threads", str(args.threads),
        "--checkpoint-every", str(args.checkpoint_every),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{name} run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def same_adapter(a: Path, b: Path) -> float:
    """Largest |difference| between two saved adapters (0.0: bitwise identical)."""
    from safetensors.torch import load_file

    wa, wb = load_file(a / "adapter_model.safetensors"), load_file(b / "adapter_model.safetensors")
    if wa.keys() != wb.keys():
        return float("inf")
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128, help="model width (demo: 64)")
    parser.add_argument("--layers", type=int, default=4, help="layers (demo: 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--checkpoint-every", type=int, default=10, help="xlt checkpoints")
    parser.add_argument("--worker", choices=["xlt", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="xlt-bench-ft-") as tmp:
        workdir = Path(tmp)
        prepare(workdir, args.hidden, args.layers)
        tokens = timed_tokens(workdir, args.steps)
        best: dict[str, dict[str, float]] = {}
        for repeat in range(args.repeats):
            for name in ("xlt", "bare"):
                figures = measure(name, args, workdir, workdir / f"{name}-{repeat}")
                if name not in best or figures["loop_seconds"] < best[name]["loop_seconds"]:
                    best[name] = figures
        difference = same_adapter(workdir / "xlt-0", workdir / "bare-0")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    memory = "peak GPU MiB" if torch.cuda.is_available() else "peak RSS MiB"
    print(
        f"model: demo dense, hidden {args.hidden}, {args.layers} layers; {args.steps} steps of "
        f"8 items; {tokens} tokens timed (steps 2..{args.steps}); {device}, "
        f"{args.threads} thread(s); xlt checkpoints every {args.checkpoint_every} steps"
    )
    print(f"{'run':<10}{'tokens/s':>10}{'loop s':>9}{'job s':>8}{memory:>15}")
    for name, figures in best.items():
        rate = tokens / figures["loop_seconds"]
        print(
            f"{name:<10}{rate:>10.0f}{figures['loop_seconds']:>9.2f}"
            f"{figures['job_seconds']:>8.2f}{figures['peak_mb']:>15.0f}"
        )
    ratio = best["bare"]["loop_seconds"] / best["xlt"]["loop_seconds"]
    memory_ratio = best["xlt"]["peak_mb"] / best["bare"]["peak_mb"]
    print(f"xlt / bare PEFT tokens/s = {ratio:.2f}")
    print(f"xlt / bare PEFT peak memory = {memory_ratio:.2f}")
    print(f"adapters: max |xlt - bare| = {difference:.3g} (0 = bitwise identical)")
    print(f"benchmark wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
