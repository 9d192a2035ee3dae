"""The interface every bc_ros simulation implements, and the pieces they share.

A sim is a gymnasium-style environment without the gymnasium dependency:

    obs = env.reset(seed)                       # dict, see below
    obs, reward, terminated, truncated, info = env.step(action)
    info["success"]   # bool: the task was completed on this step
    info["failure"]   # None or one of FAILURE_CAUSES: why the episode ended badly

An observation is ``{"images": {name: uint8 (H, W, 3)}, "state": float32 (S,)}``, with one image per
name in ``env.camera_names`` (always ``("left", "center", "right")``) and ``state`` laid out as
``env.state_names``. Actions are float vectors laid out as ``env.action_names`` and bounded by
``env.action_low`` / ``env.action_high``; ``step`` clamps to those bounds and raises ``ValueError``
on a wrong shape or a non-finite value (the ROS node filters those first, with a log).

Each env owns its scripted expert's privileged view: ``env.expert_action()`` is the clean command
the expert would send now. Noise injection for recovery data lives in ``experts.py`` and works for
every env.

Seeds: procedural variation comes only from the seed given to ``reset``; the same seed gives the
same world, the same images and, with the same actions, the same trajectory. Training seeds and
held-out evaluation seeds are disjoint ranges (``TRAIN_SEEDS``, ``EVAL_SEEDS``).
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np

CAMERA_NAMES = ("left", "center", "right")

# Why an episode ended badly. Envs report exactly these strings in info["failure"].
FAILURE_CAUSES = ("trail_exit", "collision", "timeout", "dropped", "workspace_exit")

# Seeds 0..999_999 are for collecting training data; evaluation uses 1_000_000 and up, so a policy
# is never evaluated on a world it was trained in.
TRAIN_SEEDS = range(0, 1_000_000)
EVAL_SEEDS = range(1_000_000, 2_000_000)


def train_seeds(n: int, start: int = 0) -> list[int]:
    """The first ``n`` training seeds from ``start`` on."""
    return [TRAIN_SEEDS[start + i] for i in range(n)]


def eval_seeds(n: int, start: int = 0) -> list[int]:
    """The first ``n`` held-out evaluation seeds from ``start`` on."""
    return [EVAL_SEEDS[start + i] for i in range(n)]


@dataclasses.dataclass(frozen=True)
class CameraSpec:
    """A camera rigidly attached to the robot body (drone) or to the world (arm).

    Attributes:
        name: one of CAMERA_NAMES.
        position: (x, y, z) in metres, in the body frame (drone) or world frame (arm).
        yaw_deg: rotation about +z from the forward axis, degrees; positive looks left (REP 103).
        pitch_deg: rotation about the camera's left axis, degrees; positive looks down.
        fov_deg: vertical field of view, degrees.
        lateral_offset: metres to the left of the body's centre line (used by side-camera
            augmentation; equal to position[1] for body-fixed cameras).
    """

    name: str
    position: tuple[float, float, float]
    yaw_deg: float
    pitch_deg: float = 0.0
    fov_deg: float = 60.0
    target: tuple[float, float, float] | None = None  # world-fixed cameras: look-at point

    @property
    def lateral_offset(self) -> float:
        return float(self.position[1])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_image_size(width: int, height: int) -> None:
    """Images go from 32x32 up to 640x480; anything else is refused with the allowed range."""
    if not (32 <= width <= 640 and 32 <= height <= 480):
        raise ValueError(
            f"image size must be between 32x32 and 640x480, got {width=} {height=}")


class SimEnv(abc.ABC):
    """Base class of the drone and arm simulations. See the module docstring for the contract."""

    robot: str = ""
    tasks: tuple[str, ...] = ()
    camera_names: tuple[str, ...] = CAMERA_NAMES
    # what the sim node publishes the state as: "odometry" (``odometry()``, on odom) or
    # "joint_state" (``joint_state()``, on joint_states)
    state_type: str = ""
    # teleop_node's parameters for this robot (bc-ros teleop --robot R): axes, keys, scales
    # per action; {} = teleop_node's defaults (the drone's four)
    teleop: dict = {}
    # the tasks that have a commanded goal (``goal_point``), and those whose data is for
    # goal-conditioned policies (``achieved_goal``: where the robot is in the goals' terms)
    goal_tasks: tuple[str, ...] = ()
    achieved_goal_tasks: tuple[str, ...] = ()
    action_names: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ()
    action_low: np.ndarray
    action_high: np.ndarray
    control_dt: float = 0.1  # seconds of sim time per step()

    def __init__(self, task: str, image_size: tuple[int, int] = (96, 96)):
        if task not in self.tasks:
            raise ValueError(
                f"unknown {self.robot} task {task!r}; valid tasks: {', '.join(self.tasks)}")
        check_image_size(*image_size)
        self.task = task
        self.image_size = (int(image_size[0]), int(image_size[1]))  # (width, height)

    # ---- the gym-style API -----------------------------------------------------------------
    @abc.abstractmethod
    def reset(self, seed: int) -> dict:
        """Build the world for ``seed`` and return the first observation."""

    @abc.abstractmethod
    def step(self, action) -> tuple[dict, float, bool, bool, dict]:
        """Apply ``action`` for ``control_dt`` seconds of sim time."""

    @abc.abstractmethod
    def expert_action(self) -> np.ndarray:
        """The scripted expert's clean command for the current state (privileged information)."""

    def tracking_error(self) -> tuple[float, float]:
        """(lateral m, heading rad) of the robot from the expert's reference path (privileged
        information): what a person watching the robot judges, for ``SimulatedHuman``. A sim
        without a reference path does not override this."""
        raise NotImplementedError(f"the {self.robot} sim has no reference path to measure a "
                                  f"tracking error from (the drone has one)")

    def goal_point(self) -> np.ndarray | None:
        """The commanded goal (x, y, z, m) of a goal-conditioned task; None when the task has
        none (the sim node publishes it on ``goal``)."""
        return None

    def set_goal(self, point) -> None:
        """A new goal for a goal-conditioned task (ValueError when it takes none or the point
        is unusable)."""
        raise ValueError(f"the {self.robot}'s {self.task} task takes no goal")

    def achieved_goal(self) -> np.ndarray | None:
        """Where the robot is, in the goals' terms (x, y, z, m), for hindsight relabeling;
        None when the sim has no such point (the sim node publishes it on ``achieved_goal``)."""
        return None

    @abc.abstractmethod
    def camera_specs(self) -> tuple[CameraSpec, ...]:
        """Pose and intrinsics of each camera, in ``camera_names`` order."""

    @abc.abstractmethod
    def render_overview(self, width: int = 480, height: int = 360) -> np.ndarray:
        """A third-person view of the whole scene (uint8 HxWx3), for snapshots and videos."""

    def close(self) -> None:
        """Release the physics client."""

    # ---- shared helpers ---------------------------------------------------------------------
    @property
    def sim_time(self) -> float:
        """Seconds of simulated time since reset."""
        return self._steps * self.control_dt

    @property
    def max_steps(self) -> int:
        """Steps after which an episode is truncated (timeout)."""
        return self._max_steps

    def check_action(self, action) -> np.ndarray:
        """Shape and finiteness check, then clamp to the limits. Returns float64 (A,)."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (len(self.action_names),):
            raise ValueError(
                f"{self.robot} action must have {len(self.action_names)} values "
                f"({', '.join(self.action_names)}), got shape {np.shape(action)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{self.robot} action must be finite, got {a.tolist()}")
        return np.clip(a, self.action_low, self.action_high)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
