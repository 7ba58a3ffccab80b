"""Choosing device and precision: bf16 only where the CPU computes it natively."""
from __future__ import annotations

import pytest
import torch

from app import device


@pytest.fixture
def x86_cpu(monkeypatch):
    """A CPU that oneDNN says runs bf16, with the instruction-set probes under the test's control."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")

    def with_flags(avx512_bf16: bool, amx: bool) -> None:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    return with_flags


def test_avx512_without_bf16_instructions_is_not_a_bf16_cpu(x86_cpu):
    x86_cpu(avx512_bf16=False, amx=False)  # oneDNN would emulate bf16 here, ~5x slower than fp32
    assert not device.cpu_supports_bf16()
    assert device.select("cpu") == (torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("avx512_bf16, amx", [(True, False), (False, True)])
def test_native_bf16_is_chosen_on_cpu(x86_cpu, avx512_bf16, amx):
    x86_cpu(avx512_bf16=avx512_bf16, amx=amx)
    assert device.cpu_supports_bf16()
    assert device.select("cpu") == (torch.device("cpu"), torch.bfloat16)


def test_no_onednn_bf16_means_fp32(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert device.select("cpu")[1] == torch.float32


def test_an_explicit_precision_wins():
    assert device.select("cpu", "bf16")[1] == torch.bfloat16
    assert device.select("cpu", "fp32")[1] == torch.float32
