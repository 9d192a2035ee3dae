"""Side-camera augmentation (NVIDIA DAVE-2, Bojarski et al. 2016; Giusti et al. 2016).

A body-fixed side camera sees the world as the centre camera would if the robot had turned by the
camera's yaw and drifted by its lateral offset. Its frame becomes an extra training sample whose
label is the recorded command plus a correction that steers back.

Continuous mode. A camera at yaw ``psi`` (rad, positive = looks left, REP 103) and lateral offset
``d`` (m, positive = left) stands for a robot whose heading is ``psi`` too far left and whose
position is ``d`` too far left. Removing both within the declared recovery horizon ``T`` seconds
takes, on top of the recorded command,

    yaw_rate += -psi / T          (turn back right by psi within T)
    vy       += -d / T            (slide back right by d within T; robots that cannot strafe
                                   fold it into the yaw rate instead, see below)

For a robot without a lateral velocity channel (``vy`` absent) the lateral offset is turned into
an extra heading correction as a pure-pursuit controller would: with forward speed ``v`` the
offset ``d`` is removed over the distance ``v * T`` by turning towards a point ``v * T`` ahead,
i.e. an extra heading error of ``atan2(d, v * T)``, so ``yaw_rate += -atan2(d, v*T) / T``.

The corrected command is clamped to the action limits. Example: the drone's left camera
(psi = +30 deg, d = 0) with T = 2 s adds -0.26 rad/s of yaw rate (a right turn).

Discrete mode (Giusti et al.): the label is a class, ``TURN_LEFT``, ``STRAIGHT``, ``TURN_RIGHT``:
the left-looking camera's frame is labelled "turn right", the centre "straight", the
right-looking one "turn left".
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bc_ros.core.config import field

TURN_LEFT, STRAIGHT, TURN_RIGHT = 0, 1, 2
DISCRETE_LABELS = ("turn_left", "straight", "turn_right")


@dataclasses.dataclass
class SideCameraConfig:
    """How side-camera frames become training samples."""

    mode: str = field("off", "off | continuous | discrete. Off for fixed-post cameras (the arm), "
                             "whose views are inputs rather than extra samples.")
    horizon: float = field(2.0, "Recovery horizon T in seconds: the correction removes the "
                                "camera's heading and lateral offset within T.")
    yaw_threshold_deg: float = field(5.0, "discrete mode: cameras within this yaw of straight "
                                          "ahead are labelled straight.")

    def __post_init__(self):
        if self.mode not in ("off", "continuous", "discrete"):
            raise ValueError(f"side-camera mode must be off, continuous or discrete, "
                             f"got {self.mode=}")
        if not self.horizon > 0:
            raise ValueError(f"recovery horizon must be > 0 seconds, got {self.horizon=}")


def steer_back_correction(action_names, yaw_rad: float, lateral_m: float, horizon: float,
                          forward_speed=0.0) -> np.ndarray:
    """The correction added to a command for a view offset by ``yaw_rad`` and ``lateral_m``.

    ``forward_speed`` may be an array (one per command); the result then has shape
    ``speed.shape + (len(action_names),)``.
    """
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0 seconds, got {horizon=}")
    names = list(action_names)
    if "yaw_rate" not in names:
        raise ValueError(f"side-camera correction needs a yaw_rate action, got {names}")
    speed = np.asarray(forward_speed, dtype=np.float64)
    correction = np.zeros(speed.shape + (len(names),))
    heading_error = np.full(speed.shape, float(yaw_rad))
    if "vy" in names:
        correction[..., names.index("vy")] = -lateral_m / horizon
    elif lateral_m:
        heading_error = heading_error + np.arctan2(lateral_m,
                                                   np.maximum(speed, 1e-3) * horizon)
    correction[..., names.index("yaw_rate")] = -heading_error / horizon
    return correction


def augmented_label(action, action_names, yaw_rad: float, lateral_m: float, horizon: float,
                    low=None, high=None) -> np.ndarray:
    """Recorded ``action`` (A,) or (N, A) plus the steer-back correction, clamped to
    [low, high] if given."""
    action = np.asarray(action, dtype=np.float64)
    names = list(action_names)
    speed = action[..., names.index("vx")] if "vx" in names else np.zeros(action.shape[:-1])
    out = action + steer_back_correction(names, yaw_rad, lateral_m, horizon, speed)
    if low is not None and high is not None:
        out = np.clip(out, low, high)
    return out


def discrete_label(yaw_rad: float, threshold_deg: float = 5.0) -> int:
    """Giusti et al.'s three classes for a camera looking ``yaw_rad`` off the heading."""
    if yaw_rad > math.radians(threshold_deg):
        return TURN_RIGHT   # looks left: the trail is to the right of this view's heading
    if yaw_rad < -math.radians(threshold_deg):
        return TURN_LEFT
    return STRAIGHT
