"""Real models against lm-evaluation-harness: label log-likelihoods, and LoRA adapters.

Run after the small real study (`snakemake --cores 2 --configfile config/small-real.yaml`),
whose converted models and adapters it reads from results/:

1. Parity. For each model, the prompts of the demo's test items in two languages (the study's
   own template: plain prompts for the base Gemma, the chat template for SmolLM2) and the four
   labels as continuations (Gemma's " 1" is two tokens, a space and a digit): every option's
   log-likelihood from xlt (`score_options`, options sharing one prefill) and from
   lm-evaluation-harness `HFLM.loglikelihood` (the code behind `lm_eval --model hf`), like for
   like: both get the requests after lm-eval's whitespace rule (`TemplateLM._encode_pair` moves
   a context's trailing whitespace into the continuation), so both score the same tokens. Prints
   the largest |Δ| and how often the argmax agrees, and both against a reference: one unbatched
   full forward pass per (context, continuation) on the first `--reference` items, encoded the
   same way. Then the naive comparison, each tool with its own rule on the study's prompts: a
   chat prompt ends in its template's line break, which xlt keeps in the context (it scores the
   tokens of "1") and lm-eval moves into the continuation (it scores a line break and "1"); the
   naive |Δ| is the line break's own log-likelihood, which the script computes and subtracts to
   show that it accounts for the whole difference.
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


def lm_eval_split(prompts: list[str], continuations: list[str]) -> tuple[list[str], list[str], str]:
    """The requests after lm-eval's whitespace rule (`TemplateLM._encode_pair`): each context's
    trailing whitespace moves to the front of the continuation. Also returns that whitespace,
    which must be the same for every prompt, since the continuations are shared."""
    contexts = [p.rstrip() for p in prompts]
    endings = {p[len(c) :] for p, c in zip(prompts, contexts, strict=True)}
    if len(endings) > 1:
        raise SystemExit(f"the prompts end in different whitespace {sorted(endings)!r}")
    (ending,) = endings
    return contexts, [ending + c for c in continuations], ending


def against_reference(model, tokenizer, prompts, conts, bos, ours, theirs, n: int) -> str:
    """xlt's and lm-eval's largest |Δ| from the unbatched reference on the first n items."""
    ref = unbatched_loglikelihoods(model, tokenizer, prompts[:n], conts, bos)
    xlt_diff = (ours[:n] - ref).abs().max().item()
    lm_eval_diff = (theirs[:n] - ref).abs().max().item()
    return (
        f"against one unbatched forward pass per pair ({n} items): xlt max |Δ| {xlt_diff:.2e}, "
        f"lm-eval {lm_eval_diff:.2e}"
    )


def agreement(ours: torch.Tensor, theirs: torch.Tensor) -> str:
    """The largest |Δ| of two score grids and how often their argmax agrees."""
    diff = (ours - theirs).abs().max().item()
    agree = (ours.argmax(1) == theirs.argmax(1)).float().mean().item()
    return f"max |Δ log-likelihood| = {diff:.2e}, argmax agrees on {agree:.0%}"


def parity(
    model, tokenizer, lm, prompts, conts, chat: bool, n_ref: int
) -> tuple[list[str], torch.Tensor]:
    """xlt against lm-eval like for like (and against the reference), then the naive way; also
    xlt's scores of the study's own requests."""
    contexts, split_conts, ending = lm_eval_split(prompts, conts)
    ours = score_options(model, tokenizer, contexts, split_conts, batch_size=8, chat=chat)
    # lm-eval applies its rule to whatever it is given, so these are also its scores of the
    # study's own requests: the naive comparison below needs no second lm-eval pass.
    theirs = lm_eval_loglikelihoods(lm, contexts, split_conts)
    lines = [f"like for like (continuations {split_conts!r}): {agreement(ours, theirs)}"]
    if n_ref:
        lines.append(
            against_reference(
                model, tokenizer, contexts, split_conts, not chat, ours, theirs, n_ref
            )
        )
    if not (chat and ending):
        # xlt applies lm-eval's rule itself to plain prompts: the naive requests are the same.
        lines.append("naive (each tool's own rule on the study's prompts): the same requests")
        return lines, ours
    own = score_options(model, tokenizer, prompts, conts, batch_size=8, chat=chat)
    moved = score_options(model, tokenizer, contexts, [ending], batch_size=8, chat=chat)
    rest = (theirs - own - moved).abs().max().item()
    lines.append(
        f"naive (each tool's own rule on the study's prompts): {agreement(own, theirs)}; "
        f"lm-eval moves the chat prompt's trailing {ending!r} into the continuation and scores "
        f"it too, xlt scores the label alone after it: less that {ending!r}'s own "
        f"log-likelihood, max |Δ| = {rest:.2e}"
    )
    return lines, own


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
        # lm-eval adds the tokenizer's BOS to plain prompts, as xlt does; a chat prompt already
        # starts with its template's special tokens, so neither adds one there.
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8, add_bos_token=not chat)
        print(
            f"{name}: {len(rows)} items, labels {conts} are {label_tokens} tokens; xlt vs lm-eval"
        )
        n_ref = min(args.reference, len(prompts))
        lines, ours = parity(model, tokenizer, lm, prompts, conts, chat, n_ref)
        for line in lines:
            print(f"  {line}")
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
        lm_peft = HFLM(
            pretrained=marker["load_from"],
            peft=str(adapter),
            tokenizer=marker["load_from"],
            batch_size=8,
            dtype="float32",
            device="cpu",
            add_bos_token=not chat,
        )
        lines, peft_scores = parity(tuned, tokenizer, lm_peft, prompts, conts, chat, n_ref)
        print(
            f"  adapter {adapter}: loads in PeftModel.from_pretrained and in lm-eval peft=; "
            f"changes xlt's log-likelihoods by up to "
            f"{(peft_scores - ours).abs().max().item():.3f}; xlt vs lm-eval with the adapter:"
        )
        for line in lines:
            print(f"    {line}")


if __name__ == "__main__":
    main()
