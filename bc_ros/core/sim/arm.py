"""Franka Panda arm on a table (PyBullet): reach around an obstacle, push a cube to a goal, reach a
commanded goal point, or move about in unlabelled play.

Frames and units (REP 103): the world frame is the robot base frame, origin at the Panda's base on
the table top (z = 0), x forward over the table, y left, z up; metres, seconds, radians.

Action: Cartesian velocity of the grasp point (between the fingertips), ``("vx", "vy", "vz")`` in
m/s in the world frame, each within +-``MAX_SPEED``; with ``gripper=True`` a fourth value
``"gripper"`` in [0, 1] is the commanded opening as a fraction of fully open (0 = closed; without
the flag the fingers stay closed). Each step integrates the velocity into a target position for
``control_dt`` seconds, clamps it to the workspace box ``WORKSPACE_LOW``..``WORKSPACE_HIGH`` (and
to within ``MAX_LEAD`` of the actual grasp point, so a blocked arm does not wind up), solves damped
least-squares IK for it with the hand pointing straight down, and drives the joints there with
position control over ``round(240 / control_hz)`` physics substeps at ~240 Hz.

State (float32): ``q1..q7`` arm joint angles (rad), ``finger1, finger2`` finger positions (m),
``ee_x, ee_y, ee_z`` grasp-point position (m, world frame).

Cameras: three world-fixed cameras at the front of the table (left = +y, center, right), looking
back at the workspace and the arm (``arm_scene.CAMERA_POSES``).

Tasks, varied per seed (positions, sizes, colours):
    reach_around  a target marker hangs behind a pillar that is taller than the workspace ceiling;
                  success: grasp point within ``REACH_TOLERANCE`` of it; failure "collision" when
                  any part of the arm touches the pillar (also the forearm, which passes over the
                  pillar when the hand is low behind it). The expert sidesteps into a lane beside
                  the pillar, passes it and comes back to the target, on the left (+y) or the
                  right as drawn per seed. ``info["mode"]``: the side the hand passed the
                  pillar on (its y when level with the pillar's centre), the expert's drawn side
                  before that.
    push          a cube and a goal patch on the table; success: cube centre within
                  ``PUSH_TOLERANCE`` of the goal centre (in the table plane); failure "dropped" when
                  the cube leaves the table. The expert gets behind the cube on the goal->cube line,
                  lowers the fingertips and pushes, going back round when the cube drifts off the
                  line. ``info["mode"]`` is None.
    reach_goal    a goal point drawn per seed in the workspace (``GOAL_LOW``..``GOAL_HIGH``, at
                  least ``GOAL_MIN_DISTANCE`` from where the hand starts), given
                  to the robot as a command (``goal_point()``; the sim node publishes it on
                  ``goal``) and not drawn in the cameras: only a policy that reads the goal
                  knows where to go. Success: grasp point within ``REACH_TOLERANCE`` of it. A
                  new goal (``set_goal``) takes effect at once. The overview snapshot shows it.
                  The expert goes straight there. ``info["mode"]`` is None.
    play          no goal and no success: the expert moves between random points of the
                  workspace (drawn per seed), pausing at some, for ``max_seconds`` (20 s), and
                  the episode ends without a failure. Unlabelled "play" data for
                  goal-conditioned policies relabeled in hindsight with where the hand got
                  to (``achieved_goal()``, published on ``achieved_goal``).
All: failure "timeout" after ``max_seconds`` (not ``play``). ``info`` also has ``t`` (sim seconds since reset),
``distance`` (m: grasp point to target, or cube to goal) and ``ee`` (grasp point, m). Both experts
are stateless (the command depends only on the current world state), so they recover from
injected noise the same way they act nominally.
"""

from __future__ import annotations

import math

import numpy as np
import pybullet as p

from bc_ros.core.sim import arm_scene as scene
from bc_ros.core.sim.base import CameraSpec, SimEnv

MAX_SPEED = 0.25                                    # m/s, per axis
WORKSPACE_LOW = np.array([0.30, -0.35, 0.015])      # m, grasp-point box, world frame
WORKSPACE_HIGH = np.array([0.80, 0.35, 0.18])       # the ceiling is below every pillar top
MAX_LEAD = 0.04          # m, the target position stays this close to the actual grasp point
PHYSICS_HZ = 240.0
REACH_TOLERANCE = 0.03   # m
PUSH_TOLERANCE = 0.035   # m
DEFAULT_SECONDS = {"reach_around": 15.0, "push": 20.0, "reach_goal": 10.0, "play": 20.0}

# reach_around geometry (m). The pillar is always taller than WORKSPACE_HIGH[2] + the fingertips.
PILLAR_X = (0.52, 0.56)
PILLAR_Y = (-0.04, 0.04)
PILLAR_HALF_X = (0.025, 0.04)
PILLAR_HALF_Y = (0.03, 0.05)
PILLAR_HEIGHT = (0.195, 0.22)
TARGET_Z = (0.10, 0.16)  # the target hangs this high; lower, the forearm would graze the pillar
CRUISE_Z = 0.15          # expert: travel height (the forearm then clears the pillar top)
LANE_CLEAR = 0.17        # expert: lateral gap from the pillar's side face to the grasp point
BESIDE_CLEAR = 0.12      # expert: hand (0.105 m half width) clear of the pillar's side face
FRONT_CLEAR = 0.10       # expert: stay this far in front of the pillar until in the lane
BACK_CLEAR = 0.08        # expert: past the pillar once this far behind its back face
TARGET_RADIUS = 0.025

# reach_goal / play geometry (m): goals and play waypoints are drawn in this box, inside the
# workspace with a margin so that every one is reachable from any other
GOAL_LOW = np.array([0.36, -0.28, 0.04])
GOAL_HIGH = np.array([0.74, 0.28, 0.16])
GOAL_MIN_DISTANCE = 0.15  # a reach_goal goal is at least this far from the hand at the start
GOAL_MARKER_RADIUS = 0.02
PLAY_WAYPOINTS = 16      # per play episode (more than 20 s reach)
PLAY_PAUSE = (0, 8)      # ticks the play expert rests at a waypoint, drawn per waypoint
PLAY_ARRIVED = 0.015     # m: the play expert counts a waypoint reached this close

# push geometry (m)
CUBE_HALF = (0.022, 0.027)
CUBE_X, CUBE_Y = (0.46, 0.60), (-0.14, 0.14)
GOAL_DISTANCE = (0.12, 0.20)
GOAL_X, GOAL_Y = (0.44, 0.70), (-0.22, 0.22)
GOAL_RADIUS = 0.045
PUSH_Z = 0.022           # expert: grasp-point height while pushing
FINGER_HALF = 0.032      # the closed fingertips reach this far from the grasp point (m)


class ArmEnv(SimEnv):
    """Franka Panda on a table with three world-fixed cameras. See the module docstring.

    Args:
        task: "reach_around" or "push".
        image_size: (width, height) of each camera image, 32x32 .. 640x480.
        control_hz: steps per simulated second (``control_dt = 1 / control_hz``).
        max_seconds: episode length before "timeout"; None = the task's default (15 s / 20 s).
        gripper: add the "gripper" opening action (fraction of fully open, 0..1).
        gui: open a pybullet GUI window instead of a headless client (debugging).
    """

    robot = "arm"
    state_type = "joint_state"
    teleop = {"action_names": ["vx", "vy", "vz"], "scales": [0.2, 0.2, 0.2],
              "joy_axes": [1, 0, 4], "keys": ["ws", "ad", "rf"]}
    tasks = ("reach_around", "push", "reach_goal", "play")
    goal_tasks = ("reach_goal",)
    achieved_goal_tasks = ("reach_goal", "play")
    state_names = tuple(f"q{i}" for i in range(1, 8)) + ("finger1", "finger2", "ee_x", "ee_y",
                                                          "ee_z")

    def __init__(self, task: str, image_size: tuple[int, int] = (96, 96),
                 control_hz: float = 10.0, max_seconds: float | None = None,
                 gripper: bool = False, gui: bool = False):
        super().__init__(task, image_size)
        if not control_hz > 0:
            raise ValueError(f"control_hz must be > 0, got {control_hz=}")
        self.gripper, self.gui = bool(gripper), bool(gui)
        self.action_names = ("vx", "vy", "vz") + (("gripper",) if gripper else ())
        self.action_low = np.array([-MAX_SPEED] * 3 + ([0.0] if gripper else []))
        self.action_high = np.array([MAX_SPEED] * 3 + ([1.0] if gripper else []))
        self.control_dt = 1.0 / float(control_hz)
        self.substeps = max(1, round(PHYSICS_HZ * self.control_dt))
        seconds = DEFAULT_SECONDS[task] if max_seconds is None else float(max_seconds)
        self._max_steps = max(1, round(seconds / self.control_dt))
        self._steps = 0
        self.client = p.connect(p.GUI if gui else p.DIRECT)
        self.kin = scene.PandaKinematics()
        self.renderer = scene.Renderer(self.client, *self.image_size)
        self._specs = scene.camera_specs()
        self.panda: int | None = None   # body ids, set by reset

    # ---- world --------------------------------------------------------------------------------
    def reset(self, seed: int) -> dict:
        """Rebuild the world for ``seed`` (a fresh physics state, so replays are exact)."""
        rng = np.random.default_rng(seed)
        self._steps = 0
        c = self.client
        p.resetSimulation(physicsClientId=c)
        p.setGravity(0, 0, -9.81, physicsClientId=c)
        p.setTimeStep(self.control_dt / self.substeps, physicsClientId=c)
        self.table = scene.build_table(c, visible=False)
        if self.gui:   # the GUI does not see the camera backdrop
            p.changeVisualShape(self.table, -1, rgbaColor=scene.TABLE_RGBA, physicsClientId=c)
        self.renderer.set_brightness(rng.uniform(0.9, 1.1))
        self.panda = scene.load_panda(c)
        start = np.array([rng.uniform(0.34, 0.38), rng.uniform(-0.04, 0.04),
                          rng.uniform(0.09, 0.14)])
        self.q_des = self.kin.solve(scene.Q_REST, start, iters=40)
        for j, v in zip(scene.ARM_JOINTS, self.q_des):
            p.resetJointState(self.panda, j, float(v), physicsClientId=c)
        for j in scene.FINGER_JOINTS:
            p.resetJointState(self.panda, j, 0.0, physicsClientId=c)
        self.finger_des = 0.0
        self._drive(self.q_des)
        self.target_pos = self.ee_position()
        if self.task == "reach_around":
            self._build_reach(rng)
        elif self.task == "push":
            self._build_push(rng)
        elif self.task == "reach_goal":
            self.goal, self.mode = rng.uniform(GOAL_LOW, GOAL_HIGH), None
            while np.linalg.norm(self.goal - self.target_pos) < GOAL_MIN_DISTANCE:
                self.goal = rng.uniform(GOAL_LOW, GOAL_HIGH)
        else:
            self._build_play(rng)
        self._failure = None
        self._passed = None      # reach_around: the side the hand went past the pillar on
        return self._obs()

    def _build_reach(self, rng: np.random.Generator) -> None:
        c = self.client
        half = np.array([rng.uniform(*PILLAR_HALF_X), rng.uniform(*PILLAR_HALF_Y),
                         0.5 * rng.uniform(*PILLAR_HEIGHT)])
        centre = np.array([rng.uniform(*PILLAR_X), rng.uniform(*PILLAR_Y), half[2]])
        pillar_hue = rng.uniform()
        colour = scene.hsv_rgba(pillar_hue, rng.uniform(0.5, 0.8), rng.uniform(0.35, 0.6))
        self.pillar = scene.box(c, half, centre, colour)
        self.pillar_centre, self.pillar_half = centre, half
        x_back = centre[0] + half[0] + BACK_CLEAR
        self.goal = np.array([x_back + rng.uniform(0.02, 0.06),
                              centre[1] + rng.uniform(-0.05, 0.05), rng.uniform(*TARGET_Z)])
        hue = (pillar_hue + rng.uniform(0.3, 0.7)) % 1.0    # a colour apart from the pillar's
        scene.visual(c, p.GEOM_SPHERE, self.goal, scene.hsv_rgba(hue, 0.9, 0.95),
                     radius=TARGET_RADIUS)
        scene.visual(c, p.GEOM_CYLINDER, (self.goal[0], self.goal[1], 0.001),
                     scene.hsv_rgba(hue, 0.6, 0.75), radius=0.03, length=0.002)
        self.mode = "left" if rng.uniform() < 0.5 else "right"

    def _build_play(self, rng: np.random.Generator) -> None:
        self.goal, self.mode = None, None
        self.waypoints = rng.uniform(GOAL_LOW, GOAL_HIGH, size=(PLAY_WAYPOINTS, 3))
        self.pauses = rng.integers(PLAY_PAUSE[0], PLAY_PAUSE[1] + 1, size=PLAY_WAYPOINTS)
        self._waypoint, self._rested = 0, 0

    # ---- goals (reach_goal) -------------------------------------------------------------------
    def goal_point(self) -> np.ndarray | None:
        """reach_goal: the commanded goal point (m, world frame); None for the other tasks."""
        return None if self.task != "reach_goal" else self.goal.copy()

    def set_goal(self, point) -> None:
        """reach_goal: a new goal, acting from the next step; outside ``GOAL_LOW``..
        ``GOAL_HIGH`` or non-finite is a ValueError (the sim keeps its goal)."""
        if self.task != "reach_goal":
            raise ValueError(f"the arm's {self.task} task takes no goal (reach_goal does)")
        g = np.asarray(point, dtype=np.float64).reshape(-1)
        if g.shape != (3,) or not np.all(np.isfinite(g)) or np.any(g < GOAL_LOW - 1e-9) \
                or np.any(g > GOAL_HIGH + 1e-9):
            raise ValueError(f"a goal is x y z within {GOAL_LOW.tolist()}..{GOAL_HIGH.tolist()} "
                             f"m, got {g.tolist()}")
        self.goal = g

    def achieved_goal(self) -> np.ndarray:
        """Where the hand is, as a goal (the grasp point, m): what play is relabeled with."""
        return self.ee_position()

    def _build_push(self, rng: np.random.Generator) -> None:
        c = self.client
        s = rng.uniform(*CUBE_HALF)
        while True:
            cube = np.array([rng.uniform(*CUBE_X), rng.uniform(*CUBE_Y)])
            angle = rng.uniform(-math.pi, math.pi)
            goal = cube + rng.uniform(*GOAL_DISTANCE) * np.array([math.cos(angle), math.sin(angle)])
            if GOAL_X[0] <= goal[0] <= GOAL_X[1] and GOAL_Y[0] <= goal[1] <= GOAL_Y[1]:
                break
        hue = rng.uniform()
        self.cube = scene.box(c, (s, s, s), (cube[0], cube[1], s),
                              scene.hsv_rgba(hue, 0.8, 0.85), mass=0.15, friction=0.5)
        p.changeDynamics(self.cube, -1, spinningFriction=0.001, physicsClientId=c)
        p.resetBasePositionAndOrientation(
            self.cube, (cube[0], cube[1], s),
            p.getQuaternionFromEuler([0, 0, rng.uniform(-math.pi, math.pi)]), physicsClientId=c)
        goal_hue = (hue + rng.uniform(0.3, 0.7)) % 1.0
        scene.visual(c, p.GEOM_CYLINDER, (goal[0], goal[1], 0.001),
                     scene.hsv_rgba(goal_hue, 0.75, 0.9), radius=GOAL_RADIUS, length=0.002)
        self.cube_half, self.goal, self.mode = s, np.array([goal[0], goal[1], s]), None

    # ---- stepping -----------------------------------------------------------------------------
    def step(self, action) -> tuple[dict, float, bool, bool, dict]:
        a = self.check_action(action)
        self._check_reset()
        ee = self.ee_position()
        target = np.clip(self.target_pos + a[:3] * self.control_dt, WORKSPACE_LOW,
                         WORKSPACE_HIGH)
        lead = target - ee
        if np.linalg.norm(lead) > MAX_LEAD:
            target = np.clip(ee + lead * (MAX_LEAD / np.linalg.norm(lead)), WORKSPACE_LOW,
                             WORKSPACE_HIGH)
        self.target_pos = target
        if self.gripper:
            self.finger_des = float(a[3]) * scene.FINGER_MAX
        q_from, q_to = self.q_des, self.kin.solve(self.q_des, target)
        self.q_des = q_to
        c = self.client
        for k in range(1, self.substeps + 1):
            self._drive(q_from + (q_to - q_from) * (k / self.substeps))
            p.stepSimulation(physicsClientId=c)
            if self.task == "reach_around" and self._failure is None and any(
                    cp[8] < 0.001 for cp in p.getContactPoints(self.panda, self.pillar,
                                                                physicsClientId=c)):
                self._failure = "collision"   # any link within 1 mm of (or into) the pillar
        self._steps += 1
        if self.task == "play":
            self._advance_play()
        return self._outcome()

    def _check_reset(self) -> None:
        if self.client is None:
            raise RuntimeError("the arm env is closed")
        if self.panda is None:
            raise RuntimeError("call reset(seed) before step() or expert_action()")

    def _drive(self, q: np.ndarray) -> None:
        """Position-control targets for the arm joints (rad) and the fingers (m)."""
        c = self.client
        p.setJointMotorControlArray(self.panda, scene.ARM_JOINTS, p.POSITION_CONTROL,
                                    targetPositions=list(q), forces=scene.JOINT_FORCES,
                                    positionGains=[0.2] * 7, physicsClientId=c)
        p.setJointMotorControlArray(self.panda, scene.FINGER_JOINTS, p.POSITION_CONTROL,
                                    targetPositions=[self.finger_des] * 2,
                                    forces=[scene.FINGER_FORCE] * 2, physicsClientId=c)

    def _outcome(self):
        ee = self.ee_position()
        failure = self._failure
        if self.task == "reach_around":
            if self._passed is None and ee[0] > self.pillar_centre[0]:   # level with it
                self._passed = "left" if ee[1] > self.pillar_centre[1] else "right"
            distance = float(np.linalg.norm(ee - self.goal))
            success = distance <= REACH_TOLERANCE and failure is None
        elif self.task in ("reach_goal", "play"):
            distance = (float(np.linalg.norm(ee - self.goal)) if self.goal is not None
                        else 0.0)
            success = self.goal is not None and distance <= REACH_TOLERANCE
        else:
            cube = self.cube_position()
            distance = float(np.linalg.norm(cube[:2] - self.goal[:2]))
            on_table = (np.all(cube[:2] > scene.TABLE_LOW) and np.all(cube[:2] < scene.TABLE_HIGH)
                        and cube[2] > -0.02)
            failure = failure or (None if on_table else "dropped")
            success = distance <= PUSH_TOLERANCE and failure is None
        truncated = self._steps >= self._max_steps and not (success or failure)
        if truncated and self.task != "play":       # play just ends
            failure = "timeout"
        info = {"success": bool(success), "failure": failure, "mode": self._passed or self.mode,
                "t": self.sim_time, "distance": distance, "ee": tuple(float(v) for v in ee)}
        terminated = bool(success or (failure and not truncated))
        return self._obs(), float(success), terminated, bool(truncated), info

    # ---- observations -------------------------------------------------------------------------
    def _obs(self) -> dict:
        return {"images": self.renderer.cameras(), "state": self._state()}

    def _state(self) -> np.ndarray:
        js = self.joint_state()
        return np.concatenate([js["position"], self.ee_position()]).astype(np.float32)

    def joint_state(self) -> dict:
        """Names, positions (rad; fingers m) and velocities (rad/s; m/s) of the 9 joints."""
        states = p.getJointStates(self.panda, scene.ARM_JOINTS + scene.FINGER_JOINTS,
                                  physicsClientId=self.client)
        return {"name": list(scene.JOINT_NAMES),
                "position": np.array([s[0] for s in states]),
                "velocity": np.array([s[1] for s in states])}

    def ee_position(self) -> np.ndarray:
        """Grasp-point position (between the fingertips), world frame, m."""
        s = p.getLinkState(self.panda, scene.EE_LINK, computeForwardKinematics=1,
                           physicsClientId=self.client)
        return np.array(s[4])

    def cube_position(self) -> np.ndarray:
        """push: the cube's centre, world frame, m."""
        return np.array(p.getBasePositionAndOrientation(self.cube, physicsClientId=self.client)[0])

    def camera_specs(self) -> tuple[CameraSpec, ...]:
        return self._specs

    def render_overview(self, width: int = 480, height: int = 360) -> np.ndarray:
        if self.task != "reach_goal" or self.panda is None:
            return self.renderer.overview(width, height)
        # the goal is a command, not a thing in the scene: drawn here only, never in the cameras
        marker = scene.visual(self.client, p.GEOM_SPHERE, self.goal, (1.0, 0.2, 0.8, 1.0),
                              radius=GOAL_MARKER_RADIUS)
        try:
            return self.renderer.overview(width, height)
        finally:
            p.removeBody(marker, physicsClientId=self.client)

    def close(self) -> None:
        if self.client is not None and p.isConnected(self.client):
            p.disconnect(self.client)
        self.client = None
        self.kin.close()
        self.renderer.close()

    # ---- scripted experts ---------------------------------------------------------------------
    def expert_action(self) -> np.ndarray:
        """The clean command: velocity towards the next waypoint (privileged world state)."""
        self._check_reset()
        ee = self.ee_position()
        if self.task == "reach_around":
            v = _towards(self._reach_waypoint(ee) - ee)
        elif self.task == "reach_goal":
            v = _towards(self.goal - ee)
        elif self.task == "play":
            v = _towards(self._play_waypoint(ee) - ee)
        else:
            v = self._push_velocity(ee)
        v = np.clip(v, -MAX_SPEED, MAX_SPEED)
        return np.concatenate([v, [0.0]]) if self.gripper else v

    def _play_waypoint(self, ee: np.ndarray) -> np.ndarray:
        """play: the waypoint being visited (``_advance_play`` moves on after each step)."""
        return self.waypoints[self._waypoint]

    def _advance_play(self) -> None:
        """play: once a waypoint is reached and rested at, the next one. (The tour is the
        sim's state, not the expert's: play has no task to recover to, only a tour to go on
        with, whoever drives.)"""
        i = self._waypoint
        if i < PLAY_WAYPOINTS - 1 and \
                np.linalg.norm(self.waypoints[i] - self.ee_position()) <= PLAY_ARRIVED:
            self._rested += 1
            if self._rested > self.pauses[i]:
                self._waypoint, self._rested = i + 1, 0

    def _reach_waypoint(self, ee: np.ndarray) -> np.ndarray:
        """Sidestep into the lane beside the pillar, go past it along the lane, then to the target.

        Stateless (the next waypoint depends only on where the grasp point is), so the expert
        recovers from any perturbation the same way.
        """
        c, h = self.pillar_centre, self.pillar_half
        side = 1.0 if self.mode == "left" else -1.0
        lane_y = c[1] + side * (h[1] + LANE_CLEAR)
        x_front = c[0] - h[0] - FRONT_CLEAR
        x_back = c[0] + h[0] + BACK_CLEAR
        if ee[0] >= x_back - 0.01:                          # behind the pillar: go to the target
            return self.goal
        z = max(CRUISE_Z, self.goal[2])
        out = side * (ee[1] - c[1]) - h[1]                  # how far out beside the pillar
        if out >= LANE_CLEAR - 0.03:                        # in the lane: go past the pillar
            return np.array([x_back + 0.02, lane_y, z])
        if ee[0] <= x_front + 0.01:                         # in front: sidestep into the lane
            return np.array([min(ee[0], x_front), lane_y, z])
        if out >= BESIDE_CLEAR:                             # beside it, too close: step out
            return np.array([ee[0], lane_y, z])
        if ee[0] > c[0]:                                    # too close behind: move away
            return np.array([x_back + 0.02, ee[1], z])
        return np.array([x_front - 0.02, ee[1], z])         # too close in front: back off

    def _push_velocity(self, ee: np.ndarray) -> np.ndarray:
        """Get behind the cube on the goal->cube line, lower, push along it; re-place on drift.

        Stateless like the reach expert: pushing while low, behind the cube and on the line;
        otherwise back to the approach point behind the cube (over it when the way is blocked).
        """
        cube = self.cube_position()
        s = self.cube_half
        to_goal = self.goal[:2] - cube[:2]
        d = to_goal / max(np.linalg.norm(to_goal), 1e-6)
        n = np.array([-d[1], d[0]])
        rel = ee[:2] - cube[:2]
        along, lateral = float(rel @ d), float(rel @ n)
        if (ee[2] < PUSH_Z + 0.015 and -(s + 0.06) <= along <= -(s - 0.005)
                and abs(lateral) < 0.025):                  # pushing
            speed = float(np.clip(1.5 * np.linalg.norm(to_goal), 0.05, 0.2))
            v_xy = speed * d - 5.0 * lateral * n
            return np.array([v_xy[0], v_xy[1], 2.0 * (PUSH_Z - ee[2])])
        approach = cube[:2] - d * (s + FINGER_HALF + 0.015)
        err = approach - ee[:2]
        if np.linalg.norm(err) < 0.02:                      # above the approach point: lower
            return np.concatenate([_towards(err, gain=6.0), [4.0 * (PUSH_Z - 0.01 - ee[2])]])
        # The way there is clear when it only moves away from the cube or passes it at a distance
        # (cube corner s * sqrt(2) plus the fingertips' half width).
        dist, t = _segment_distance(cube[:2], ee[:2], approach)
        if t == 0.0 or dist > 1.42 * s + FINGER_HALF:
            return _towards(np.concatenate([err, [0.0]]))
        safe_z = 2 * s + 0.04                               # fingertips 3 cm over the cube
        if ee[2] < safe_z - 0.015:                          # blocked: lift first
            return np.array([0.0, 0.0, MAX_SPEED])
        return _towards(np.concatenate([err, [safe_z - ee[2]]]))


def _towards(err: np.ndarray, gain: float = 5.0, vmax: float = MAX_SPEED) -> np.ndarray:
    """Proportional velocity towards ``err`` (m), capped at ``vmax`` in norm (m/s)."""
    v = gain * np.asarray(err, dtype=np.float64)
    norm = np.linalg.norm(v)
    return v * (vmax / norm) if norm > vmax else v


def _segment_distance(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Distance from ``point`` to the segment a-b, and where its closest point is (0 = a, 1 = b)."""
    ab = b - a
    t = float(np.clip((point - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(a + t * ab - point)), t
