"""The protocol with real CodeCarbon on tiny workloads, and with the fake meter."""

from __future__ import annotations

import pytest
import torch

from energypred.configs import LayerConfig
from energypred.errors import ConfigError
from energypred.measurement import CodeCarbonMeter, FakeMeter, measure
from energypred.measurement import workloads as wl


@pytest.fixture(scope="module")
def codecarbon() -> CodeCarbonMeter:
    return CodeCarbonMeter()


def test_codecarbon_window_gives_joules_and_says_how(codecarbon: CodeCarbonMeter) -> None:
    cfg = LayerConfig("linear", {"in_features": 64, "out_features": 32}, (8, 64))
    with wl.workload(wl.build_layer(cfg), cfg.input_shape, "inference", False) as step:
        m = measure(step, codecarbon, window_s=0.05, repeats=3)
    assert m.energy_j > 0 and m.duration_s > 0 and m.calls_per_window >= 1
    assert len(m.energy_j_repeats) == 3 and m.energy_cv >= 0
    # energy per call = power x time per call; any real CPU+RAM draws between 0.1 W and 2 kW
    assert 0.1 < m.energy_j / m.duration_s < 2000
    assert m.energy_j == pytest.approx(m.cpu_energy_j + m.ram_energy_j + m.gpu_energy_j)
    methods = codecarbon.methods
    assert methods.meter == "codecarbon" and methods.cpu_method != "unknown"
    if methods.cpu_method.endswith("estimate"):
        assert methods.is_estimate and "estimate" in methods.describe()


def test_training_step_runs_backward_and_the_optimizer() -> None:
    cfg = LayerConfig("conv2d", {"in_channels": 4, "out_channels": 8, "kernel_size": 3},
                      (2, 4, 16, 16))
    module = wl.build_layer(cfg)
    with wl.workload(module, cfg.input_shape, "inference", True) as step:
        assert step().requires_grad is False  # no_grad forward
    before = module.weight.detach().clone()
    with wl.workload(module, cfg.input_shape, "training", True) as step:
        step()
        assert module.weight.grad is not None and module.weight.grad.shape == (8, 4, 3, 3)
        step()  # the second step sees a momentum buffer
    assert not torch.equal(before, module.weight.detach())  # the optimizer stepped


def test_window_is_calibrated_to_the_requested_length() -> None:
    m = measure(lambda: sum(range(2000)), FakeMeter(), window_s=0.1, repeats=2)
    assert m.calls_per_window > 10
    assert 0.03 < m.window_s < 0.3  # the fixed call count lands near the target window


def test_fake_meter_energy_is_power_times_time() -> None:
    m = measure(lambda: None, FakeMeter(cpu_power_w=8, ram_power_w=20), window_s=0.02, repeats=2)
    assert m.power_w == pytest.approx(28.0, rel=1e-6)


def test_bad_protocol_arguments() -> None:
    with pytest.raises(ConfigError):
        measure(lambda: None, FakeMeter(), window_s=0, repeats=1)


def test_combine_pools_the_windows_of_both_halves_of_a_bracket() -> None:
    from energypred.measurement.protocol import Measurement, combine

    def m(e: list[float]) -> Measurement:
        return Measurement(sum(e) / len(e), 0.2, 0.8, 0.0, 0.01, e, [0.01] * len(e), 0.0, 10,
                           len(e), 0.1, 0.02, 8.0, 28.0)

    # before: 1.0, 1.0, 1.0 J; after: 1.2, 1.2, 1.2 J -> mean 1.1 J over six windows,
    # CV = stdev(1,1,1,1.2,1.2,1.2) / 1.1 = 0.10954 / 1.1 = 0.0996
    c = combine(m([1.0] * 3), m([1.2] * 3))
    assert c.energy_j == pytest.approx(1.1) and c.repeats == 6
    assert c.energy_j_repeats == [1.0] * 3 + [1.2] * 3
    assert c.energy_cv == pytest.approx(0.0996, abs=1e-4)
    assert c.warmup_s == pytest.approx(0.04)


def test_combine_pools_any_number_of_measurements() -> None:
    from energypred.measurement.protocol import Measurement, combine

    def m(e: list[float], warm: float) -> Measurement:
        return Measurement(sum(e) / len(e), 0.2, 0.8, 0.0, 0.01, e, [0.01] * len(e), 0.0, 10,
                           len(e), 0.1, warm, 8.0, 28.0)

    # 1.0 J x 2, 2.0 J x 2, 3.0 J x 2 windows -> 2.0 J over six windows; warm-ups add up
    c = combine(m([1.0] * 2, 0.01), m([2.0] * 2, 0.02), m([3.0] * 2, 0.03))
    assert c.energy_j == pytest.approx(2.0) and c.repeats == 6
    assert c.energy_j_repeats == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    assert c.warmup_s == pytest.approx(0.06)
    with pytest.raises(ValueError):
        combine()


def test_the_guard_counts_every_output_of_a_network_when_the_heap_keeps_freed_pages() -> None:
    from energypred.layers import LayerCounts
    from energypred.tracing import TracedLayer

    def leaf(i: int, kind: str, n_in: int, n_out: int, n_w: int,
             **params: object) -> TracedLayer:
        counts = LayerCounts(macs=0, input_elements=n_in, output_elements=n_out,
                             weight_elements=n_w, window_ops=0, bytes_read=0, bytes_written=0)
        return TracedLayer(i, f"l{i}", kind, (n_in,), (n_out,), kind, dict(params), counts)

    # input 50 elements -> conv (10 weights) 100 -> in-place relu 100 -> pool 25
    # -> conv (20 weights) 200
    traced = [leaf(0, "conv2d", 50, 100, 10), leaf(1, "relu", 100, 100, 0, inplace=True),
              leaf(2, "maxpool2d", 100, 25, 0), leaf(3, "conv2d", 25, 200, 20)]
    rates = wl.MachineRates(1.0, 1.0)
    # live tensors: weights 30 + the largest input+output pair (last conv: 25 + 200) = 255 x 4 B
    assert wl.estimate_arch(traced, "inference", rates).memory_bytes == 1020
    # every allocation kept: weights 30 + input 50 + conv 100 + pool 25 + conv 200 (the
    # in-place relu allocates nothing) = 405 x 4 B = 1620 B, x 1.3 for what the heap adds
    assert wl.HEAP_KEPT_FACTOR == 1.3
    assert wl.estimate_arch(traced, "inference", rates, heap_kept=True).memory_bytes == 2106
    # never less than the live tensors: a lone in-place leaf allocates nothing (input 100 x 4 B
    # x 1.3 = 520 B) but holds 2 x 100
    lone = [leaf(0, "relu", 100, 100, 0, inplace=True)]
    assert wl.estimate_arch(lone, "inference", rates, heap_kept=True).memory_bytes == 800
    # training keeps every output either way: 3 x 30 + 3 x (100 + 100 + 25 + 200) = 1365 x 4 B
    for kept in (False, True):
        assert wl.estimate_arch(traced, "training", rates, heap_kept=kept).memory_bytes == 5460
