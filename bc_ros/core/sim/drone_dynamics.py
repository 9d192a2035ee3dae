"""Velocity-controlled quadrotor model of the drone sim (no pybullet here: plain floats).

The command is a geometry_msgs/Twist in the drone's *heading frame* (x forward, y left, z up,
rotated from the world frame by yaw only, REP 103), as a multicopter autopilot in velocity mode
takes it: ``(vx, vy, vz)`` m/s and ``yaw_rate`` rad/s.

Model, integrated with explicit Euler at ``PHYSICS_HZ`` (100 Hz, ``round(PHYSICS_HZ / control_hz)``
substeps per control step), velocities first, then the pose with the new velocities:

* Horizontal velocity (heading frame) follows the command through a first-order lag with time
  constant ``TAU_XY`` (0.25 s), its acceleration vector clipped to ``ACC_XY`` (4 m/s^2) in norm.
  Because it lives in the heading frame, yawing at constant (vx, vy) turns the world velocity
  with the body, like a car.
* Yaw rate follows its command with ``TAU_YAW`` (0.2 s) and at most ``ACC_YAW`` (6 rad/s^2).
* Altitude hold: vz moves an altitude set-point ``z_ref`` (``z_ref += vz * dt``, kept in
  [``Z_MIN``, ``Z_MAX``]); the vertical velocity target is ``vz + K_ALT (z_ref - z)`` (clipped to
  +-1 m/s), tracked with ``TAU_Z`` (0.3 s) and at most ``ACC_Z`` (3 m/s^2). With vz = 0 the drone
  keeps its altitude; z itself never leaves [0.3, 2.0] m (floor and ceiling of the autopilot).
* Position: world velocity = Rz(yaw) (vx, vy), plus vz.
* Tilt (for the camera views and the odometry orientation): a multicopter tilts its thrust to
  accelerate and to fight drag, so pitch and roll targets are
  ``pitch = atan((a_x + DRAG vx) / g)`` (nose down to speed up) and
  ``roll = -atan((a_y + DRAG vy) / g)`` (left side down to go left), with (a_x, a_y) the inertial
  acceleration in the heading frame (including the centripetal ``yaw_rate x v`` term), clipped to
  ``MAX_TILT`` (25 deg) and followed with ``TAU_TILT`` (0.1 s). Tilt does not feed back into the
  motion; it is what the body-fixed cameras see.

Deterministic: the same commands give the same trajectory to the last bit.
"""

from __future__ import annotations

import math

PHYSICS_HZ = 100.0
TAU_XY, ACC_XY = 0.25, 4.0     # s, m/s^2
TAU_YAW, ACC_YAW = 0.2, 6.0    # s, rad/s^2
TAU_Z, ACC_Z = 0.3, 3.0        # s, m/s^2
K_ALT, VZ_MAX = 2.0, 1.0       # 1/s, m/s
Z_MIN, Z_MAX = 0.3, 2.0        # m
DRAG = 0.35                    # 1/s, linear drag per unit mass
MAX_TILT = math.radians(25.0)
TAU_TILT = 0.1                 # s
GRAVITY = 9.81


def _clip(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


def quaternion_rpy(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of R = Rz(yaw) Ry(pitch) Rx(roll)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy)


def rotation_rpy(roll: float, pitch: float, yaw: float) -> list[list[float]]:
    """3x3 rotation matrix (rows) of R = Rz(yaw) Ry(pitch) Rx(roll), body -> world."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return [[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr]]


class Quadrotor:
    """State and integration of the model above.

    Attributes (all floats): x, y, z (m, world); yaw (rad, world, in (-pi, pi]); vx, vy, vz (m/s,
    heading frame); yaw_rate (rad/s); roll, pitch (rad); z_ref (m, altitude set-point).
    """

    def __init__(self, control_dt: float):
        self.substeps = max(1, int(round(control_dt * PHYSICS_HZ)))
        self.dt = control_dt / self.substeps
        self.reset(0.0, 0.0, 1.2, 0.0)

    def reset(self, x: float, y: float, z: float, yaw: float) -> None:
        """Hover at rest at (x, y, z) facing ``yaw``."""
        self.x, self.y, self.z, self.yaw = float(x), float(y), float(z), float(yaw)
        self.vx = self.vy = self.vz = self.yaw_rate = 0.0
        self.roll = self.pitch = 0.0
        self.roll_rate = self.pitch_rate = 0.0
        self.z_ref = _clip(self.z, Z_MIN, Z_MAX)

    def step(self, vx: float, vy: float, vz: float, yaw_rate: float) -> list[tuple[float, float]]:
        """Fly one control step with this (already clamped) command; returns the (x, y) after
        each substep, for collision tests along the way."""
        dt = self.dt
        path = []
        for _ in range(self.substeps):
            dr = _clip((yaw_rate - self.yaw_rate) / TAU_YAW, -ACC_YAW, ACC_YAW)
            ax, ay = (vx - self.vx) / TAU_XY, (vy - self.vy) / TAU_XY
            a = math.hypot(ax, ay)
            if a > ACC_XY:
                ax, ay = ax * ACC_XY / a, ay * ACC_XY / a
            self.z_ref = _clip(self.z_ref + vz * dt, Z_MIN, Z_MAX)
            vz_target = _clip(vz + K_ALT * (self.z_ref - self.z), -VZ_MAX, VZ_MAX)
            az = _clip((vz_target - self.vz) / TAU_Z, -ACC_Z, ACC_Z)
            self.yaw_rate += dr * dt
            self.vx += ax * dt
            self.vy += ay * dt
            self.vz += az * dt
            # pose
            self.yaw = (self.yaw + self.yaw_rate * dt + math.pi) % (2 * math.pi) - math.pi
            c, s = math.cos(self.yaw), math.sin(self.yaw)
            self.x += (c * self.vx - s * self.vy) * dt
            self.y += (s * self.vx + c * self.vy) * dt
            self.z += self.vz * dt
            if not Z_MIN <= self.z <= Z_MAX:
                self.z = _clip(self.z, Z_MIN, Z_MAX)
                self.vz = 0.0
            # tilt from the inertial acceleration (heading frame) and drag
            fx = ax - self.yaw_rate * self.vy + DRAG * self.vx
            fy = ay + self.yaw_rate * self.vx + DRAG * self.vy
            pitch_t = _clip(math.atan(fx / GRAVITY), -MAX_TILT, MAX_TILT)
            roll_t = _clip(-math.atan(fy / GRAVITY), -MAX_TILT, MAX_TILT)
            self.pitch_rate = (pitch_t - self.pitch) / TAU_TILT
            self.roll_rate = (roll_t - self.roll) / TAU_TILT
            self.pitch += self.pitch_rate * dt
            self.roll += self.roll_rate * dt
            path.append((self.x, self.y))
        return path

    @property
    def quaternion(self) -> tuple[float, float, float, float]:
        """Body orientation (x, y, z, w), world frame."""
        return quaternion_rpy(self.roll, self.pitch, self.yaw)

    def rotation(self) -> list[list[float]]:
        """Body -> world rotation matrix (rows)."""
        return rotation_rpy(self.roll, self.pitch, self.yaw)
