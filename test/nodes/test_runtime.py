"""runtime: the CPU wake-up latency request holds while open and says why when it cannot;
spin_node ends quietly on SIGINT, however many arrive."""

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


def test_spin_node_ends_with_0_however_many_sigints_arrive():
    """What Ctrl-C under `ros2 launch` does (the terminal's SIGINT, then launch's own): the
    node stops, its close() runs with the context still valid, and a SIGINT during close() is
    ignored instead of raising KeyboardInterrupt there."""
    import os
    import signal
    import time

    from rclpy.node import Node

    from bc_ros.nodes.runtime import spin_node

    events = []

    class Interrupted(Node):
        def __init__(self):
            super().__init__("interrupted")
            self.create_timer(0.01, self.ctrl_c)

        def ctrl_c(self):
            if not events:
                events.append("sigint")
                os.kill(os.getpid(), signal.SIGINT)

        def close(self):
            os.kill(os.getpid(), signal.SIGINT)      # launch's SIGINT, during the cleanup
            time.sleep(0.05)
            events.append(("close", self.context.ok()))

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        assert spin_node(Interrupted) == 0
        assert events == ["sigint", ("close", True)]
        # the process is on its way out: SIGINT stays ignored
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


def test_spin_node_gives_the_handlers_back_when_no_signal_came():
    import signal

    from rclpy.node import Node

    from bc_ros.nodes.runtime import spin_node

    class Done(Node):
        done = True

        def __init__(self):
            super().__init__("done")

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert spin_node(Done) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
