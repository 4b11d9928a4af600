import pytest
import torch

from florenz.model.accounting import forward_flops
from florenz.model.sizes import get_size
from florenz.train import device
from florenz.train.device import CPU_BF16_MIN_FORWARD_FLOPS, auto_micro_batch_size, use_bf16

CPU = torch.device("cpu")
# Measured with native bf16 (dependencies.md): bf16 slower on world-xxs and world-xs, faster on world-s.
MEASURED_SLOWER, MEASURED_FASTER = ("world-xxs", "world-xs"), ("world-s",)


def test_the_threshold_lies_between_the_sizes_measured_slower_and_faster_in_bf16():
    assert max(forward_flops(get_size(size)) for size in MEASURED_SLOWER) < CPU_BF16_MIN_FORWARD_FLOPS
    assert min(forward_flops(get_size(size)) for size in MEASURED_FASTER) > CPU_BF16_MIN_FORWARD_FLOPS


@pytest.mark.parametrize(("size", "bf16"), [
    ("world-xxs", False), ("world-xs", False), ("world-xs-gemma", False),
    ("world-s", True), ("world-m", True), ("world-l", True), ("world-s-gemma", True), ("florenz-0.4b", True)])
def test_auto_picks_bf16_on_a_native_bf16_cpu_only_from_world_s_up(size, bf16, monkeypatch):
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert use_bf16("auto", CPU, get_size(size)) is bf16


def test_auto_is_fp32_on_a_cpu_that_emulates_bf16_and_bf16_on_cuda(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert not any(use_bf16("auto", CPU, get_size(size)) for size in ("world-xxs", "world-l", "florenz-1.0b"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert use_bf16("auto", torch.device("cuda"), get_size("world-xxs"))


def test_an_explicit_precision_is_obeyed_at_any_size():
    assert use_bf16("bf16", CPU, get_size("world-xxs"))
    assert not use_bf16("fp32", torch.device("cuda"), get_size("florenz-11.2b"))


@pytest.mark.parametrize(("samples", "micro"), [(32, 8), (31, 8), (12, 6), (9, 5), (8, 8), (7, 7), (1, 1)])
def test_auto_micro_batches_on_cpu_are_near_equal_and_at_most_eight(samples, micro):
    assert auto_micro_batch_size(samples, "token", CPU) == micro


def test_auto_micro_batch_is_the_whole_batch_for_the_micro_batch_loss_and_on_cuda():
    assert auto_micro_batch_size(32, "micro-batch", CPU) == 32
    assert auto_micro_batch_size(32, "token", torch.device("cuda")) == 32
