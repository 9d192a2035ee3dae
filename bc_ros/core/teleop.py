"""Teleoperation mapping (ROS-free): joystick axes and keyboard keys -> command + engaged flag.

Joystick: each action dimension reads one axis (``joy_axes``, -1 = unused) times its scale; the
deadman button must be held for ``engaged`` to be true (and for any non-zero command: a released
deadman always gives the stop command). Keyboard: terminals report presses, not releases, so a
key press drives its dimension for ``key_hold`` seconds (key repeat keeps it going while held);
space toggles ``engaged``; ``x`` stops everything at once.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bc_ros.core.config import field


@dataclasses.dataclass
class TeleopConfig:
    """Parameters of ``teleop_node`` (and ``bc-ros teleop``)."""

    action_names: list[str] = field(["vx", "vy", "vz", "yaw_rate"],
                                    "Command dimensions, in order (drone: vx vy vz yaw_rate; "
                                    "arm: vx vy vz).")
    scales: list[float] = field([1.5, 1.0, 0.5, 1.0], "Command at full stick / key press, per "
                                                      "dimension (m/s, rad/s).")
    joy_axes: list[int] = field([1, 0, 4, 3], "Joy axis index per dimension (-1 = none).")
    joy_deadman_button: int = field(4, "Joy button that must be held to engage (LB on an Xbox "
                                       "pad).")
    joy_deadzone: float = field(0.05, "Axis values below this magnitude read as zero.")
    joy_timeout: float = field(0.5, "Seconds without a Joy message after which the command "
                                    "drops to stop and engaged to false.")
    keyboard: bool = field(True, "Read keys from the terminal (when stdin is a terminal).")
    keys: list[str] = field(["ws", "ad", "rf", "qe"], "Per dimension, the key for + and the key "
                                                       "for - (e.g. 'ws': w forward, s back).")
    key_hold: float = field(0.3, "Seconds one key press drives its dimension.")
    rate_hz: float = field(20.0, "Rate of expert/cmd and expert/engaged.")
    command_type: str = field("twist", "Message type of expert/cmd: twist, twist_stamped "
                                       "(cmd_vel from Jazzy on), float64_multi_array, "
                                       "joint_state, joint_trajectory (velocities: sticks and "
                                       "keys command rates).")

    def __post_init__(self):
        n = len(self.action_names)
        for name in ("scales", "joy_axes", "keys"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} needs one entry per action name {self.action_names}, "
                                 f"got {name}={getattr(self, name)}")
        if any(len(k) != 2 for k in self.keys):
            raise ValueError(f"each keys entry is two characters (+ key, - key), got {self.keys=}")
        if self.rate_hz <= 0 or self.key_hold <= 0 or self.joy_timeout <= 0:
            raise ValueError(f"rate_hz, key_hold and joy_timeout must be > 0, got "
                             f"{self.rate_hz=} {self.key_hold=} {self.joy_timeout=}")


class JoyMapper:
    """sensor_msgs/Joy axes and buttons -> (command, engaged)."""

    def __init__(self, config: TeleopConfig):
        self.axes = list(config.joy_axes)
        self.scales = np.asarray(config.scales, dtype=np.float64)
        self.deadman = config.joy_deadman_button
        self.deadzone = config.joy_deadzone

    def __call__(self, axes, buttons) -> tuple[np.ndarray, bool]:
        needed = max(self.axes)
        if needed >= len(axes):
            raise ValueError(f"Joy message has {len(axes)} axes, the mapping reads axis {needed}")
        if self.deadman >= len(buttons):
            raise ValueError(f"Joy message has {len(buttons)} buttons, the deadman is button "
                             f"{self.deadman}")
        engaged = bool(buttons[self.deadman])
        raw = np.array([axes[i] if i >= 0 else 0.0 for i in self.axes], dtype=np.float64)
        raw[np.abs(raw) < self.deadzone] = 0.0
        command = np.clip(raw, -1.0, 1.0) * self.scales
        return (command if engaged else np.zeros_like(command)), engaged


class KeyboardTeleop:
    """Key presses -> command; ``now`` is passed in so the hold logic is testable."""

    def __init__(self, config: TeleopConfig):
        self.bindings = {}
        for i, (plus, minus) in enumerate(config.keys):
            self.bindings[plus] = (i, 1.0)
            self.bindings[minus] = (i, -1.0)
        self.scales = np.asarray(config.scales, dtype=np.float64)
        self.hold = config.key_hold
        self.engaged = False
        self._until = np.full(len(self.scales), -np.inf)
        self._sign = np.zeros(len(self.scales))

    def press(self, key: str, now: float) -> bool:
        """Handle one key; returns False for keys that mean nothing."""
        if key == " ":
            self.engaged = not self.engaged
            return True
        if key == "x":
            self._until[:] = -np.inf
            return True
        if key not in self.bindings:
            return False
        i, sign = self.bindings[key]
        self._sign[i] = sign
        self._until[i] = now + self.hold
        return True

    def command(self, now: float) -> np.ndarray:
        active = now < self._until
        return np.where(active, self._sign * self.scales, 0.0)

    def help(self) -> str:
        pairs = [f"{k[0]}/{k[1]}" for k in self.bindings_by_dim()]
        return f"keys {' '.join(pairs)}; space: engage/release; x: stop"

    def bindings_by_dim(self) -> list[str]:
        plus = {i: k for k, (i, s) in self.bindings.items() if s > 0}
        minus = {i: k for k, (i, s) in self.bindings.items() if s < 0}
        return [plus[i] + minus[i] for i in range(len(self.scales))]
