"""Evaluation speed and parity against the floor and lm-evaluation-harness, in one process.

On one model and one set of items, every round runs each of these once, in turn (the order
rotates from round to round, so a machine that gets busier slows all of them alike):

  prefill  a bare batched prefill of the prompts, last position's logits only: the floor;
  direct   xlt `direct` evaluation: label log-likelihoods + generated answer (`predict_direct`:
           prompts, tokenisation, the model's work, answer extraction, records);
  model    the model's part of it alone: the backend's `generate` with the label targets;
  score    xlt label scoring alone (`score_options`);
  lm-eval  lm-evaluation-harness `HFLM.loglikelihood` (the code behind `lm_eval --model hf`)
           on the same prompts and continuations, wrapping the same model object.

Each run's time is quoted as the median over rounds with the spread (min-max), and so is each
ratio, computed within a round: direct / prefill, model / prefill, score / prefill, lm-eval /
score (the throughput of xlt scoring relative to lm-eval's). Parity: the largest |Δ log-likelihood|
between xlt and lm-eval, and how often their argmax agrees.

Two cases (`--case`):
  single  the demo's dense model (`xlt.models.demo`, pre-trained briefly) at --hidden width;
          its tokenizer makes " 1".." 4" single tokens;
  multi   a random Llama of the same size with a byte-level BPE of 600 entries, in which
          " 1".." 4" are several tokens (a space, then the digit), as with Gemma's tokenizer.

The demo tokenizers have 600-1024 entries, so lm-eval's logits over the whole vocabulary at
every position cost little here; `--vocab 32000` pads the model's vocabulary to a real size.

The demo passages are short (~40 words), so each item's passage is followed by the next
passages of its language until the prompt reaches --prompt-tokens tokens (real Belebele
passages are 100-200 words; the issue's English items averaged 399 tokens).

    pip install -e ".[bench]"        # lm-eval 0.4.13
    python benchmarks/bench_eval.py --case single
    python benchmarks/bench_eval.py --case multi
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    PreTrainedTokenizerFast,
    StoppingCriteria,
    StoppingCriteriaList,
)

from xlt.data.belebele import read_belebele
from xlt.evaluate.backends import TransformersBackend
from xlt.evaluate.cell import EvalSettings, predict_direct
from xlt.evaluate.generate import AnswerStop
from xlt.evaluate.scoring import build_requests, right_pad, score_options
from xlt.models.demo import (
    BOS,
    EOS,
    PAD,
    DemoModelSpec,
    build_demo_model,
    corpus_rows,
    corpus_texts,
    model_config,
    train_bpe,
)
from xlt.models.loading import load_model, load_tokenizer, local_model_ref
from xlt.prompts import PromptTemplate, answer_continuation, load_templates

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo" / "belebele"


def rounds(n: int, runs: dict[str, Callable[[], Any]]) -> tuple[dict[str, list[float]], dict]:
    """Each run's wall time in each of `n` rounds (order rotating), and each run's last result."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, Any] = {}
    names = list(runs)
    for number in range(n):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            results[name] = runs[name]()
            times[name].append(time.perf_counter() - start)
    return times, results


def spread(values: list[float], unit: str = "s", digits: int = 3) -> str:
    """Median and min-max of a list of measurements."""
    med, low, high = statistics.median(values), min(values), max(values)
    return f"{med:.{digits}f}{unit} (min {low:.{digits}f}, max {high:.{digits}f})"


@torch.inference_mode()
def bare_prefill(model, contexts, pad_id: int, batch_size: int) -> None:
    """The floor: one forward pass per prompt, batched and sorted like xlt, right-padded without
    a mask (the cheapest way to batch a causal prefill), last position's logits only."""
    order = sorted(contexts, key=len, reverse=True)
    for start in range(0, len(order), batch_size):
        ids, mask = right_pad(order[start : start + batch_size], pad_id)
        model(input_ids=ids, logits_to_keep=mask.sum(-1, keepdim=True) - 1, use_cache=False)


class TokenCounter:
    """Counts forward calls and the tokens (padding included) that go through a model."""

    def __init__(self, model) -> None:
        self.calls = self.tokens = 0
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.calls += 1
        self.tokens += ids.numel()

    def reset(self) -> tuple[int, int]:
        """(calls, tokens) since the last reset."""
        counts = (self.calls, self.tokens)
        self.calls = self.tokens = 0
        return counts


class StopWhenComplete(StoppingCriteria):
    """`AnswerStop` as a transformers stopping criterion (what xlt used before its own loop)."""

    def __init__(self, tokenizer, width: int, stop: AnswerStop) -> None:
        self.tokenizer, self.width, self.stop = tokenizer, width, stop

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.width :], skip_special_tokens=True)
        return torch.tensor([self.stop.complete(text) for text in texts])


@torch.inference_mode()
def reference_answers(
    model, tokenizer, contexts, stop: AnswerStop | None, max_new_tokens: int
) -> tuple[list[str], list[int]]:
    """Answers by `transformers.generate`, greedy, one unpadded prompt at a time (EOS not kept),
    stopped and cut by `stop` when given: (texts as predictions store them, token counts)."""
    texts, counts = [], []
    for context in contexts:
        ids = torch.tensor([list(context)])
        criteria = [StopWhenComplete(tokenizer, ids.shape[1], stop)] if stop else []
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            stopping_criteria=StoppingCriteriaList(criteria),
        )
        new = out[0, ids.shape[1] :].tolist()
        if tokenizer.eos_token_id in new:
            new = new[: new.index(tokenizer.eos_token_id)]
        text = tokenizer.decode(new, skip_special_tokens=True)
        texts.append(stop.cut(text) if stop else text)
        counts.append(len(new))
    return texts, counts


def read_rows(limit: int) -> list[dict[str, Any]]:
    """Demo rows of every language, interleaved so that `limit` covers several languages."""
    by_lang = []
    for path in sorted(DEMO.glob("*.jsonl")):
        lang = path.stem
        by_lang.append(
            [
                {**r, "id": f"{r['link']}#{r['question_number']}", "lang": lang}
                for r in read_belebele(path)
            ]
        )
    rows = [row for group in zip(*by_lang, strict=False) for row in group]
    return rows[:limit]


def lengthen(rows, template: PromptTemplate, tokenizer, target: int) -> list[dict[str, Any]]:
    """Rows whose passage is followed by the next passages of its language until the rendered
    prompt has at least `target` tokens."""
    passages: dict[str, list[str]] = {}
    for row in read_rows(10_000):
        group = passages.setdefault(row["lang"], [])
        if row["flores_passage"] not in group:
            group.append(row["flores_passage"])
    longer = []
    for row in rows:
        group = passages[row["lang"]]
        first = group.index(row["flores_passage"])
        parts, step = [row["flores_passage"]], 1
        new = dict(row)
        while len(tokenizer(template.render(new))["input_ids"]) < target and step < 100:
            parts.append(group[(first + step) % len(group)])
            new = {**row, "flores_passage": " ".join(parts)}
            step += 1
        longer.append(new)
    return longer


def build_multi_token_model(spec: DemoModelSpec, out: Path, vocab_size: int = 600) -> None:
    """A random Llama with a byte-level BPE of `vocab_size` entries trained on the demo corpus
    alone, so " 1".." 4" are not single tokens."""
    texts = corpus_texts(corpus_rows(sorted(DEMO.glob("*.jsonl"))))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(texts, vocab_size),
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        add_bos_token=False,
        add_eos_token=False,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.model_max_length = spec.max_position_embeddings
    torch.manual_seed(spec.seed)
    model = AutoModelForCausalLM.from_config(model_config(spec, tokenizer), dtype=torch.float32)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("single", "multi"), default="single")
    parser.add_argument("--items", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256, help="model width (demo: 64)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--prompt-tokens", type=int, default=400, help="lengthen prompts to this")
    parser.add_argument("--max-new-tokens", type=int, default=8, help="direct answer budget")
    parser.add_argument(
        "--vocab",
        type=int,
        default=None,
        help="pad the model's vocabulary to this many entries (rows no prompt uses) to price "
        "the output layer of a real tokenizer (Llama 3: 128k)",
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-lm-eval", action="store_true", help="skip the lm-eval comparison")
    parser.add_argument(
        "--check-items",
        type=int,
        default=64,
        help="items whose answers are checked against transformers.generate",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="xlt-bench-") as workdir:
        run_case(args, Path(workdir) / f"bench-{args.case}")


def run_case(args: argparse.Namespace, model_dir: Path) -> None:
    """Build the case's model in `model_dir`, then measure and print."""
    spec = DemoModelSpec(
        "dense", hidden_size=args.hidden, num_layers=args.layers, pretrain_steps=100
    )
    if args.case == "single":
        build_demo_model(sorted(DEMO.glob("*.jsonl")), spec, model_dir)
    else:
        build_multi_token_model(spec, model_dir)
    ref = local_model_ref("bench", model_dir)
    model, tokenizer = load_model(ref, dtype="float32", device="cpu"), load_tokenizer(ref)
    if args.vocab and args.vocab > len(tokenizer):
        model.resize_token_embeddings(args.vocab, mean_resizing=False)
    counter = TokenCounter(model)

    template = load_templates(REPO / "config" / "templates.yaml")["belebele_num"]
    rows = lengthen(read_rows(args.items), template, tokenizer, args.prompt_tokens)
    prompts = [template.render(r) for r in rows]
    conts = [answer_continuation(template, label, chat=False) for label in template.labels]
    requests = build_requests(tokenizer, prompts, conts)
    contexts = [r.context for r in requests]
    targets = [r.targets for r in requests]
    label_tokens = [len(t) for t in requests[0].targets]
    pad = tokenizer.pad_token_id
    settings = EvalSettings(
        template=template,
        prompting="direct",
        chat=False,
        dtype="float32",
        batch_size=args.batch_size,
        max_length=None,
        max_new_tokens=args.max_new_tokens,
        extraction="lenient",
        backend="hf",
    )
    backend = TransformersBackend(model, tokenizer, args.batch_size)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"case {args.case}: model {n_params / 1e6:.1f}M parameters ({args.hidden} wide, "
        f"{args.layers} layers, vocabulary {model.get_output_embeddings().weight.shape[0]}); "
        f"labels {conts} are "
        f"{label_tokens} tokens"
    )
    print(
        f"{len(rows)} items ({len({r['lang'] for r in rows})} languages, passages lengthened "
        f"to >= {args.prompt_tokens} tokens), mean prompt "
        f"{sum(map(len, contexts)) / len(contexts):.0f} tokens, batch {args.batch_size}, "
        f"torch threads {torch.get_num_threads()}, {args.rounds} rounds"
    )

    runs: dict[str, Callable[[], Any]] = {
        "prefill": lambda: bare_prefill(model, contexts, pad, args.batch_size),
        "direct": lambda: predict_direct(rows, backend, tokenizer, settings),
        "model": lambda: backend.generate(
            contexts, settings.max_new_tokens, AnswerStop(template.labels), targets
        ),
        "score": lambda: score_options(model, tokenizer, prompts, conts, args.batch_size),
    }
    lm_requests = None
    if not args.no_lm_eval:
        try:
            from lm_eval.api.instance import Instance
            from lm_eval.models.huggingface import HFLM
        except ImportError:
            print("lm-eval is not installed (pip install -e '.[bench]'): no lm-eval comparison")
        else:
            lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size)
            lm_requests = [
                Instance(request_type="loglikelihood", doc={}, arguments=(p, c), idx=j)
                for p in prompts
                for j, c in enumerate(conts)
            ]
            runs["lm-eval"] = lambda: lm.loglikelihood(lm_requests, disable_tqdm=True)

    counts = {}
    for name, run in runs.items():  # a warm-up that also counts what goes through the model
        counter.reset()
        run()
        counts[name] = counter.reset()
    times, results = rounds(args.rounds, runs)

    for name in runs:
        calls, tokens = counts[name]
        print(
            f"  {name:8s} {spread(times[name])}   {calls} forward calls, "
            f"{tokens / 1e3:.0f}k tokens incl. padding"
        )
    ratio = {
        f"{name} / prefill": [t / p for t, p in zip(times[name], times["prefill"], strict=True)]
        for name in ("direct", "model", "score")
    }
    if "lm-eval" in times:
        ratio["lm-eval / score (xlt throughput vs lm-eval)"] = [
            e / s for e, s in zip(times["lm-eval"], times["score"], strict=True)
        ]
    for name, values in ratio.items():
        print(f"  {name:45s} {spread(values, unit='x', digits=2)}")

    records = results["direct"]
    checked = min(args.check_items, len(rows))
    texts, counts = reference_answers(
        model, tokenizer, contexts[:checked], AnswerStop(template.labels), settings.max_new_tokens
    )
    same = sum(r["generation"] == text for r, text in zip(records, texts, strict=False))
    print(
        f"  direct answers identical to transformers.generate's on {same}/{checked} items "
        f"(mean {sum(counts) / checked:.1f} generated tokens/item, at most "
        f"{settings.max_new_tokens})"
    )
    xlt_scores = results["score"]
    direct_scores = torch.tensor([r["option_logprobs"] for r in records], dtype=torch.float64)
    print(
        "  direct vs scoring-only label log-likelihoods: max |Δ| = "
        f"{(direct_scores - xlt_scores).abs().max().item():.2e}"
    )
    if lm_requests is not None:
        theirs = torch.tensor([ll for ll, _ in results["lm-eval"]], dtype=torch.float64)
        theirs = theirs.view(len(prompts), -1)
        delta = (theirs - xlt_scores).abs().max().item()
        same = (theirs.argmax(1) == xlt_scores.argmax(1)).float().mean().item()
        print(
            f"  xlt vs lm-eval: max |Δ log-likelihood| = {delta:.2e} over {theirs.numel()} "
            f"item-options; same argmax on {same:.1%} of items"
        )


if __name__ == "__main__":
    main()
