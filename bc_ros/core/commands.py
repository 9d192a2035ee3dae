"""Command checking and latching, shared by the sim, policy and DAgger nodes (ROS-free).

``CommandFilter`` decides what happens to an incoming command vector: non-finite values and wrong
lengths are rejected (counted, with the reason), out-of-range values are clamped (counted).
``CommandLatch`` decides which command to apply on the next control step, in real time (latest
fresh command, else the stop command) or in lockstep (exactly one step per command received after
the observation was published, with a timeout policy). Time comes in as an argument.
``StopCommand`` says what "stop" is for a command interface (velocity: the stop vector;
position: hold the last position commanded).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bc_ros.core.messages import COMMAND_INTERFACES

TIMEOUT_POLICIES = ("wait", "hold", "stop")


@dataclasses.dataclass
class FilterResult:
    action: np.ndarray | None  # None when rejected
    clamped: bool = False
    reason: str = ""           # why it was rejected or clamped


class CommandFilter:
    """Reject non-finite or mis-sized commands; clamp the rest to [low, high]."""

    def __init__(self, names, low, high):
        self.names = tuple(names)
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if not (self.low.shape == self.high.shape == (len(self.names),)):
            raise ValueError(f"limits must have one value per name {self.names}, got "
                             f"low={self.low.tolist()} high={self.high.tolist()}")
        if np.any(self.low > self.high):
            raise ValueError(f"low must be <= high, got low={self.low.tolist()} "
                             f"high={self.high.tolist()}")
        self.counts = {"accepted": 0, "clamped": 0, "rejected_nonfinite": 0, "rejected_shape": 0}

    def __call__(self, values) -> FilterResult:
        a = np.asarray(values, dtype=np.float64).reshape(-1)
        if a.shape != (len(self.names),):
            self.counts["rejected_shape"] += 1
            return FilterResult(None, reason=f"expected {len(self.names)} values "
                                             f"({', '.join(self.names)}), got {a.size}")
        bad = ~np.isfinite(a)
        if bad.any():
            self.counts["rejected_nonfinite"] += 1
            names = [n for n, b in zip(self.names, bad) if b]
            return FilterResult(None, reason=f"non-finite value in {names}: {a.tolist()}")
        clipped = np.clip(a, self.low, self.high)
        self.counts["accepted"] += 1
        if np.any(clipped != a):
            self.counts["clamped"] += 1
            names = [n for n, c, v in zip(self.names, clipped, a) if c != v]
            return FilterResult(clipped, clamped=True,
                                reason=f"clamped {names} to the limits "
                                       f"[{self.low.tolist()}, {self.high.tolist()}]")
        return FilterResult(clipped)


class CommandLatch:
    """Which command the next control step applies.

    Real time (``lockstep=False``): the latest command if it is at most ``timeout`` seconds old,
    else ``stop`` (the robot must not keep flying on a command from a silent source).

    Lockstep: a step happens only for a command that arrived after ``tick_started()`` (the
    observation for this tick went out). If none came within ``timeout`` seconds the policy
    decides: ``wait`` keeps waiting (``take`` returns None), ``hold`` repeats the last command
    (or ``stop`` if there was none), ``stop`` applies ``stop``.
    """

    def __init__(self, stop, *, lockstep: bool, timeout: float, policy: str = "stop"):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout=}")
        if policy not in TIMEOUT_POLICIES:
            raise ValueError(f"timeout policy must be one of {TIMEOUT_POLICIES}, got {policy=}")
        self.stop = np.asarray(stop, dtype=np.float64)
        self.lockstep = lockstep
        self.timeout = float(timeout)
        self.policy = policy
        self._last: np.ndarray | None = None
        self._last_time = -np.inf
        self._pending: np.ndarray | None = None
        self._tick_start = 0.0
        self.timeouts = 0  # steps taken without a fresh command

    def put(self, action, now: float) -> None:
        self._last = np.asarray(action, dtype=np.float64)
        self._last_time = now
        if self.lockstep:
            self._pending = self._last

    def tick_started(self, now: float) -> None:
        """The observation for a new tick was published: wait for its command from now on."""
        self._tick_start = now
        self._pending = None

    def take(self, now: float) -> np.ndarray | None:
        """The command to apply now, or None when lockstep is still waiting."""
        if not self.lockstep:
            if self._last is not None and now - self._last_time <= self.timeout:
                return self._last
            self.timeouts += 1
            return self.stop
        if self._pending is not None:
            action, self._pending = self._pending, None
            return action
        if now - self._tick_start < self.timeout or self.policy == "wait":
            return None
        self.timeouts += 1
        if self.policy == "hold" and self._last is not None:
            return self._last
        return self.stop


class StopCommand:
    """What a node sends to stop the robot, for its command interface (velocity | position).

    velocity: the robot's stop vector (zeros clipped to the limits, or the configured one), in
    every command type: a Twist, a JointState, a Float64MultiArray or a one-point
    JointTrajectory of those velocities.

    position: a position is a place to go, not a stop: any fixed vector (zeros) would drive the
    robot there. Stopping is holding where the robot is, and what a node that does not read the
    robot's joint state knows of that is the last position it commanded, which the controller is
    tracking: ``command()`` returns it (for a trajectory, its first point: the position due
    now), so the robot ends the move it was on and goes no further. Before the node has
    commanded anything there is nothing to hold: ``command()`` is None and the node sends
    nothing (the controller holds where it started: joint_trajectory_controller holds its
    position on activation). An empty JointTrajectory is no stop either: ros2_control's
    joint_trajectory_controller refuses it ("Empty trajectory received"), whatever its older
    docs say about cancelling.
    """

    def __init__(self, stop, interface: str = "velocity"):
        if interface not in COMMAND_INTERFACES:
            raise ValueError(f"unknown command interface {interface!r}; valid interfaces: "
                             f"{', '.join(COMMAND_INTERFACES)}")
        self.stop = np.asarray(stop, dtype=np.float64).reshape(-1)
        self.interface = interface
        self._last: np.ndarray | None = None   # position: the last position commanded

    def sent(self, command) -> None:
        """A command other than the stop went out (a chunk: its first action is due now)."""
        a = np.asarray(command, dtype=np.float64)
        self._last = (a[0] if a.ndim == 2 else a).reshape(-1).copy()

    def command(self) -> np.ndarray | None:
        """The stop to send now; None: send nothing (position, nothing commanded yet)."""
        if self.interface == "velocity":
            return self.stop.copy()
        return None if self._last is None else self._last.copy()
