"""The arm sim's world: a fast-rendering Franka Panda, the table, the cameras and the kinematics.

Frames (REP 103): the world frame is the robot base frame, origin at the centre of the Panda's base
on the table top, x forward (away from the robot, over the table), y left, z up; metres, radians.
The table top is the plane z = 0.

Only the arm modules import pybullet. Every call passes ``physicsClientId`` so that several envs
can live in one process.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile

import numpy as np
import pybullet as p
import pybullet_data

from bc_ros.core.sim.base import CAMERA_NAMES, CameraSpec

# ---- robot --------------------------------------------------------------------------------------
ARM_JOINTS = tuple(range(7))          # pybullet joint indices of panda_joint1..7
FINGER_JOINTS = (9, 10)               # panda_finger_joint1, panda_finger_joint2 (prismatic, m)
EE_LINK = 11                          # panda_grasptarget: between the fingertips, 0.105 m below
                                      # the hand flange (the fingertips reach ~1 cm lower)
JOINT_NAMES = tuple(f"panda_joint{i}" for i in range(1, 8)) + (
    "panda_finger_joint1", "panda_finger_joint2")
Q_LOW = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])   # rad
Q_HIGH = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])        # rad
JOINT_FORCES = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)                            # N m
FINGER_MAX = 0.04     # m, opening of each finger (the gripper is 0.08 m wide when open)
FINGER_FORCE = 20.0   # N
# A comfortable elbow-up posture with the hand pointing down: the null-space target of the IK.
Q_REST = np.array([0.0, 0.15, 0.0, -2.3, 0.0, 2.45, math.pi / 4])
# The hand points straight down (gripper z axis = world -z), fingers opening along world y.
EE_ROTATION = np.diag([1.0, -1.0, -1.0])

# Link colours: white shell, dark grey joints and wrist, like the real robot (light enough to
# stand out against the table in 96x96 images).
WHITE, DARK = (0.93, 0.93, 0.95, 1.0), (0.25, 0.25, 0.28, 1.0)
LINK_COLOURS = {-1: WHITE, 0: WHITE, 1: WHITE, 2: WHITE, 3: WHITE, 4: WHITE, 5: DARK, 6: DARK,
                8: WHITE, 9: DARK, 10: DARK}

# ---- table and lighting -------------------------------------------------------------------------
TABLE_LOW = np.array([-0.35, -0.65])   # table top extent in x, y (m); the robot stands near the
TABLE_HIGH = np.array([1.05, 0.65])    # back edge and the front edge is at x = 1.05
TABLE_THICKNESS = 0.04
FLOOR_Z = -0.75
TABLE_RGBA, FLOOR_RGBA = (0.72, 0.60, 0.46, 1.0), (0.36, 0.38, 0.42, 1.0)
LIGHT = dict(lightDirection=[0.4, 0.6, 2.0], lightColor=[1.0, 1.0, 1.0], lightDistance=3.0,
             lightAmbientCoeff=0.55, lightDiffuseCoeff=0.5, lightSpecularCoeff=0.05)

# ---- cameras: world-fixed, at the front of the table, looking back at the arm and workspace ---
LOOK_AT = (0.42, 0.0, 0.22)     # between the workspace and the arm's elbow
CAMERA_POSES = {  # name: (position, look-at target), world frame, m
    "left": ((1.0, 0.8, 0.95), LOOK_AT),
    "center": ((1.35, 0.0, 1.05), LOOK_AT),
    "right": ((1.0, -0.8, 0.95), LOOK_AT),
}
CAMERA_FOV_DEG = 52.0            # vertical
CAMERA_NEAR, CAMERA_FAR = 0.05, 4.0
OVERVIEW_POSE = ((1.45, -1.0, 1.05), (0.35, 0.0, 0.05))


def fast_panda_urdf() -> str:
    """Path of a copy of pybullet_data's panda.urdf whose visuals are the collision meshes.

    The stock visual meshes (~100k triangles) cost ~20 ms per TinyRenderer image; the collision
    meshes (~3.5k triangles) ~1.5 ms. Kinematics, inertia and collision shapes are unchanged. The
    file is generated once per pybullet_data install into the temp dir (content-addressed, written
    atomically, so concurrent processes are safe) with absolute mesh paths.
    """
    src_dir = os.path.join(pybullet_data.getDataPath(), "franka_panda")
    with open(os.path.join(src_dir, "panda.urdf")) as f:
        text = f.read()
    text = text.replace("package://meshes/visual/", "package://meshes/collision/")
    text = text.replace("package://meshes/", os.path.join(src_dir, "meshes", ""))
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    out_dir = os.path.join(tempfile.gettempdir(), f"bc_ros_arm_{os.getuid()}")
    path = os.path.join(out_dir, f"panda_fast_{digest}.urdf")
    if not os.path.exists(path):
        os.makedirs(out_dir, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    return path


def load_panda(client: int, colour: bool = True) -> int:
    """Load the fast Panda with a fixed base at the world origin; returns the body id."""
    robot = p.loadURDF(fast_panda_urdf(), [0, 0, 0], useFixedBase=True,
                       flags=p.URDF_ENABLE_CACHED_GRAPHICS_SHAPES, physicsClientId=client)
    if colour:
        for link, rgba in LINK_COLOURS.items():
            p.changeVisualShape(robot, link, rgbaColor=rgba, physicsClientId=client)
    return robot


def box(client: int, half_extents, position, rgba, *, mass: float = 0.0,
        collide: bool = True, friction: float | None = None) -> int:
    """A box body (static when mass = 0); ``collide=False``: visual only.

    An alpha of 0 hides the box from TinyRenderer at no cost (a body without a visual shape would
    be drawn from its collision shape instead).
    """
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(half_extents), rgbaColor=list(rgba),
                              physicsClientId=client)
    col = (p.createCollisionShape(p.GEOM_BOX, halfExtents=list(half_extents),
                                  physicsClientId=client) if collide else -1)
    body = p.createMultiBody(mass, col, vis, list(position), physicsClientId=client)
    if friction is not None:
        p.changeDynamics(body, -1, lateralFriction=friction, physicsClientId=client)
    return body


def visual(client: int, shape: int, position, rgba, **size) -> int:
    """A visual-only body (sphere: radius=; cylinder: radius=, length=)."""
    vis = p.createVisualShape(shape, rgbaColor=list(rgba), physicsClientId=client, **size)
    return p.createMultiBody(0, -1, vis, list(position), physicsClientId=client)


def build_table(client: int, visible: bool = True) -> int:
    """The table (top at z = 0) and, when ``visible``, the floor; returns the table's body id.

    The simulation's table is invisible: it is drawn from a pre-rendered backdrop (``Renderer``).
    """
    centre, half = 0.5 * (TABLE_LOW + TABLE_HIGH), 0.5 * (TABLE_HIGH - TABLE_LOW)
    if visible:
        box(client, (3.0, 3.0, 0.01), (0.3, 0.0, FLOOR_Z - 0.01), FLOOR_RGBA, collide=False)
    return box(client, (half[0], half[1], TABLE_THICKNESS / 2),
               (centre[0], centre[1], -TABLE_THICKNESS / 2),
               TABLE_RGBA if visible else (0, 0, 0, 0),
               collide=not visible, friction=None if visible else 0.5)


def hsv_rgba(h: float, s: float, v: float) -> tuple[float, float, float, float]:
    """HSV in [0, 1] -> RGBA tuple."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    a, b, c = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, bl = [(v, c, a), (b, v, a), (a, v, c), (a, b, v), (c, a, v), (v, a, b)][i]
    return (r, g, bl, 1.0)


# ---- cameras ------------------------------------------------------------------------------------
def camera_specs() -> tuple[CameraSpec, ...]:
    """The three world-fixed cameras; yaw/pitch are derived from position -> target."""
    specs = []
    for name in CAMERA_NAMES:
        pos, target = CAMERA_POSES[name]
        d = np.subtract(target, pos)
        yaw = math.degrees(math.atan2(d[1], d[0]))
        pitch = math.degrees(math.atan2(-d[2], math.hypot(d[0], d[1])))
        specs.append(CameraSpec(name, tuple(pos), yaw, pitch, CAMERA_FOV_DEG, tuple(target)))
    return tuple(specs)


class Renderer:
    """TinyRenderer images from fixed viewpoints, composited over a pre-rendered backdrop.

    TinyRenderer's cost grows with the pixels covered, and the table fills most of each view. So
    the table and floor live in a private client and are rendered once per viewpoint and size
    (cached); each frame renders only the robot and the task objects and pastes them over the
    backdrop where the depth buffer says something was drawn. ``set_brightness`` scales the
    backdrop (a per-seed variation that costs nothing per frame).
    """

    def __init__(self, client: int, width: int, height: int):
        self.client, self.width, self.height = client, width, height
        self.proj = p.computeProjectionMatrixFOV(CAMERA_FOV_DEG, width / height, CAMERA_NEAR,
                                                 CAMERA_FAR)
        self.views = {s.name: p.computeViewMatrix(s.position, s.target, [0, 0, 1])
                      for s in camera_specs()}
        self.backdrop_client = p.connect(p.DIRECT)
        build_table(self.backdrop_client, visible=True)
        self._backdrops: dict[tuple, np.ndarray] = {}
        self._tinted: dict[tuple, np.ndarray] = {}
        self.brightness = 1.0

    def set_brightness(self, gain: float) -> None:
        self.brightness = float(gain)
        self._tinted.clear()

    def _render(self, client, view, proj, w, h):
        out = p.getCameraImage(w, h, view, proj, renderer=p.ER_TINY_RENDERER,
                               flags=p.ER_NO_SEGMENTATION_MASK, shadow=0, physicsClientId=client,
                               **LIGHT)
        rgb = np.asarray(out[2], dtype=np.uint8).reshape(h, w, 4)[:, :, :3]
        return rgb, np.asarray(out[3], dtype=np.float32).reshape(h, w)

    def _backdrop(self, view, proj, w, h) -> np.ndarray:
        key = (tuple(view), tuple(proj), w, h)
        if key not in self._tinted:
            if key not in self._backdrops:
                self._backdrops[key] = self._render(self.backdrop_client, view, proj, w, h)[0]
            self._tinted[key] = np.clip(self._backdrops[key] * self.brightness, 0, 255).astype(
                np.uint8)
        return self._tinted[key]

    def image(self, view, proj=None, width=None, height=None) -> np.ndarray:
        w, h = width or self.width, height or self.height
        proj = proj or self.proj
        rgb, depth = self._render(self.client, view, proj, w, h)
        return np.where((depth < 1.0)[:, :, None], rgb, self._backdrop(view, proj, w, h))

    def cameras(self) -> dict[str, np.ndarray]:
        return {name: self.image(view) for name, view in self.views.items()}

    def overview(self, width: int, height: int) -> np.ndarray:
        pos, target = OVERVIEW_POSE
        view = p.computeViewMatrix(pos, target, [0, 0, 1])
        proj = p.computeProjectionMatrixFOV(50.0, width / height, CAMERA_NEAR, CAMERA_FAR)
        return self.image(view, proj, width, height)

    def close(self) -> None:
        if self.backdrop_client is not None and p.isConnected(self.backdrop_client):
            p.disconnect(self.backdrop_client)
        self.backdrop_client = None


# ---- kinematics ---------------------------------------------------------------------------------
class PandaKinematics:
    """Forward kinematics and damped least-squares IK on a private, never-stepped pybullet client.

    Keeping the model in its own client lets the IK set joint angles freely without disturbing the
    simulated robot's dynamics. Positions are of the grasp point (``EE_LINK``), world frame, m.
    """

    def __init__(self):
        self.client = p.connect(p.DIRECT)
        self.robot = load_panda(self.client, colour=False)

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grasp-point position (3,) and rotation matrix (3, 3) for the 7 arm angles ``q``."""
        for j, v in zip(ARM_JOINTS, q):
            p.resetJointState(self.robot, j, float(v), physicsClientId=self.client)
        s = p.getLinkState(self.robot, EE_LINK, computeForwardKinematics=1,
                           physicsClientId=self.client)
        return np.array(s[4]), np.array(p.getMatrixFromQuaternion(s[5])).reshape(3, 3)

    def solve(self, q: np.ndarray, position: np.ndarray, rotation: np.ndarray = EE_ROTATION,
              iters: int = 4, damping: float = 0.02, k_null: float = 0.1) -> np.ndarray:
        """Joint angles near ``q`` that put the grasp point at ``position`` with ``rotation``.

        Damped least squares on the 6-D pose error, a null-space pull towards ``Q_REST`` (with the
        base joint facing the target) and clamping to the joint limits after each iteration.
        """
        q = np.array(q, dtype=np.float64)
        rest = Q_REST.copy()
        rest[0] = math.atan2(position[1], position[0])
        zeros = [0.0] * 9
        for _ in range(iters):
            x, r = self.forward(q)
            re = rotation @ r.T
            err = np.concatenate([position - x, 0.5 * np.array(
                [re[2, 1] - re[1, 2], re[0, 2] - re[2, 0], re[1, 0] - re[0, 1]])])
            lin, ang = p.calculateJacobian(self.robot, EE_LINK, [0.0, 0.0, 0.0],
                                           list(q) + [0.0, 0.0], zeros, zeros,
                                           physicsClientId=self.client)
            jac = np.vstack([np.asarray(lin)[:, :7], np.asarray(ang)[:, :7]])
            pinv = jac.T @ np.linalg.inv(jac @ jac.T + damping ** 2 * np.eye(6))
            q = q + pinv @ err + (np.eye(7) - pinv @ jac) @ (k_null * (rest - q))
            q = np.clip(q, Q_LOW, Q_HIGH)
        return q

    def close(self) -> None:
        if self.client is not None and p.isConnected(self.client):
            p.disconnect(self.client)
        self.client = None
