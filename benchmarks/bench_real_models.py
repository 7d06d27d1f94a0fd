"""Real models against lm-evaluation-harness: label log-likelihoods, and LoRA adapters.

Run after the small real study (`snakemake --cores 2 --configfile config/small-real.yaml`),
whose converted models and adapters it reads from results/:

1. Parity. For each model, the prompts of the demo's test items in two languages (the study's
   own template: plain prompts for the base Gemma, the chat template for SmolLM2) and the four
   labels as continuations (Gemma's " 1" is two tokens, a space and a digit): every option's
   log-likelihood from xlt (`score_options`, options sharing one prefill) and from
   lm-evaluation-harness `HFLM.loglikelihood` (the code behind `lm_eval --model hf`) on the same
   (context, continuation) pairs. Prints the largest |Δ| and how often the argmax agrees, and
   both against a reference: one unbatched full forward pass per (context, continuation) on the
   first `--reference` items, with lm-eval's tokenisation rule.
2. Adapters. Each model's LoRA adapter loads in lm-eval (`HFLM(pretrained=..., peft=...)`) and in
   plain `PeftModel.from_pretrained`, and changes the log-likelihoods.
3. Generation. xlt's greedy loop (batched, left-padded, its cache shrinking as rows finish) against
   `transformers.generate` (greedy, one unpadded prompt at a time) on the chain-of-thought
   prompts of the first `--generate` items: how many continuations are token-for-token the same.
   Gemma 3 mixes sliding-window and global attention layers, which this checks on a real model.

    pip install -e ".[bench]"        # lm-eval
    python benchmarks/bench_real_models.py [--items 16] [--models gemma3-270m smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import yaml
from bench_eval import reference_answers  # the same reference the demo benchmark uses

from xlt.evaluate.cell import plain_contexts
from xlt.evaluate.generate import generate
from xlt.evaluate.scoring import score_options
from xlt.io import read_jsonl
from xlt.prompts import answer_continuation, build_prompt, load_templates

ROOT = Path(__file__).resolve().parents[1]


def lm_eval_loglikelihoods(lm, prompts: list[str], continuations: list[str]) -> torch.Tensor:
    """lm-eval's log-likelihood of every continuation after every prompt."""
    from lm_eval.api.instance import Instance

    requests = [
        Instance(request_type="loglikelihood", doc={}, arguments=(p, c), idx=j)
        for p in prompts
        for j, c in enumerate(continuations)
    ]
    values = [ll for ll, _ in lm.loglikelihood(requests, disable_tqdm=True)]
    return torch.tensor(values, dtype=torch.float64).view(len(prompts), len(continuations))


def unbatched_loglikelihoods(model, tokenizer, prompts, continuations, bos: bool) -> torch.Tensor:
    """The reference: each (context, continuation) alone, one full forward pass, encoded jointly
    and split at the context's length (lm-eval's rule), BOS first when `bos`."""
    prefix = [tokenizer.bos_token_id] if bos and tokenizer.bos_token_id is not None else []
    out = torch.zeros(len(prompts), len(continuations), dtype=torch.float64)
    for i, prompt in enumerate(prompts):
        context = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        for j, continuation in enumerate(continuations):
            whole = tokenizer(prompt + continuation, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prefix + whole])
            with torch.inference_mode():
                logp = model(ids).logits[0].double().log_softmax(-1)
            start = len(prefix) + len(context) - 1
            out[i, j] = sum(logp[start + k, t] for k, t in enumerate(whole[len(context) :]))
    return out


def against_reference(model, tokenizer, prompts, conts, bos, ours, theirs, n: int) -> str:
    """xlt's and lm-eval's largest |Δ| from the unbatched reference on the first n items."""
    ref = unbatched_loglikelihoods(model, tokenizer, prompts[:n], conts, bos)
    xlt_diff = (ours[:n] - ref).abs().max().item()
    lm_eval_diff = (theirs[:n] - ref).abs().max().item()
    return (
        f"against one unbatched forward pass per pair ({n} items): xlt max |Δ| {xlt_diff:.2e}, "
        f"lm-eval {lm_eval_diff:.2e}"
    )


def generation_parity(model, tokenizer, rows, template, chat: bool, max_new_tokens: int) -> str:
    """How many of xlt's greedy continuations equal `transformers.generate`'s, token for token."""
    prompts = [build_prompt(r, template, tokenizer, chat) for r in rows]
    contexts = plain_contexts(tokenizer, prompts, chat)
    ours = generate(model, tokenizer, contexts, max_new_tokens, batch_size=8)
    texts, counts = reference_answers(model, tokenizer, contexts, None, max_new_tokens)
    theirs = zip(texts, counts, strict=True)
    same = sum((g.text, g.n_tokens) == pair for g, pair in zip(ours, theirs, strict=True))
    return (
        f"  generation (cot prompts, {max_new_tokens} new tokens, batch 8): {same}/{len(rows)} "
        "continuations token-for-token equal to transformers.generate"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/small-real.yaml")
    parser.add_argument("--items", type=int, default=16, help="test items per language")
    parser.add_argument("--langs", nargs="+", default=["heb_Hebr", "eng_Latn"])
    parser.add_argument("--models", nargs="+", help="default: every model of the config")
    parser.add_argument(
        "--generate", type=int, default=16, help="items for the generation check (0: skip)"
    )
    parser.add_argument("--new-tokens", type=int, default=64, help="new tokens per continuation")
    parser.add_argument(
        "--reference", type=int, default=8, help="items checked against unbatched passes"
    )
    args = parser.parse_args()

    from lm_eval.models.huggingface import HFLM
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    config = yaml.safe_load((ROOT / args.config).read_text(encoding="utf-8"))
    templates = load_templates(ROOT / config["templates_file"])
    template = templates[config["prompts"]["direct"]]
    rows = [
        row
        for lang in args.langs
        for row in read_jsonl(Path("results/data") / lang / "test.jsonl")[: args.items]
    ]
    for name in args.models or list(config["models"]):
        marker = json.loads(Path(f"results/models/{name}.json").read_text())
        chat = bool(config["models"][name]["chat"])
        tokenizer = AutoTokenizer.from_pretrained(marker["load_from"])
        model = AutoModelForCausalLM.from_pretrained(marker["load_from"], dtype=torch.float32)
        model.eval()
        prompts = [build_prompt(r, template, tokenizer, chat) for r in rows]
        conts = [answer_continuation(template, label, chat) for label in template.labels]
        label_tokens = [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in conts]
        ours = score_options(model, tokenizer, prompts, conts, batch_size=8, chat=chat)
        # lm-eval adds the tokenizer's BOS to plain prompts, as xlt does; a chat prompt already
        # starts with its template's special tokens, so neither adds one there.
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8, add_bos_token=not chat)
        theirs = lm_eval_loglikelihoods(lm, prompts, conts)
        diff = (ours - theirs).abs().max().item()
        agree = (ours.argmax(1) == theirs.argmax(1)).float().mean().item()
        print(
            f"{name}: {len(rows)} items, labels {conts} are {label_tokens} tokens; "
            f"max |Δ log-likelihood| xlt vs lm-eval = {diff:.2e}; argmax agrees on {agree:.0%}"
        )
        n_ref = min(args.reference, len(prompts))
        if n_ref:
            check = against_reference(
                model, tokenizer, prompts, conts, not chat, ours, theirs, n_ref
            )
            print(f"  {check}")
        if args.generate:
            cot = templates[config["prompts"]["cot"]]
            print(
                generation_parity(
                    model, tokenizer, rows[: args.generate], cot, chat, args.new_tokens
                )
            )
        adapter = Path(f"results/adapters/{name}/ft-arabic-s0")
        if not adapter.exists():
            print(f"  {adapter}: not there (run the study first); adapter checks skipped")
            continue
        tuned = PeftModel.from_pretrained(model, str(adapter))
        peft_scores = score_options(tuned, tokenizer, prompts, conts, batch_size=8, chat=chat)
        lm_peft = HFLM(
            pretrained=marker["load_from"],
            peft=str(adapter),
            tokenizer=marker["load_from"],
            batch_size=8,
            dtype="float32",
            device="cpu",
            add_bos_token=not chat,
        )
        lm_peft_scores = lm_eval_loglikelihoods(lm_peft, prompts, conts)
        print(
            f"  adapter {adapter}: loads in PeftModel.from_pretrained and in lm-eval peft=; "
            f"changes the log-likelihoods by up to {(peft_scores - ours).abs().max().item():.3f}; "
            f"xlt vs lm-eval with the adapter: max |Δ| = "
            f"{(peft_scores - lm_peft_scores).abs().max().item():.2e}"
        )
        if n_ref:
            check = against_reference(
                tuned, tokenizer, prompts, conts, not chat, peft_scores, lm_peft_scores, n_ref
            )
            print(f"  with the adapter, {check}")


if __name__ == "__main__":
    main()
