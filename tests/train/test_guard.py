"""What the adapter guard says when a plan would retrain a finished adapter."""

import json

import pytest

from xlt.io import sha256_path
from xlt.train.guard import AdapterRebuildError, PlannedTraining, explain_rebuild, refuse_rebuilds


@pytest.fixture
def finished(tmp_path):
    """A finished adapter with its sidecar: trained with r = 8 on one train file."""
    adapter = tmp_path / "ft-arabic-s0"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    train = tmp_path / "train.jsonl"
    train.write_text('{"id": "1"}\n', encoding="utf-8")
    record = {
        "params": {"lora": {"r": 8}},
        "inputs": {"train": [{"path": str(train), "sha256": sha256_path(train)}]},
    }
    (tmp_path / "ft-arabic-s0.prov.json").write_text(json.dumps(record), encoding="utf-8")
    return adapter, train


def test_a_changed_setting_is_named(finished):
    adapter, train = finished
    plan = PlannedTraining(str(adapter), {"lora": {"r": 16}}, {"train": [str(train)]})
    assert "(lora.r: 8 → 16)" in explain_rebuild(plan)


def test_a_code_change_says_the_settings_and_data_are_the_same(finished):
    adapter, train = finished
    plan = PlannedTraining(
        str(adapter), {"lora": {"r": 8}}, {"train": [str(train)]}, "Code has changed since last"
    )
    message = explain_rebuild(plan)
    assert "the finetune rule's code changed since it was trained" in message
    assert f"snakemake --touch {adapter}" in message
    with pytest.raises(AdapterRebuildError, match="finished adapter"):
        refuse_rebuilds([plan])


def test_no_finished_adapter_nothing_to_refuse(tmp_path):
    plan = PlannedTraining(str(tmp_path / "new"), {}, {})
    assert explain_rebuild(plan) is None
    refuse_rebuilds([plan])


def test_a_code_change_can_be_kept_without_retraining_or_reevaluating(finished):
    adapter, train = finished
    plan = PlannedTraining(
        str(adapter), {"lora": {"r": 8}}, {"train": [str(train)]}, "Code has changed since last"
    )
    assert "`--rerun-triggers mtime params input`" in explain_rebuild(plan)


def test_a_damaged_model_marker_is_named_as_damaged(finished, tmp_path):
    adapter, train = finished
    marker = tmp_path / "demo-dense.json"
    marker.write_text('{"name": "demo-dense",\n "load_from": ', encoding="utf-8")
    plan = PlannedTraining(
        str(adapter), {"lora": {"r": 8}}, {"model": str(marker), "train": [str(train)]}
    )
    message = explain_rebuild(plan)
    assert message.startswith(
        f"{adapter} is a finished adapter and this run would retrain it, because an input "
        f"changed: {marker}:2: not valid JSON (Expecting value). That file is damaged, "
        "not changed, and the adapter is intact: restore"
    ), message


def test_deleting_all_output_is_refused_while_a_finished_adapter_exists(finished, tmp_path):
    from xlt.train.guard import refuse_output_deletion

    adapter, _ = finished
    unfinished = tmp_path / "ft-arabic-s1"
    refuse_output_deletion([str(unfinished)], only_temp=False)  # nothing finished: allowed
    for only_temp, option in ((False, "--delete-all-output"), (True, "--delete-temp-output")):
        with pytest.raises(AdapterRebuildError) as raised:
            refuse_output_deletion([str(unfinished), str(adapter)], only_temp=only_temp)
        message = str(raised.value)
        assert message == (
            f"snakemake {option} is refused while the workflow has finished adapters (1: "
            f"{adapter}): no Snakemake command deletes a finished adapter. To retire one, move "
            f"it and its sidecar out of results/ by hand (mkdir -p retired/{tmp_path.name} && "
            f"mv {adapter} {adapter}.prov.json retired/{tmp_path.name}/); once none is left, "
            "the command runs."
        ), message
        assert "\n" not in message


def test_a_forced_rerun_is_named_as_forced(finished):
    adapter, train = finished
    plan = PlannedTraining(
        str(adapter), {"lora": {"r": 8}}, {"train": [str(train)]}, reason="Forced execution"
    )
    message = explain_rebuild(plan)
    assert "(the command forces it: --forcerun, --forceall, -R or --forcetargets)" in message
    assert "run without forcing it" in message
