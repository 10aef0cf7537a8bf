"""The benchmark report's per-multiply-accumulate ratios (arithmetic only; no timing happens in tests)."""
from __future__ import annotations

import pytest

from benchmarks.__main__ import per_mac_rows


def test_ratios_divide_time_ratio_by_mac_ratio():
    training = [{"model": "VideoPose3D", "frames": 27, "windows_per_s": 2000.0, "macs": 4e6},
                {"model": "EHFusion stage 3", "frames": 27, "windows_per_s": 1000.0, "macs": 2e6}]
    inference = [{"model": "VideoPose3D", "frames": 27, "sequence_fps": 8000.0, "sequence_macs": 1e6,
                  "latency_ms_median": 2.0, "stream_macs": 4e6},
                 {"model": "EHFusion stage 3", "frames": 27, "sequence_fps": 2000.0, "sequence_macs": 2e6,
                  "latency_ms_median": 4.0, "stream_macs": 2e6}]
    (row,) = per_mac_rows(training, inference)
    assert row["model"] == "EHFusion stage 3" and row["frames"] == 27
    assert row["training"] == pytest.approx((2000 / 1000) / (2e6 / 4e6))   # twice the time for half the MACs: 4x
    assert row["sequence"] == pytest.approx((8000 / 2000) / (2e6 / 1e6))   # 2x
    assert row["streaming"] == pytest.approx((4.0 / 2.0) / (2e6 / 4e6))    # 4x


def test_missing_sections_leave_the_ratio_out():
    training = [{"model": "VideoPose3D", "frames": 81, "windows_per_s": 10.0, "macs": 1.0},
                {"model": "EHFusion one-stage", "frames": 81, "windows_per_s": 10.0, "macs": 1.0}]
    (row,) = per_mac_rows(training, None)
    assert row["training"] == pytest.approx(1.0) and "sequence" not in row


def test_roofline_fraction_and_products_per_mac():
    from benchmarks.__main__ import roofline_rows

    measured = [{"model": "VideoPose3D", "macs": 4_000_000, "batch": 1000, "step_s": 0.48, "products_s": 0.2,
                 "profiled_s": 0.5, "activations": 10_000},
                {"model": "EHFusion stage 3", "macs": 2_000_000, "batch": 1000, "step_s": 0.6, "products_s": 0.2,
                 "profiled_s": 0.8, "activations": 15_000}]
    base, ehf = roofline_rows(measured, rate_gflops=100.0)
    assert base["bound_s"] == pytest.approx(6 * 4e6 * 1000 / 100e9)        # 0.24 s
    assert base["fraction"] == pytest.approx(0.5) and base["times_bound"] == pytest.approx(2.0)
    assert ehf["fraction"] == pytest.approx(0.12 / 0.6)
    assert ehf["products_share"] == pytest.approx(0.25)
    assert base["products_per_mac_ratio"] == pytest.approx(1.0)
    assert ehf["products_per_mac_ratio"] == pytest.approx(2.0)              # same product time for half the MACs
    assert ehf["activations_per_mac_ratio"] == pytest.approx((15_000 / 2e6) / (10_000 / 4e6))   # 3x
    assert ehf["rest_per_activation_ratio"] == pytest.approx((0.6 / 15_000) / (0.3 / 10_000))   # 4/3
