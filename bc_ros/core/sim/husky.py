"""A Clearpath Husky (pybullet_data's ``husky/husky.urdf``) driving to a red cube: the third
robot, added the way the README's "Your own robot" section tells a user to add theirs (this
adapter, its line in ``ROBOTS`` and ``config/robots/husky.yaml``; nothing else).

Task ``to_cube``: a red cube stands 2.5-4 m ahead, up to 35 degrees to either side, and a cube
of another colour stands elsewhere in view. Drive until the Husky's centre is within
``REACH_M`` of the red cube (success); touching the other cube is a ``collision``, leaving the
field a ``workspace_exit``, and 12 s a ``timeout``.

Action (Twist, velocity): ``vx`` (m/s, forward) and ``yaw_rate`` (rad/s), a unicycle moved
kinematically each 0.1 s tick (the wheels are not simulated: the task is about what the camera
sees). State: odometry (x, y, z, yaw, vx, vy, vz, yaw_rate). One forward camera, ``center``, on
the top plate, pitched 12 degrees down.
"""

from __future__ import annotations

import math

import numpy as np

from bc_ros.core.sim.base import CameraSpec, SimEnv

REACH_M = 0.75              # centre to the red cube's centre: the bumper touches it
COLLIDE_M = 0.7             # centre to the other cube's centre
FIELD = (-2.0, 6.5, -4.5, 4.5)   # x min, x max, y min, y max
CUBE = 0.25                 # half extent
CAMERA = CameraSpec("center", (0.35, 0.0, 0.55), 0.0, pitch_deg=12.0, fov_deg=70.0)


class HuskyEnv(SimEnv):
    robot = "husky"
    tasks = ("to_cube",)
    camera_names = ("center",)
    state_type = "odometry"
    action_names = ("vx", "yaw_rate")
    state_names = ("x", "y", "z", "yaw", "vx", "vy", "vz", "yaw_rate")
    action_low = np.array([-0.5, -1.2])
    action_high = np.array([1.0, 1.2])
    # teleop_node defaults for this robot (bc-ros teleop --robot husky): per action
    teleop = {"action_names": ["vx", "yaw_rate"], "scales": [1.0, 1.2], "joy_axes": [1, 3],
              "keys": ["ws", "ad"]}

    def __init__(self, task: str = "to_cube", image_size: tuple[int, int] = (96, 96),
                 max_seconds: float = 12.0):
        super().__init__(task, image_size)
        import pybullet as p
        import pybullet_data

        self._p = p
        self._client = p.connect(p.DIRECT)
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self._client)
        self._max_steps = int(round(max_seconds / self.control_dt))
        self._steps = 0
        self._body = None
        # the world is built once (pybullet's URDF importer warns about the Husky's links on
        # every load); a reset moves and recolours what the seed decides
        c = self._client
        self._plane = p.loadURDF("plane.urdf", physicsClientId=c)
        self._husky = p.loadURDF("husky/husky.urdf", [0, 0, 0.0], physicsClientId=c)
        self._cubes = []
        for _ in range(2):
            shape = p.createVisualShape(p.GEOM_BOX, halfExtents=[CUBE] * 3, physicsClientId=c)
            self._cubes.append(p.createMultiBody(0, -1, shape, [0, 0, -5], physicsClientId=c))

    # ---- episode ------------------------------------------------------------------------------
    def reset(self, seed: int) -> dict:
        p, c = self._p, self._client
        rng = np.random.default_rng(seed)
        shade = rng.uniform(0.75, 1.0)
        p.changeVisualShape(self._plane, -1,
                            rgbaColor=[shade, shade, shade * rng.uniform(0.85, 1), 1],
                            physicsClientId=c)
        self._body = self._husky
        bearing, dist = rng.uniform(-0.61, 0.61), rng.uniform(2.5, 4.0)
        self.target = np.array([dist * math.cos(bearing), dist * math.sin(bearing)])
        # the other cube: in view, away from the straight path to the red one
        side = -np.sign(bearing) if abs(bearing) > 0.1 else rng.choice([-1.0, 1.0])
        b2 = bearing + side * rng.uniform(0.45, 0.7)
        d2 = rng.uniform(1.8, 4.2)
        self.other = np.array([d2 * math.cos(b2), d2 * math.sin(b2)])
        hue = rng.uniform(0.25, 0.75)        # green to blue: never red
        other_rgb = [0.2 + 0.6 * (hue < 0.5), 0.3 + 0.5 * (hue < 0.6), 0.3 + 0.6 * (hue > 0.45)]
        for body, xy, rgba in ((self._cubes[0], self.target, [0.85, 0.1, 0.1, 1]),
                               (self._cubes[1], self.other, [*other_rgb, 1])):
            p.resetBasePositionAndOrientation(body, [*xy, CUBE], [0, 0, 0, 1],
                                              physicsClientId=c)
            p.changeVisualShape(body, -1, rgbaColor=rgba, physicsClientId=c)
        self.x, self.y = rng.uniform(-0.2, 0.2, size=2)
        self.yaw = rng.uniform(-0.2, 0.2)
        self.v = self.w = 0.0
        self._steps = 0
        self._place()
        return self._observation()

    def step(self, action):
        if self._body is None:
            raise RuntimeError("call reset(seed) before step()")
        v, w = self.check_action(action)
        dt = self.control_dt
        self.yaw += w * dt
        self.x += v * dt * math.cos(self.yaw)
        self.y += v * dt * math.sin(self.yaw)
        self.v, self.w = float(v), float(w)
        self._steps += 1
        self._place()
        here = np.array([self.x, self.y])
        info = {"success": False, "failure": None}
        if np.linalg.norm(here - self.target) < REACH_M:
            info["success"] = True
        elif np.linalg.norm(here - self.other) < COLLIDE_M:
            info["failure"] = "collision"
        elif not (FIELD[0] < self.x < FIELD[1] and FIELD[2] < self.y < FIELD[3]):
            info["failure"] = "workspace_exit"
        terminated = info["success"] or info["failure"] is not None
        truncated = not terminated and self._steps >= self._max_steps
        if truncated:
            info["failure"] = "timeout"
        reward = 1.0 if info["success"] else 0.0
        return self._observation(), reward, terminated, truncated, info

    def expert_action(self) -> np.ndarray:
        """Turn towards the red cube while driving at it, slower when turning hard."""
        dx, dy = self.target - np.array([self.x, self.y])
        bearing = math.atan2(dy, dx) - self.yaw
        bearing = math.atan2(math.sin(bearing), math.cos(bearing))
        w = float(np.clip(2.0 * bearing, -1.2, 1.2))
        v = float(np.clip(0.9 * math.cos(bearing), 0.0, 0.9))
        return np.array([v, w])

    # ---- observation --------------------------------------------------------------------------
    def _place(self) -> None:
        q = self._p.getQuaternionFromEuler([0, 0, self.yaw])
        self._p.resetBasePositionAndOrientation(self._body, [self.x, self.y, 0.13], q,
                                                physicsClientId=self._client)

    def odometry(self) -> dict:
        """Pose (world) and twist (body frame) for nav_msgs/Odometry, float64 arrays."""
        return {"position": np.array([self.x, self.y, 0.0]),
                "orientation_xyzw": np.array([0.0, 0.0, math.sin(self.yaw / 2),
                                              math.cos(self.yaw / 2)]),
                "linear_body": np.array([self.v, 0.0, 0.0]),
                "angular_body": np.array([0.0, 0.0, self.w])}

    def state(self) -> np.ndarray:
        return np.array([self.x, self.y, 0.0, self.yaw, self.v, 0.0, 0.0, self.w],
                        dtype=np.float32)

    def camera_specs(self) -> tuple[CameraSpec, ...]:
        return (CAMERA,)

    def _camera(self, width: int, height: int) -> np.ndarray:
        p, c = self._p, self._client
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        px, _, pz = CAMERA.position
        eye = [self.x + px * cy, self.y + px * sy, pz]
        pitch = math.radians(CAMERA.pitch_deg)
        ahead = [eye[0] + cy * math.cos(pitch), eye[1] + sy * math.cos(pitch),
                 eye[2] - math.sin(pitch)]
        view = p.computeViewMatrix(eye, ahead, [0, 0, 1], physicsClientId=c)
        proj = p.computeProjectionMatrixFOV(CAMERA.fov_deg, width / height, 0.05, 30.0,
                                            physicsClientId=c)
        return self._image(view, proj, width, height)

    def _image(self, view, proj, width, height) -> np.ndarray:
        _, _, rgba, _, _ = self._p.getCameraImage(width, height, view, proj,
                                                  renderer=self._p.ER_TINY_RENDERER,
                                                  physicsClientId=self._client)
        return np.ascontiguousarray(np.asarray(rgba, np.uint8).reshape(height, width, 4)[..., :3])

    def _observation(self) -> dict:
        return {"images": {"center": self._camera(*self.image_size)}, "state": self.state()}

    def render_overview(self, width: int = 480, height: int = 360) -> np.ndarray:
        p, c = self._p, self._client
        view = p.computeViewMatrix([-2.5, 0.0, 5.0], [2.5, 0.0, 0.0], [0, 0, 1],
                                   physicsClientId=c)
        proj = p.computeProjectionMatrixFOV(60, width / height, 0.1, 50.0, physicsClientId=c)
        return self._image(view, proj, width, height)

    def close(self) -> None:
        if self._client is not None and self._p.isConnected(self._client):
            self._p.disconnect(self._client)
        self._client = None
