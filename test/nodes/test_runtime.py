"""runtime: the CPU wake-up latency request holds while open and says why when it cannot."""

import struct

import pytest

pytest.importorskip("rclpy")

from bc_ros.nodes.runtime import CpuLatencyRequest  # noqa: E402


def test_latency_request_writes_the_value_and_releases(tmp_path):
    device = tmp_path / "cpu_dma_latency"
    device.write_bytes(b"")
    request = CpuLatencyRequest(0, path=str(device))
    assert request.held and request.status == "held at 0 us"
    assert struct.unpack("i", device.read_bytes()) == (0,)
    request.close()
    assert not request.held
    request.close()   # twice is fine


def test_latency_request_without_the_device_says_why(tmp_path):
    request = CpuLatencyRequest(0, path=str(tmp_path / "absent" / "cpu_dma_latency"))
    assert not request.held
    assert request.status.startswith("not held: ") and "No such file" in request.status
