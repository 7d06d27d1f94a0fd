"""Both backends give the same choices on the same generations (one stop rule).

vLLM needs a GPU, so its engine is faked: a stand-in for `vllm.LLM` that answers `generate`
as vLLM does (greedy continuations, `prompt_logprobs`) but computes with the same tiny
transformers model, one unpadded sequence and one full forward pass per token — nothing shared
with the transformers backend's batched, cached code — and records every call.
"""

import json
from dataclasses import dataclass, replace
from types import SimpleNamespace

import pytest
import torch
from support.data import DEMO_DATA
from transformers import AutoModelForCausalLM

from xlt.data.belebele import read_belebele
from xlt.errors import ConfigError
from xlt.evaluate.backends import TransformersBackend
from xlt.evaluate.cell import EvalSettings, predict
from xlt.evaluate.scoring import build_requests
from xlt.evaluate.vllm import VllmBackend, max_lora_rank
from xlt.models.demo import DemoModelSpec, model_config
from xlt.models.loading import ModelRef, load_tokenizer
from xlt.prompts import answer_continuation, load_templates

TEMPLATE = load_templates("config/templates.yaml")["belebele_num"]
# A direct cell's settings as the config's defaults make them (dtype float32 on CPU).
SETTINGS = {
    "prompting": "direct",
    "chat": False,
    "batch_size": 8,
    "dtype": "float32",
    "max_length": None,
    "extraction": "lenient",
    "backend": "hf",
}


class SamplingParams:
    """`vllm.SamplingParams`: keeps its arguments."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.max_tokens = kwargs.get("max_tokens", 16)
        self.prompt_logprobs = kwargs.get("prompt_logprobs")


@dataclass
class Logprob:
    logprob: float


def tokens_prompt(prompt_token_ids):
    """`vllm.inputs.TokensPrompt` is a TypedDict."""
    return {"prompt_token_ids": prompt_token_ids}


FAKE_VLLM = SimpleNamespace(
    SamplingParams=SamplingParams, inputs=SimpleNamespace(TokensPrompt=tokens_prompt)
)


class FakeEngine:
    """`vllm.LLM.generate` computed with a transformers model; every call is recorded."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.calls = []

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        self.calls.append(
            SimpleNamespace(
                prompts=[p["prompt_token_ids"] for p in prompts],
                params=params.kwargs,
                lora_request=lora_request,
                use_tqdm=use_tqdm,
            )
        )
        return [self._answer(p["prompt_token_ids"], params) for p in prompts]

    @torch.inference_mode()
    def _answer(self, ids, params):
        prompt_logprobs = None
        if params.prompt_logprobs is not None:
            logprobs = torch.log_softmax(self._logits(ids).double(), -1)
            prompt_logprobs = [None] + [
                {token: Logprob(float(logprobs[position - 1, token]))}
                for position, token in enumerate(ids)
                if position > 0
            ]
        sequence, new = list(ids), []
        for _ in range(params.max_tokens):
            token = int(self._logits(sequence)[-1].argmax())
            new.append(token)  # vLLM keeps EOS in token_ids, not in the text
            if token == self.tokenizer.eos_token_id:
                break
            sequence.append(token)
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return SimpleNamespace(
            prompt_token_ids=list(ids),
            prompt_logprobs=prompt_logprobs,
            outputs=[SimpleNamespace(text=text, token_ids=new)],
        )

    def _logits(self, ids):
        return self.model(torch.tensor([ids])).logits[0]


@pytest.fixture(scope="module")
def answering(tiny_model_ref):
    """A random model nudged towards " 1".." 4", ":", line breaks and EOS: its answers pick
    different options and end at different steps, some inside a multi-byte character."""
    tokenizer = load_tokenizer(ModelRef.load(tiny_model_ref))
    torch.manual_seed(0)
    config = model_config(DemoModelSpec("dense", hidden_size=64, num_layers=2), tokenizer)
    config.initializer_range = 0.3
    model = AutoModelForCausalLM.from_config(config).eval()
    favoured = [
        tokenizer(s, add_special_tokens=False)["input_ids"][0]
        for s in (" 1", " 2", " 3", " 4", ":", "\n")
    ]
    bias = torch.zeros(len(tokenizer))
    bias[[*favoured, tokenizer.eos_token_id]] = 5.0
    model.lm_head.register_forward_hook(lambda module, inputs, logits: logits + bias)
    return model, tokenizer


@pytest.fixture(scope="module")
def rows():
    picked = []
    for lang in ("eng_Latn", "amh_Ethi", "heb_Hebr"):
        picked += [
            {**r, "id": f"{r['link']}#{r['question_number']}", "lang": lang}
            for r in read_belebele(DEMO_DATA / f"{lang}.jsonl")[:4]
        ]
    return picked


def both(rows, model, tokenizer, settings):
    """Predictions through the transformers backend and through (fake) vLLM, and the engine."""
    hf = predict(rows, TransformersBackend(model, tokenizer, batch_size=5), tokenizer, settings)
    engine = FakeEngine(model, tokenizer)
    backend = VllmBackend(engine, lora_request=None, vllm_module=FAKE_VLLM)
    return hf, predict(rows, backend, tokenizer, settings), engine


def assert_same(hf, vllm):
    assert [r["generation"] for r in hf] == [r["generation"] for r in vllm]
    assert [r["pred_gen"] for r in hf] == [r["pred_gen"] for r in vllm]
    assert [r["pred_loglik"] for r in hf] == [r["pred_loglik"] for r in vllm]
    torch.testing.assert_close(
        torch.tensor([r["option_logprobs"] for r in hf]),
        torch.tensor([r["option_logprobs"] for r in vllm]),
        atol=1e-4,
        rtol=0,
    )


def expected_score_prompts(tokenizer, prompts, template):
    conts = [answer_continuation(template, label, chat=False) for label in template.labels]
    requests = build_requests(tokenizer, prompts, conts)
    return [[*r.context, *targets] for r in requests for targets in r.targets]


@pytest.mark.parametrize("labels", [("1", "2", "3", "4"), ("10", "21", "32", "43")])
def test_direct_answers_are_the_same_through_both_backends(answering, rows, labels):
    model, tokenizer = answering
    template = replace(TEMPLATE, labels=labels)
    settings = EvalSettings(template=template, max_new_tokens=8, **SETTINGS)
    hf, vllm, engine = both(rows, model, tokenizer, settings)
    assert_same(hf, vllm)
    if labels[0] == "1":  # the favoured tokens are these labels: real choices to agree on
        assert len({r["pred_gen"] for r in hf} - {None}) > 1

    prompts = [r["prompt"] for r in hf]
    score, answer = engine.calls
    assert score.params == {"max_tokens": 1, "prompt_logprobs": 0, "temperature": 0.0}
    assert score.prompts == expected_score_prompts(tokenizer, prompts, template)
    assert answer.params == {"temperature": 0.0, "max_tokens": 8, "skip_special_tokens": True}
    # The prompt as the model reads it before answering (the demo tokenizer adds no BOS).
    plain = [tokenizer(p.rstrip(), add_special_tokens=False)["input_ids"] for p in prompts]
    assert answer.prompts == plain
    assert all(c.lora_request is None and c.use_tqdm is False for c in engine.calls)


def test_reasoning_and_scores_after_it_are_the_same_through_both_backends(answering, rows):
    model, tokenizer = answering
    settings = EvalSettings(
        template=TEMPLATE, max_new_tokens=12, **(SETTINGS | {"prompting": "cot"})
    )
    hf, vllm, engine = both(rows, model, tokenizer, settings)
    assert_same(hf, vllm)
    assert len({r["generation"] for r in hf}) > 2

    reasoning, score = engine.calls
    assert reasoning.params == {"temperature": 0.0, "max_tokens": 12, "skip_special_tokens": True}
    scored = [r["prompt"] + r["generation"] + TEMPLATE.answer_cue for r in hf]
    assert score.prompts == expected_score_prompts(tokenizer, scored, TEMPLATE)


def test_vllm_refuses_to_score_while_generating(answering):
    model, tokenizer = answering
    backend = VllmBackend(FakeEngine(model, tokenizer), vllm_module=FAKE_VLLM)
    with pytest.raises(ValueError, match="score"):
        backend.generate([[1, 2]], 4, label_targets=[[(3,), (4,)]])


@pytest.mark.parametrize(
    ("config", "expected"),
    [({"r": 4}, 8), ({"r": 8}, 8), ({"r": 24}, 32), ({"r": 8, "rank_pattern": {"q": 100}}, 128)],
)
def test_vllm_lora_slots_fit_the_adapter_rank(tmp_path, config, expected):
    (tmp_path / "adapter_config.json").write_text(json.dumps(config))
    assert max_lora_rank(tmp_path) == expected


def test_a_rank_above_what_vllm_serves_names_the_fix(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 512}))
    with pytest.raises(ConfigError, match=r"rank 512.*backend: hf.*finetune\.lora\.r"):
        max_lora_rank(tmp_path)
