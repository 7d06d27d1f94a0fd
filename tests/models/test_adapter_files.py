"""A finished adapter whose weights were cut short or overwritten is named as damaged, before
the base model is loaded, with what to do."""

import os

import pytest
import torch
from safetensors.torch import save_file

from xlt.models.loading import DamagedAdapterError, check_adapter_files, safetensors_problem


@pytest.fixture
def adapter(tmp_path):
    directory = tmp_path / "results" / "adapters" / "m" / "ft-arabic-s0"
    directory.mkdir(parents=True)
    save_file(
        {"lora_A": torch.ones(8, 16), "lora_B": torch.zeros(16, 8)}, directory / "a.safetensors"
    )
    return directory


def test_a_whole_adapter_passes(adapter):
    assert safetensors_problem(adapter / "a.safetensors") is None
    check_adapter_files(adapter)


def test_a_cut_adapter_is_named_with_what_to_do(adapter):
    weights = adapter / "a.safetensors"
    size = weights.stat().st_size
    os.truncate(weights, size // 2)
    with pytest.raises(DamagedAdapterError) as raised:
        check_adapter_files(adapter)
    message = str(raised.value)
    assert message.startswith(f"{weights} is damaged (it is cut short: {size // 2} bytes of the ")
    assert f"the adapter {adapter} cannot be used" in message
    assert f"mkdir -p retired/m && mv {adapter} {adapter}.prov.json retired/m/" in message
    os.truncate(weights, 4)
    assert "fewer than a safetensors header needs" in safetensors_problem(weights)
    weights.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    assert safetensors_problem(weights).startswith("its header declares 1000000000 bytes")
