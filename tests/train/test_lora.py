import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import asdict, replace

import pytest
import torch
import yaml
from safetensors.torch import load_file
from support.data import DEMO_DATA, REPO, write_jsonl

from xlt.data.belebele import make_split, read_belebele, split_language
from xlt.errors import ConfigError, MissingFileError
from xlt.io import sha256_path
from xlt.models.loading import AdapterMismatchError, ModelRef, load_model, load_tokenizer
from xlt.prompts import load_templates
from xlt.train.launch import (
    FinetuneJob,
    LaunchPlan,
    accelerate_config_path,
    launch_command,
    launch_plan,
    run_launched,
)
from xlt.train.loop import (
    IGNORE_INDEX,
    PREEMPTED_EXIT_CODE,
    AdapterExistsError,
    LoraSettings,
    Preempted,
    QuantizationUnavailableError,
    TrainSettings,
    check_quantization,
    checkpoint_root,
    epoch_order,
    finetune,
    rank_share,
    read_summary,
    step_batch,
    training_example,
    training_examples,
)

TEMPLATE = load_templates("config/templates.yaml")["belebele_num"]

# One thread in this process and in the runs it starts: bitwise comparisons across processes
# need the same reduction order (and one thread does not oversubscribe a small machine).
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def train_setup(tmp_path_factory):
    """Split the shipped demo data and write Arabic train files, as the workflow does."""
    root = tmp_path_factory.mktemp("ft")
    split = make_split(read_belebele(DEMO_DATA / "eng_Latn.jsonl"), 16, 0, "eng_Latn")
    split.save(root / "split.json")
    files = []
    for lang in ("arb_Arab", "arz_Arab"):
        train, _ = split_language(read_belebele(DEMO_DATA / f"{lang}.jsonl"), split, lang)
        files.append(write_jsonl(root / f"{lang}.train.jsonl", train))
    return root, files


def test_prompt_tokens_carry_no_loss(tiny_model_ref, train_setup):
    tokenizer = load_tokenizer(ModelRef.load(tiny_model_ref))
    _, files = train_setup
    row = json.loads(files[0].read_text().splitlines()[0])
    example = training_example(row, TEMPLATE, tokenizer, chat=False)
    scored = [
        t
        for t, label in zip(example.input_ids, example.labels, strict=True)
        if label != IGNORE_INDEX
    ]
    gold = TEMPLATE.labels[int(row["correct_answer_num"]) - 1]
    assert tokenizer.decode(scored) == f" {gold}<|eos|>"
    n_prompt = example.labels.index(scored[0])
    assert all(label == IGNORE_INDEX for label in example.labels[:n_prompt])
    assert len(example.input_ids) == len(example.labels)


def test_items_longer_than_max_length_name_the_key_to_raise(tiny_model_ref, train_setup):
    tokenizer = load_tokenizer(ModelRef.load(tiny_model_ref))
    root, files = train_setup
    args = (files, root / "split.json", TEMPLATE, tokenizer, False)
    with pytest.raises(ConfigError, match=r"`finetune\.train\.max_length` \(or `models\.m\."):
        training_examples(*args, max_length=5, model="m")
    assert training_examples(*args, max_length=None, model="m")


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


def test_training_lowers_the_loss_and_saves_a_loadable_adapter(tiny_model_ref, train_setup):
    summary, out = train_tiny(tiny_model_ref, train_setup, "adapter", epochs=3, learning_rate=5e-3)
    assert summary["last_loss"] < summary["first_loss"]
    assert (out / "adapter_model.safetensors").exists()
    ref = ModelRef.load(tiny_model_ref)
    model = load_model(ref, adapter=out, dtype="float32", device="cpu")
    assert model.active_adapter == "default"
    assert not checkpoint_root(out).exists(), "checkpoints are removed once the adapter exists"


def test_checkpoints_outlive_the_adapter_until_it_is_recorded(tiny_model_ref, train_setup):
    """The rule removes checkpoints only after recording the adapter: a job that fails while
    recording loses its output (Snakemake removes it), and the rerun resumes from them."""
    from xlt.train.loop import remove_checkpoints

    _, out = train_tiny(
        tiny_model_ref,
        train_setup,
        "adapter-recorded-later",
        keep_checkpoints=True,
        max_steps=2,
        checkpoint_every=1,
    )
    assert (out / "adapter_model.safetensors").exists()
    assert sorted(p.name for p in checkpoint_root(out).glob("step-*"))
    remove_checkpoints(out)
    assert not checkpoint_root(out).exists()


def test_a_finished_adapter_is_never_overwritten(tiny_model_ref, train_setup):
    root, files = train_setup
    out = root / "adapter-kept"
    settings = TrainSettings(max_steps=1, dtype="float32", gradient_checkpointing=False)
    args = (tiny_model_ref, files, root / "split.json", out, TEMPLATE)
    finetune(*args, chat=False, lora=LoraSettings(), train=settings, seed=0)
    before = (out / "adapter_model.safetensors").read_bytes()

    def never(step):
        raise AssertionError("a run into an existing adapter must stop before training")

    with pytest.raises(AdapterExistsError, match="exists"):
        finetune(*args, chat=False, lora=LoraSettings(), train=settings, seed=1, on_step=never)
    assert (out / "adapter_model.safetensors").read_bytes() == before
    # and Snakemake write-protects it once the job succeeds
    rule = (REPO / "rules" / "finetune.smk").read_text()
    assert "protected(directory(ADAPTER))" in rule


def test_an_adapter_refuses_another_base_model(tiny_model_ref, train_setup):
    _, out = train_tiny(tiny_model_ref, train_setup, "adapter-mismatch", max_steps=1)
    ref = ModelRef.load(tiny_model_ref)
    other = ModelRef(name="other", load_from="/elsewhere/model", source="local")
    with pytest.raises(AdapterMismatchError, match="other"):
        load_model(other, adapter=out)
    assert load_model(ref, adapter=out, dtype="float32", device="cpu") is not None


def test_same_seed_same_adapter_other_seed_differs(tiny_model_ref, train_setup):
    weights = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        # gradient checkpointing on: recomputation must not cost determinism
        _, out = train_tiny(
            tiny_model_ref,
            train_setup,
            f"seed-{name}",
            seed=seed,
            max_steps=4,
            gradient_checkpointing=True,
        )
        weights[name] = load_file(out / "adapter_model.safetensors")
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert any(not torch.equal(weights["a"][k], weights["c"][k]) for k in weights["a"])


def test_identical_runs_write_byte_identical_adapters(tiny_model_ref, train_setup):
    """Two processes (other hash seeds, so PEFT's sets come out in other orders) train the same
    job: every file of the adapter directory, and so its provenance hash, is the same."""
    root, files = train_setup
    outs = []
    for hash_seed in ("1", "2"):
        out = root / f"twin-{hash_seed}"
        job = FinetuneJob(
            model=str(tiny_model_ref),
            train_files=[str(f) for f in files],
            split=str(root / "split.json"),
            out_dir=str(out),
            template=TEMPLATE.as_record(),
            chat=False,
            lora=asdict(LoraSettings()),
            train={"max_steps": 2, "dtype": "float32", "gradient_checkpointing": False},
            seed=0,
        )
        job.save(root / f"twin-{hash_seed}.json")
        run = subprocess.run(
            [sys.executable, "-m", "xlt.train.launch", str(root / f"twin-{hash_seed}.json")],
            capture_output=True,
            text=True,
            env={**ONE_THREAD, "PYTHONHASHSEED": hash_seed},
        )
        assert run.returncode == 0, run.stderr[-2000:]
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(p.name for p in outs[1].iterdir())
    assert {"adapter_config.json", "adapter_model.safetensors", "xlt_training.json"} <= set(names)
    differ = [n for n in names if (outs[0] / n).read_bytes() != (outs[1] / n).read_bytes()]
    assert differ == []
    assert sha256_path(outs[0]) == sha256_path(outs[1])
    config = json.loads((outs[0] / "adapter_config.json").read_text())
    assert config["target_modules"] == sorted(config["target_modules"])
    # The wall time is kept, beside the adapter rather than in it.
    assert "seconds" not in json.loads((outs[0] / "xlt_training.json").read_text())
    assert read_summary(outs[0])["seconds"] >= 0


def test_moe_model_trains_its_experts_and_reloads(tmp_path, train_setup):
    from xlt.models.demo import DemoModelSpec, build_demo_model
    from xlt.models.loading import local_model_ref

    root, files = train_setup
    model_dir = tmp_path / "moe"
    build_demo_model(
        sorted(DEMO_DATA.glob("*.jsonl")),
        DemoModelSpec(architecture="moe", pretrain_steps=2),
        model_dir,
    )
    marker = tmp_path / "moe.json"
    local_model_ref("moe", model_dir).save(marker)
    out = tmp_path / "adapter"
    lora = LoraSettings(target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"])
    finetune(
        marker,
        files,
        root / "split.json",
        out,
        TEMPLATE,
        chat=True,
        lora=lora,
        train=TrainSettings(max_steps=2, dtype="float32"),
        seed=0,
    )
    saved = load_file(out / "adapter_model.safetensors")
    assert any("experts" in k for k in saved)
    assert any("q_proj" in k for k in saved)
    # PEFT warns that the experts' rank pattern "did not match any targeted module and was
    # ignored" (xlt silences that); it is applied: every expert LoRA weight loads at its shape.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = load_model(ModelRef.load(marker), adapter=out, dtype="float32", device="cpu")
    loaded = {
        name.replace(".default", ""): tuple(param.shape)
        for name, param in model.named_parameters()
        if "lora_" in name
    }
    assert {k: tuple(v.shape) for k, v in saved.items() if "experts" in k}.items() <= loaded.items()


# --- preemption and resume -------------------------------------------------------------------

RESUME_TRAIN = {
    "max_steps": 7,  # 48 items / 8 a batch: crosses an epoch boundary at step 6
    "learning_rate": 5e-3,
    "dtype": "float32",
    "gradient_checkpointing": False,
    "checkpoint_every": None,
    "log_every": 1,
}


def resume_job(model_ref, train_setup, out, **train) -> FinetuneJob:
    """A job with LoRA dropout on, so that restoring the RNG state matters."""
    root, files = train_setup
    return FinetuneJob(
        model=str(model_ref),
        train_files=[str(f) for f in files],
        split=str(root / "split.json"),
        out_dir=str(out),
        template=TEMPLATE.as_record(),
        chat=False,
        lora=asdict(LoraSettings(dropout=0.1)),
        train={**RESUME_TRAIN, **train},
        seed=3,
    )


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_ref, train_setup):
    """The reference: the same job run start to end without a single checkpoint."""
    out = train_setup[0] / "uninterrupted"
    summary = resume_job(tiny_model_ref, train_setup, out).run()
    return summary, load_file(out / "adapter_model.safetensors")


class Interrupted(Exception):
    """Stands for a crash in the middle of a run."""


def interrupt_at(stop_step):
    """An `on_step` hook that crashes the run after `stop_step` (before its checkpoint)."""

    def hook(step):
        if step == stop_step:
            raise Interrupted(step)

    return hook


def assert_same_adapter(out, reference):
    weights = load_file(out / "adapter_model.safetensors")
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[k], reference[k]) for k in reference)


def test_resume_after_sigkill_gives_the_same_adapter(tiny_model_ref, train_setup, uninterrupted):
    out = train_setup[0] / "killed"
    job = resume_job(tiny_model_ref, train_setup, out, checkpoint_every=2)
    job_file = train_setup[0] / "killed.json"
    job.save(job_file)
    # A real process, hard-killed (no handler, no cleanup) after step 5: checkpoints 2 and 4 exist.
    driver = textwrap.dedent(
        f"""
        import os, signal
        from xlt.train.launch import FinetuneJob

        def kill(step):
            if step == 5:
                os.kill(os.getpid(), signal.SIGKILL)

        FinetuneJob.load({str(job_file)!r}).run(on_step=kill)
        """
    )
    killed = subprocess.run(
        [sys.executable, "-c", driver], capture_output=True, text=True, env=ONE_THREAD
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not out.exists()
    steps = sorted(p.name for p in checkpoint_root(out).glob("step-*"))
    assert steps == ["step-00000002", "step-00000004"]

    summary = job.run()  # started again: resumes from step 4
    assert summary["resumed_from"] == [4]
    assert summary["losses"] == uninterrupted[0]["losses"]
    assert_same_adapter(out, uninterrupted[1])
    assert not checkpoint_root(out).exists()


def test_sigterm_checkpoints_mid_interval_and_resumes_identically(
    tiny_model_ref, train_setup, uninterrupted
):
    out = train_setup[0] / "terminated"
    job = resume_job(tiny_model_ref, train_setup, out, checkpoint_every=5)

    def sigterm(step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Preempted, match=r"SIGTERM after step 3/7.*resume") as stop:
        job.run(on_step=sigterm)
    assert stop.value.checkpoint == checkpoint_root(out) / "step-00000003"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    summary = job.run()
    assert summary["resumed_from"] == [3]
    assert_same_adapter(out, uninterrupted[1])


def test_sigterm_to_the_cli_writes_a_checkpoint_and_exits_75(tiny_model_ref, train_setup):
    out = train_setup[0] / "cli-terminated"
    job_file = train_setup[0] / "cli-terminated.json"
    resume_job(tiny_model_ref, train_setup, out, max_steps=10_000, checkpoint_every=2).save(
        job_file
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "xlt.train.launch", str(job_file)],
        stderr=subprocess.PIPE,
        text=True,
        env=ONE_THREAD,
    )
    deadline = time.monotonic() + 120
    while not (checkpoint_root(out) / "step-00000002").exists():
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)  # what SLURM sends before a time limit or preemption
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == PREEMPTED_EXIT_CODE
    assert "stopped by SIGTERM after step" in stderr and "to resume" in stderr
    latest = sorted(checkpoint_root(out).glob("step-*"))[-1]
    state = json.loads((latest / "state.json").read_text())
    assert f"after step {state['step']}/10000" in stderr
    assert {"adapter.safetensors", "optimizer.pt", "scheduler.pt", "rng-0.pt"} <= {
        p.name for p in latest.iterdir()
    }
    assert not out.exists()


def test_a_checkpoint_of_other_settings_is_not_resumed(
    tiny_model_ref, train_setup, uninterrupted, caplog
):
    out = train_setup[0] / "changed"
    job = resume_job(tiny_model_ref, train_setup, out, checkpoint_every=2, learning_rate=1e-3)
    with pytest.raises(Interrupted):
        job.run(on_step=interrupt_at(3))
    assert (checkpoint_root(out) / "step-00000002").exists()
    # Same output, other learning rate (as after a config edit): start over, ignore the old one.
    summary = replace(
        job, train={**job.train, "learning_rate": RESUME_TRAIN["learning_rate"]}
    ).run()
    assert summary["resumed_from"] == []
    assert "other data or settings" in caplog.text and "removing checkpoints" in caplog.text
    assert_same_adapter(out, uninterrupted[1])


def test_epoch_order_is_a_function_of_seed_and_epoch():
    assert epoch_order(48, 0, 1) == epoch_order(48, 0, 1)
    assert sorted(epoch_order(48, 0, 1)) == list(range(48))
    assert epoch_order(48, 0, 1) != epoch_order(48, 0, 2) != epoch_order(48, 1, 2)
    steps = [step_batch(s, 20, 8, 0) for s in range(3)]  # 8 + 8 + 4
    assert sorted(i for batch in steps for i in batch) == list(range(20))
    assert step_batch(3, 20, 8, 0) == epoch_order(20, 0, 1)[:8]


def test_rank_shares_cover_the_batch_and_never_run_empty():
    batch = [5, 6, 7, 8, 9]
    shares = [rank_share(batch, rank, 2) for rank in range(2)]
    assert sorted(shares[0] + shares[1]) == batch
    assert all(rank_share([4, 2], rank, 4) for rank in range(4))


# --- QLoRA and launching ----------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the error path of a CPU machine")
def test_qlora_without_cuda_stops_before_loading_the_model(tiny_model_ref, train_setup):
    root, files = train_setup
    with pytest.raises(QuantizationUnavailableError, match=r"CUDA GPU.*quantization: none"):
        finetune(
            tiny_model_ref,
            files,
            root / "split.json",
            root / "qlora",
            TEMPLATE,
            chat=False,
            lora=LoraSettings(),
            train=TrainSettings(max_steps=1),
            seed=0,
            quantization="4bit",
        )
    with pytest.raises(ConfigError, match=r"one of none, 4bit.*models\.m\.quantization"):
        check_quantization("3bit", "m")
    check_quantization("none")


def test_the_launch_plan_follows_the_model_resources():
    train = {"accelerate_config": "accelerate/deepspeed_zero3.yaml"}
    assert not launch_plan({"gpus": 1}, {}).distributed
    assert not launch_plan({}, {}).distributed
    plan = launch_plan({"gpus": 8, "nodes": 2}, train)
    assert (plan.processes, plan.nodes, plan.accelerate_config) == (
        16,
        2,
        train["accelerate_config"],
    )
    one_node = launch_command(LaunchPlan(gpus_per_node=4), "job.json", "fsdp.yaml", python="py")
    assert one_node == [
        "py", "-m", "accelerate.commands.launch", "--config_file", "fsdp.yaml",
        "--num_processes", "4", "--num_machines", "1", "-m", "xlt.train.launch", "job.json",
    ]  # fmt: skip
    two_nodes = launch_command(plan, "job.json", "ds.yaml", python="py", head="gpu001")
    assert two_nodes[:4] == ["srun", "--overlap", "--nodes=2", "--ntasks-per-node=1"]
    assert (
        '--main_process_ip gpu001 --main_process_port 29500 --machine_rank "$SLURM_NODEID"'
        in (two_nodes[-1])
    )


def test_a_missing_accelerate_config_names_the_key(tmp_path):
    assert accelerate_config_path(LaunchPlan(), REPO) == REPO / "accelerate" / "fsdp.yaml"
    missing = r"nowhere\.yaml not found.*train\.accelerate_config"
    with pytest.raises(MissingFileError, match=missing):
        accelerate_config_path(LaunchPlan(accelerate_config="nowhere.yaml"), tmp_path)


def test_shipped_accelerate_configs_shard_in_bf16():
    fsdp = yaml.safe_load((REPO / "accelerate" / "fsdp.yaml").read_text())
    assert fsdp["distributed_type"] == "FSDP" and fsdp["mixed_precision"] == "bf16"
    assert fsdp["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert fsdp["fsdp_config"]["fsdp_reshard_after_forward"] is True  # full shard
    for name in ("deepspeed_zero3.yaml", "deepspeed_zero3_offload.yaml"):
        zero3 = yaml.safe_load((REPO / "accelerate" / name).read_text())
        assert zero3["distributed_type"] == "DEEPSPEED"
        assert zero3["deepspeed_config"]["zero_stage"] == 3


def test_a_job_runs_through_accelerate_launch(tiny_model_ref, train_setup, caplog):
    """The multi-GPU path of the rule, on one CPU process: job file, `accelerate launch -m
    xlt.train.launch`, the child's log relayed here, exit status."""
    out = train_setup[0] / "launched"
    job = resume_job(tiny_model_ref, train_setup, out, max_steps=2)
    caplog.set_level("INFO")
    code = run_launched(job, LaunchPlan(gpus_per_node=1), base_dir=REPO, threads=1)
    assert code == 0
    assert (out / "adapter_model.safetensors").exists()
    assert "step 2/2" in caplog.text
    # Progress lines reach the console as on one process (marked, the mark itself removed).
    progress = [r.getMessage() for r in caplog.records if getattr(r, "console", False)]
    assert any("step 2/2" in line for line in progress) and "[console]" not in caplog.text
    summary = json.loads((out / "xlt_training.json").read_text())
    assert summary["steps"] == 2 and summary["processes"] == 1


@pytest.mark.parametrize(
    ("method", "expected"), [("mxfp4", "Mxfp4Config"), ("fp8", "FineGrainedFP8Config")]
)
def test_checkpoints_shipped_quantized_are_dequantized_to_train(tmp_path, method, expected):
    from transformers import AutoConfig

    from xlt.train.loop import dequantizing_config

    config = AutoConfig.for_model("llama", hidden_size=8, num_attention_heads=2)
    config.save_pretrained(tmp_path)
    ref = ModelRef(name="m", load_from=str(tmp_path), source="local")
    assert dequantizing_config(ref) is None
    record = json.loads((tmp_path / "config.json").read_text())
    record["quantization_config"] = {"quant_method": method}
    (tmp_path / "config.json").write_text(json.dumps(record))
    found = dequantizing_config(ref)
    assert found.dequantize is True
    assert type(found).__name__ == expected


@pytest.mark.skipif(
    not os.environ.get("XLT_TEST_MULTIPROCESS"),
    reason="~30 s: set XLT_TEST_MULTIPROCESS=1 to run two CPU processes (torchrun, gloo)",
)
def test_two_processes_stop_together_and_resume_identically(tiny_model_ref, train_setup):
    """The data-parallel path on CPU: SIGTERM reaches one process only, both checkpoint the same
    step, and the resumed run ends with the adapter of an uninterrupted two-process run."""
    root = train_setup[0]
    env = {**ONE_THREAD, "ACCELERATE_USE_CPU": "true"}

    def torchrun(port, *args):
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
        command += ["--master_port", str(port), *args]
        return subprocess.run(command, capture_output=True, text=True, env=env)

    reference, out = root / "ddp-reference", root / "ddp-stopped"
    for path, job in (
        (root / "ddp-reference.json", resume_job(tiny_model_ref, train_setup, reference)),
        (
            root / "ddp-stopped.json",
            resume_job(tiny_model_ref, train_setup, out, checkpoint_every=5),
        ),
    ):
        job.save(path)
    assert (
        torchrun(29531, "-m", "xlt.train.launch", str(root / "ddp-reference.json")).returncode == 0
    )
    driver = root / "ddp_driver.py"
    driver.write_text(
        textwrap.dedent(
            f"""
            import os, signal
            from xlt.train.loop import PREEMPTED_EXIT_CODE, Preempted
            from xlt.train.launch import FinetuneJob

            def sigterm_rank_1(step):
                if step == 3 and os.environ["RANK"] == "1":
                    os.kill(os.getpid(), signal.SIGTERM)

            try:
                FinetuneJob.load({str(root / "ddp-stopped.json")!r}).run(on_step=sigterm_rank_1)
            except Preempted:
                raise SystemExit(PREEMPTED_EXIT_CODE)
            """
        )
    )
    stopped = torchrun(29532, str(driver))
    assert stopped.returncode != 0 and not out.exists()
    assert sorted(p.name for p in checkpoint_root(out).glob("step-*")) == ["step-00000003"]
    assert {"rng-0.pt", "rng-1.pt"} <= {
        p.name for p in (checkpoint_root(out) / "step-00000003").iterdir()
    }
    resumed = torchrun(29533, "-m", "xlt.train.launch", str(root / "ddp-stopped.json"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert read_summary(out)["resumed_from"] == [3]
    assert_same_adapter(out, load_file(reference / "adapter_model.safetensors"))
