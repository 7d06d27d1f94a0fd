"""Evaluation speed and parity, measured side by side in one process on the same model and items.

(a) xlt direct evaluation (label log-likelihoods + generated answer from one prefill per item)
    against a bare batched prefill of the same prompts: the cost ratio.
(b) xlt log-likelihood scoring against lm-evaluation-harness (`HFLM.loglikelihood`, the code
    behind `lm_eval --model hf`) on the same prompts and continuations: the throughput ratio and
    the largest per-item |Δ log-likelihood|.

    pip install -e ".[bench]"        # lm-eval 0.4.13, for (b)
    python benchmarks/bench_eval.py [--items 160] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from xlt.data.belebele import read_belebele
from xlt.evaluate.cell import EvalSettings, predict_direct
from xlt.evaluate.scoring import build_requests, left_pad, position_ids, score_options
from xlt.models.demo import DemoModelSpec, build_demo_model
from xlt.models.loading import load_model, load_tokenizer, local_model_ref
from xlt.prompts import answer_continuation, load_templates

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo" / "belebele"


def interleaved(repeats: int, **runs) -> dict[str, tuple[float, object]]:
    """Fastest wall time of each run over `repeats` rounds, the runs alternating within a round
    so that a busy machine slows all of them alike; and each run's last result."""
    best: dict[str, tuple[float, object]] = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
            best[name] = (min(elapsed, best.get(name, (elapsed, None))[0]), result)
    return best


@torch.inference_mode()
def bare_prefill(model, contexts, pad_id: int, batch_size: int) -> None:
    """The floor: one forward pass per prompt, batched and sorted like xlt, last logits only."""
    order = sorted(contexts, key=len, reverse=True)
    for start in range(0, len(order), batch_size):
        ids, mask = left_pad(order[start : start + batch_size], pad_id)
        model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), logits_to_keep=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256, help="model width (demo: 64)")
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)

    workdir = Path(tempfile.mkdtemp(prefix="xlt-bench-"))
    model_dir = workdir / "demo-dense"
    spec = DemoModelSpec(
        "dense", hidden_size=args.hidden, num_layers=args.layers, pretrain_steps=100
    )
    build_demo_model(sorted(DEMO.glob("*.jsonl")), spec, model_dir)
    ref = local_model_ref("bench", model_dir)
    model, tokenizer = load_model(ref, dtype="float32", device="cpu"), load_tokenizer(ref)
    rows = []
    for path in sorted(DEMO.glob("*.jsonl")):
        lang = path.stem
        rows += [
            {**r, "id": f"{r['link']}#{r['question_number']}", "lang": lang}
            for r in read_belebele(path)
        ]
    rows = rows[: args.items]
    template = load_templates(REPO / "config" / "templates.yaml")["belebele_num"]
    prompts = [template.render(r) for r in rows]
    conts = [answer_continuation(template, label, chat=False) for label in template.labels]
    contexts = [r.input_ids for r in build_requests(tokenizer, prompts, conts)]
    pad = tokenizer.pad_token_id
    settings = EvalSettings(
        template=template, dtype="float32", batch_size=args.batch_size, max_new_tokens=8
    )
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.1f}M parameters ({args.hidden} wide, {args.layers} layers)")
    print(
        f"{len(rows)} items, mean prompt {sum(map(len, contexts)) / len(contexts):.0f} tokens, "
        f"batch {args.batch_size}, torch threads {torch.get_num_threads()}"
    )

    timed = interleaved(
        args.repeats,
        prefill=lambda: bare_prefill(model, contexts, pad, args.batch_size),
        direct=lambda: predict_direct(rows, model, tokenizer, settings),
        score=lambda: score_options(model, tokenizer, prompts, conts, batch_size=args.batch_size),
    )
    t_prefill, _ = timed["prefill"]
    t_direct, records = timed["direct"]
    t_score, xlt_scores = timed["score"]
    mean_new = sum(len(tokenizer(r["generation"])["input_ids"]) for r in records) / len(records)
    print(f"(a) bare prefill               {t_prefill:7.3f} s")
    print(
        f"    xlt direct (gen + loglik)  {t_direct:7.3f} s   ratio {t_direct / t_prefill:.2f}x "
        f"(mean {mean_new:.1f} generated tokens/item)"
    )
    print(f"    xlt loglik scoring only    {t_score:7.3f} s   ratio {t_score / t_prefill:.2f}x")

    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        print("(b) skipped: lm-eval is not installed (pip install -e '.[bench]')")
        return
    lm = HFLM(pretrained=str(model_dir), batch_size=args.batch_size, device="cpu", dtype="float32")
    requests = [
        Instance(request_type="loglikelihood", doc={}, arguments=(prompt, cont), idx=j)
        for prompt in prompts
        for j, cont in enumerate(conts)
    ]
    timed = interleaved(
        args.repeats,
        lmeval=lambda: lm.loglikelihood(requests, disable_tqdm=True),
        xlt=lambda: score_options(model, tokenizer, prompts, conts, batch_size=args.batch_size),
    )
    t_lmeval, lmeval_out = timed["lmeval"]
    t_score = timed["xlt"][0]
    theirs = torch.tensor([ll for ll, _ in lmeval_out], dtype=torch.float64).view(len(prompts), -1)
    delta = (theirs - xlt_scores).abs().max().item()
    same_pred = (theirs.argmax(1) == xlt_scores.argmax(1)).float().mean().item()
    print(
        f"(b) lm-eval HFLM.loglikelihood {t_lmeval:7.3f} s   "
        f"xlt throughput / lm-eval = {t_lmeval / t_score:.2f}x"
    )
    print(
        f"    max |Δ log-likelihood| = {delta:.2e} over {theirs.numel()} item-options; "
        f"same argmax on {same_pred:.0%} of items"
    )


if __name__ == "__main__":
    main()
