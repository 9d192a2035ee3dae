import numpy as np
import pytest

from bc_ros.core.commands import CommandFilter, CommandLatch, StopCommand

NAMES = ("vx", "vy", "vz", "yaw_rate")
LOW = [-1.0, -1.5, -1.0, -1.5]
HIGH = [3.0, 1.5, 1.0, 1.5]


def test_filter_clamps_out_of_range_and_says_which():
    f = CommandFilter(NAMES, LOW, HIGH)
    r = f([10.0, 0.0, -5.0, 0.5])
    assert r.clamped and r.action.tolist() == [3.0, 0.0, -1.0, 0.5]
    assert "vx" in r.reason and "vz" in r.reason and "vy" not in r.reason
    assert f.counts["clamped"] == 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_filter_rejects_non_finite(bad):
    f = CommandFilter(NAMES, LOW, HIGH)
    r = f([0.0, bad, 0.0, 0.0])
    assert r.action is None and "vy" in r.reason
    assert f.counts["rejected_nonfinite"] == 1


def test_filter_rejects_wrong_length_naming_the_expected_form():
    f = CommandFilter(NAMES, LOW, HIGH)
    r = f([1.0, 2.0])
    assert r.action is None and "expected 4 values" in r.reason and "yaw_rate" in r.reason


def test_realtime_latch_falls_back_to_stop_when_commands_go_stale():
    latch = CommandLatch([0, 0], lockstep=False, timeout=0.5)
    assert latch.take(0.0).tolist() == [0, 0]
    latch.put([1.0, 2.0], now=1.0)
    assert latch.take(1.4).tolist() == [1.0, 2.0]
    assert latch.take(1.6).tolist() == [0, 0]


def test_lockstep_latch_steps_once_per_command():
    latch = CommandLatch([0], lockstep=True, timeout=1.0, policy="wait")
    latch.tick_started(0.0)
    assert latch.take(0.1) is None
    latch.put([0.3], now=0.2)
    assert latch.take(0.2).tolist() == [0.3]
    assert latch.take(0.2) is None  # the same command does not step twice
    latch.tick_started(0.3)
    assert latch.take(5.0) is None  # "wait" never steps without a command


@pytest.mark.parametrize("policy,expected", [("hold", [0.3]), ("stop", [0.0])])
def test_lockstep_timeout_policies(policy, expected):
    latch = CommandLatch([0], lockstep=True, timeout=1.0, policy=policy)
    latch.put([0.3], now=0.0)
    latch.tick_started(0.1)
    assert latch.take(0.5) is None
    assert latch.take(1.2).tolist() == expected
    assert latch.timeouts == 1


def test_latch_rejects_bad_settings():
    with pytest.raises(ValueError, match="policy"):
        CommandLatch([0], lockstep=True, timeout=1.0, policy="maybe")
    with pytest.raises(ValueError, match="timeout"):
        CommandLatch([0], lockstep=True, timeout=0.0)


# ---- the stop command per interface ---------------------------------------------------------
def test_velocity_stop_is_the_stop_vector_whatever_was_sent():
    stop = StopCommand([0.0, 0.0, -0.2, 0.0], "velocity")
    assert stop.command().tolist() == [0.0, 0.0, -0.2, 0.0]
    stop.sent([1.0, 1.0, 1.0, 1.0])
    assert stop.command().tolist() == [0.0, 0.0, -0.2, 0.0]


def test_position_stop_holds_the_last_position_commanded():
    """A zero position is a place to go, not a stop: the stop repeats the position the robot
    was last sent to (of a chunk, its first point: the one due now); before any, nothing."""
    stop = StopCommand([0.0] * 4, "position")
    assert stop.command() is None
    stop.sent([0.5, -0.1, 0.2, 0.0])
    assert stop.command().tolist() == [0.5, -0.1, 0.2, 0.0]
    stop.sent(np.array([[0.6, 0.0, 0.2, 0.0], [0.7, 0.0, 0.2, 0.0]]))
    assert stop.command().tolist() == [0.6, 0.0, 0.2, 0.0]
    stop.command()[0] = 99.0                       # a copy: the caller cannot change it
    assert stop.command()[0] == 0.6


def test_stop_refuses_an_unknown_interface():
    with pytest.raises(ValueError, match="unknown command interface 'effort'"):
        StopCommand([0.0], "effort")
