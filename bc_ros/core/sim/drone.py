"""The drone sim: a quadrotor flying a procedural forest trail, seen by three body-fixed cameras.

Tasks:
    trail   follow the trail to its end (40-60 m). Success when the progress along the centreline
            reaches ``length - GOAL_MARGIN``; failure "trail_exit" when the lateral distance from
            the centreline exceeds the corridor half width (trail half width + 0.5 m), or when
            the drone flies back past the start; "timeout" after ``max_seconds``.
    bypass  the same, with a tree standing on the centreline near mid-trail. Trail and corridor
            widen around it (see drone_world) so it can be passed on either side; hitting a trunk
            is "collision". The scripted expert picks a side at random per episode;
            ``info["mode"]`` is that planned side ("left"/"right") until the drone passes the
            tree, then the side it actually passed on.

Frames (REP 103): world x forward along the start of the trail, y left, z up; the body (heading)
frame is the world frame rotated by the drone's yaw. Units: m, s, rad (camera specs in degrees).

Action (geometry_msgs/Twist semantics, heading frame): ``vx`` in [-1, 3] m/s, ``vy`` in
[-1.5, 1.5] m/s, ``vz`` in [-1, 1] m/s, ``yaw_rate`` in [-1.5, 1.5] rad/s; out-of-range values are
clamped. The drone tracks it through the first-order-lag model of ``drone_dynamics`` (time
constants 0.25 s horizontal, 0.3 s vertical, 0.2 s yaw; 100 Hz substeps; altitude hold).

State (what odometry gives): x, y, z (m, world), yaw (rad), vx, vy, vz (m/s, heading frame),
yaw_rate (rad/s). ``odometry()`` returns the same as a dict for nav_msgs/Odometry.

Cameras: left, center, right at yaw +30, 0, -30 deg (Giusti et al. 2016), on the nose 0.11 m
ahead of the centre, pitched 15 deg down, 75 deg vertical field of view, fixed to the body (they
tilt with it). Trees are drawn by pybullet's TinyRenderer (``ER_TINY_RENDERER``, no shadows, no
segmentation mask). The ground is not geometry: where TinyRenderer drew nothing and the pixel's
ray points down, the ground raster of drone_world (grass, trail, canopy shade) is warped in
through the ground plane's homography (cv2.warpPerspective, mip level by footprint); above the
horizon a sky gradient goes in; then haze by distance (from the depth buffer). Rasterising ground
triangles would cost TinyRenderer several times more. A step with three 96x96 images costs about
8-10 ms of CPU.

Expert: pure pursuit of the centreline (offset around the bypass tree by a smooth bump to the
chosen side), 2.5-3.4 m lookahead, speed up to 1.8 m/s, slower in bends; vy removes lateral
error, vz holds 1.2 m.

Reward: metres of progress along the trail made in the step.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from bc_ros.core.sim import drone_dynamics as dyn
from bc_ros.core.sim.base import CameraSpec, SimEnv, check_image_size
from bc_ros.core.sim.drone_world import (DRONE_RADIUS, GroundMap, MeshFiles, build_trees,
                                         flat_ground, generate_world, ground_map, mesh_body)

URDF = os.path.join(os.path.dirname(__file__), "assets", "quadrotor.urdf")
DEFAULT_MAX_SECONDS = 90.0
GOAL_MARGIN = 0.5        # m short of the trail's end that counts as arrived
CRUISE_Z = 1.2           # m, the expert's altitude
CAMERA_POSITION = (0.11, 0.0, -0.005)  # m, body frame (the camera pod on the nose)
CAMERA_PITCH, CAMERA_FOV = 15.0, 75.0  # deg
NEAR, FAR = 0.2, 100.0   # m, clip planes (the near one hides the drone's own rotors)
HAZE_START, HAZE_END, HAZE_MAX = 12.0, 80.0, 0.75  # m, m, fraction
CULL_DISTANCE = 50.0  # m: tree groups farther than this are not drawn (mostly haze by then)
AMBIENT, DIFFUSE = 0.55, 0.5  # TinyRenderer light coefficients (specular off)
# expert
V_MAX, V_MIN, A_LAT = 1.8, 1.0, 0.45  # m/s, m/s, m/s^2 (lateral acceleration budget in bends)
BYPASS_OFFSET = 1.5      # m aside of the centreline when passing the bypass tree
BYPASS_HOLD, BYPASS_RAMP = 1.5, 5.0  # m: full offset within +-1.5 m of the tree, 5 m ramps
K_LAT, K_Z = 1.2, 1.0    # 1/s


class _View:
    """A pinhole camera's projection and the ray of each pixel, for one image size."""

    def __init__(self, p, width: int, height: int, fov_deg: float):
        self.width, self.height = width, height
        self.proj = p.computeProjectionMatrixFOV(fov_deg, width / height, NEAR, FAR)
        tan_v = math.tan(math.radians(fov_deg) / 2)
        tan_h = tan_v * width / height
        # TinyRenderer samples pixel (col, row) at ndc x = 2 col / w - 1, y = 1 - 2 row / h.
        # ray_from_pixel maps (col, row, 1) to the ray in the camera frame (x forward, y left,
        # z up), with forward component 1
        self.ray_from_pixel = np.array([[0.0, 0.0, 1.0],
                                        [-2.0 * tan_h / width, 0.0, tan_h],
                                        [0.0, -2.0 * tan_v / height, tan_v]])
        cols, rows = np.meshgrid(np.arange(width), np.arange(height))
        rays = np.stack([np.ones(cols.shape), tan_h * (1 - 2.0 * cols / width),
                         tan_v * (1 - 2.0 * rows / height)])
        norm = np.linalg.norm(rays, axis=0)
        self.unit = np.ascontiguousarray((rays / norm).transpose(1, 2, 0), np.float32)  # H, W, 3
        # distance along the ray = FAR NEAR norm / (FAR - (FAR - NEAR) depth) for depth buffer
        # values (OpenGL convention); this is the numerator
        self.depth_num = (FAR * NEAR * norm).astype(np.float32)
        self.pixel_angle = 2 * tan_v / height  # rad per pixel at the centre
        self.zeros = np.zeros((height, width), np.float32)
        self.haze = {}  # background colour -> constant image for cv2.blendLinear


def _mount(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Camera -> body rotation for a camera turned by yaw (left +) then pitched down by pitch."""
    return np.array(dyn.rotation_rpy(0.0, math.radians(pitch_deg), math.radians(yaw_deg)))


class DroneEnv(SimEnv):
    """Quadrotor on a forest trail. See the module docstring for tasks, action, state, cameras.

    Args:
        task: "trail" or "bypass".
        image_size: (width, height) of each camera image, 32x32 to 640x480.
        control_hz: steps per simulated second (the command is held for 1 / control_hz s).
        max_seconds: simulated seconds before the episode is truncated ("timeout"); default 90.
        gui: open pybullet's GUI window, which follows the drone and shows flat stand-ins for
            the ground and trail; the camera images are the same as without it (TinyRenderer).
    """

    robot = "drone"
    tasks = ("trail", "bypass")
    state_type = "odometry"
    action_names = ("vx", "vy", "vz", "yaw_rate")
    state_names = ("x", "y", "z", "yaw", "vx", "vy", "vz", "yaw_rate")
    action_low = np.array([-1.0, -1.5, -1.0, -1.5])
    action_high = np.array([3.0, 1.5, 1.0, 1.5])

    def __init__(self, task: str = "trail", image_size: tuple[int, int] = (96, 96),
                 control_hz: float = 10.0, max_seconds: float | None = None, gui: bool = False):
        super().__init__(task, image_size)
        if not 1.0 <= control_hz <= 100.0:
            raise ValueError(f"control_hz must be between 1 and 100, got {control_hz}")
        max_seconds = DEFAULT_MAX_SECONDS if max_seconds is None else float(max_seconds)
        if not max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        import pybullet as p

        self._p = p
        self.control_dt = 1.0 / control_hz
        self.max_seconds = max_seconds
        self._max_steps = int(math.ceil(max_seconds * control_hz - 1e-9))
        self._steps = 0
        self.quad = dyn.Quadrotor(self.control_dt)
        self.gui = bool(gui)
        self._client = p.connect(p.GUI if gui else p.DIRECT)
        if self._client < 0:
            raise RuntimeError("could not connect to pybullet")
        self._meshes = MeshFiles()
        if self.gui:
            p.configureDebugVisualizer(p.COV_ENABLE_GUI, 0, physicsClientId=self._client)
        self._specs = tuple(CameraSpec(n, CAMERA_POSITION, yaw, CAMERA_PITCH, CAMERA_FOV)
                            for n, yaw in zip(self.camera_names, (30.0, 0.0, -30.0)))
        self._mounts = [_mount(c.yaw_deg, c.pitch_deg) for c in self._specs]
        self._views: dict[tuple[int, int, float], _View] = {}
        self.forest = None

    # ---- episode ------------------------------------------------------------------------------
    def reset(self, seed: int) -> dict:
        """Build the world of ``seed`` (trail, trees, ground raster, colours, light) and put the
        drone at rest at the start: within 0.3 m of the centreline, heading within 0.15 rad of
        it, 1.0-1.4 m up."""
        p, c = self._p, self._client
        # independent streams, so that e.g. a change to the ground's look moves no tree
        episode_rng, world_rng, look_rng = np.random.default_rng(seed).spawn(3)
        p.resetSimulation(physicsClientId=c)
        self._meshes.prepare(p, c)
        self.forest = forest = generate_world(world_rng, bypass=self.task == "bypass")
        light = forest.light_direction
        # TinyRenderer's lighting of an upward face (specular off), applied to the ground raster
        shade = AMBIENT + min(DIFFUSE * max(float(light[2]), 0.0), 1.0 - AMBIENT)
        self.ground: GroundMap = ground_map(forest, look_rng, lighting=shade)
        col = forest.colours
        el = np.linspace(0.0, 1.0, 256)[:, None]
        self._sky_lut = np.round(255 * (col["sky_horizon"] * (1 - el) + col["sky_top"] * el)
                                 ).astype(np.uint8)[None]  # (1, 256, 3) for cv2.LUT
        self._haze_rgb = np.round(255 * col["sky_horizon"]).astype(np.uint8)
        self._chunks = build_trees(p, c, forest, self._meshes)
        self._drone = p.loadURDF(URDF, useFixedBase=True, physicsClientId=c)
        self._drone_colours = [(v[1], list(v[7][:3]))
                               for v in p.getVisualShapeData(self._drone, physicsClientId=c)]
        self._gui_ground = [(mesh_body(p, c, tris, rgb, self._meshes), rgb)
                            for tris, rgb in flat_ground(forest)] if self.gui else []
        self._drone_visible(False)
        tr = forest.trail
        side = episode_rng.integers(2)  # drawn in every task, so both tasks share start poses
        self.side = (1 if side else -1) if forest.obstacle is not None else 0
        lat, dyaw = episode_rng.uniform(-0.3, 0.3), episode_rng.uniform(-0.15, 0.15)
        self.quad.reset(0.0, lat, episode_rng.uniform(1.0, 1.4), dyaw)
        self._steps = 0
        self._passed: str | None = None
        self._s, self._lat = tr.project(self.quad.x, self.quad.y)
        self._place_drone()
        return self._observation()

    def step(self, action) -> tuple[dict, float, bool, bool, dict]:
        self._require_reset()
        vx, vy, vz, wz = self.check_action(action)
        path = self.quad.step(vx, vy, vz, wz)
        collided = self._collides(path)
        self._steps += 1
        s_prev = self._s
        tr = self.forest.trail
        self._s, self._lat = tr.project(self.quad.x, self.quad.y, hint=s_prev)
        if self.forest.obstacle is not None and self._passed is None:
            s_obs = tr.widen_at
            if self._s >= s_obs:  # record the side at the moment the drone passes the tree
                self._passed = "left" if self._lat >= 0 else "right"
        failure = None
        if collided:
            failure = "collision"
        elif abs(self._lat) > tr.corridor_half_width(self._s) or self._s <= tr.s[0] + 0.5:
            failure = "trail_exit"
        success = failure is None and self._s >= tr.length - GOAL_MARGIN
        terminated = success or failure is not None
        truncated = not terminated and self._steps >= self._max_steps
        if truncated:
            failure = "timeout"
        self._place_drone()
        obs = self._observation()
        info = {"success": bool(success), "failure": failure, "mode": self.mode,
                "progress": self._s, "lateral_error": self._lat, "t": self.sim_time,
                "trail_length": tr.length}
        return obs, float(self._s - s_prev), bool(terminated), bool(truncated), info

    @property
    def mode(self) -> str | None:
        """bypass: the side the drone passed the tree on, or the expert's plan before that."""
        if self.forest is None or self.forest.obstacle is None:
            return None
        return self._passed or ("left" if self.side > 0 else "right")

    def _require_reset(self) -> None:
        if self.forest is None:
            raise RuntimeError("DroneEnv: call reset(seed) before step/render")

    def _collides(self, path: list[tuple[float, float]]) -> bool:
        """Whether the drone's disc (DRONE_RADIUS) touched a trunk at any substep."""
        t = self.forest.trees
        x0, y0 = path[0]
        near = t[(t[:, 0] - x0) ** 2 + (t[:, 1] - y0) ** 2 < (t[:, 2] + DRONE_RADIUS + 1.0) ** 2]
        for tx, ty, r in near[:, :3]:
            lim = (r + DRONE_RADIUS) ** 2
            if any((x - tx) ** 2 + (y - ty) ** 2 < lim for x, y in path):
                return True
        return False

    def _drone_visible(self, visible: bool) -> None:
        """The onboard cameras' near plane hides the drone anyway, so TinyRenderer only draws it
        for overviews (and the GUI always shows it)."""
        for link, rgb in self._drone_colours:
            alpha = float(visible or self.gui)
            self._p.changeVisualShape(self._drone, link, rgbaColor=[*rgb, alpha],
                                      physicsClientId=self._client)

    def _gui_ground_visible(self, visible: bool) -> None:
        """The GUI's flat ground is hidden while TinyRenderer draws (the images paint their own)."""
        for body, rgb in self._gui_ground:
            self._p.changeVisualShape(body, -1, rgbaColor=[*rgb, float(visible)],
                                      physicsClientId=self._client)

    def _place_drone(self) -> None:
        q, p = self.quad, self._p
        p.resetBasePositionAndOrientation(self._drone, [q.x, q.y, q.z], q.quaternion,
                                          physicsClientId=self._client)
        if self.gui:
            p.resetDebugVisualizerCamera(3.0, math.degrees(q.yaw) - 90.0, -25.0, [q.x, q.y, q.z],
                                         physicsClientId=self._client)

    # ---- observation --------------------------------------------------------------------------
    def state(self) -> np.ndarray:
        q = self.quad
        return np.array([q.x, q.y, q.z, q.yaw, q.vx, q.vy, q.vz, q.yaw_rate], dtype=np.float32)

    def odometry(self) -> dict:
        """Pose (world) and twist (heading frame) for nav_msgs/Odometry, float64 arrays."""
        q = self.quad
        return {"position": np.array([q.x, q.y, q.z]),
                "orientation_xyzw": np.array(q.quaternion),
                "linear_body": np.array([q.vx, q.vy, q.vz]),
                "angular_body": np.array([q.roll_rate, q.pitch_rate, q.yaw_rate])}

    def camera_specs(self) -> tuple[CameraSpec, ...]:
        return self._specs

    def _observation(self) -> dict:
        q = self.quad
        body = np.array(q.rotation())
        eye = np.array([q.x, q.y, q.z]) + body @ np.array(CAMERA_POSITION)
        self._cull(eye, q.yaw)
        view = self._view(*self.image_size, CAMERA_FOV)
        self._gui_ground_visible(False)
        images = {spec.name: self._render(eye, body @ mount, view)
                  for spec, mount in zip(self._specs, self._mounts)}
        self._gui_ground_visible(True)
        return {"images": images, "state": self.state()}

    def _view(self, width: int, height: int, fov: float) -> _View:
        key = (width, height, fov)
        if key not in self._views:
            self._views[key] = _View(self._p, width, height, fov)
        return self._views[key]

    def _cull(self, eye: np.ndarray, yaw: float | None) -> None:
        """Hide tree chunks no drone camera can see: entirely behind the drone, or in the haze.
        ``yaw`` None shows every chunk (overview)."""
        h = np.array([math.cos(yaw), math.sin(yaw)]) if yaw is not None else None
        for ch in self._chunks:
            d = ch.centre - eye[:2]
            visible = h is None or (float(np.hypot(*d)) - ch.radius < CULL_DISTANCE
                                    and float(d @ h) > -ch.radius - 1.0)
            if visible != ch.visible:
                ch.visible = visible
                for b, rgb in zip(ch.bodies, ch.colours):
                    self._p.changeVisualShape(b, -1, rgbaColor=[*rgb, float(visible)],
                                              physicsClientId=self._client)

    def _render(self, eye: np.ndarray, rot: np.ndarray, view: _View) -> np.ndarray:
        """One image from ``eye`` (m, world) with camera axes ``rot`` (columns: forward, left, up
        in the world frame): TinyRenderer for trees and drone; ground, sky and haze drawn into the
        background with cv2/numpy (see the module docstring)."""
        p = self._p
        fwd, up = rot[:, 0], rot[:, 2]
        vm = p.computeViewMatrix(eye.tolist(), (eye + fwd).tolist(), up.tolist())
        light = self.forest.light_direction
        _, _, rgba, depth, _ = p.getCameraImage(
            view.width, view.height, vm, view.proj, lightDirection=light.tolist(),
            lightColor=[1, 1, 1], shadow=0, lightAmbientCoeff=AMBIENT, lightDiffuseCoeff=DIFFUSE,
            lightSpecularCoeff=0.0, flags=p.ER_NO_SEGMENTATION_MASK,
            renderer=p.ER_TINY_RENDERER, physicsClientId=self._client)
        d = np.asarray(depth, np.float32).reshape(view.height, view.width)
        img = cv2.cvtColor(np.asarray(rgba, np.uint8).reshape(d.shape + (4,)), cv2.COLOR_RGBA2RGB)
        # per-pixel work in cv2 calls (several times faster than numpy at these sizes)
        sin_el = cv2.transform(view.unit, rot[2:3].astype(np.float32))  # world z of unit rays
        bg = cv2.compare(d, 0.99999, cv2.CMP_GE)  # nothing drawn: ground or sky
        ground = cv2.bitwise_and(bg, cv2.compare(sin_el, -1e-4, cv2.CMP_LT))
        sky = cv2.bitwise_and(bg, cv2.bitwise_not(ground))
        ez = float(eye[2])
        if cv2.countNonZero(ground):
            # a pixel covers ez * pixel_angle / sin(depression)^2 m of ground: pick the mip level
            s2 = cv2.multiply(sin_el, sin_el)
            k = ez * view.pixel_angle / self.ground.res
            fine = cv2.compare(s2, k / 2.0, cv2.CMP_GT)   # footprint < 2 texels of 0.1 m
            coarse = cv2.compare(s2, k / 8.0, cv2.CMP_LT)  # footprint > 8 texels
            masks = {0: cv2.bitwise_and(ground, fine), 4: cv2.bitwise_and(ground, coarse),
                     2: cv2.bitwise_and(ground, cv2.bitwise_not(cv2.bitwise_or(fine, coarse)))}
            world_from_pixel = np.array([[-ez, 0, eye[0]], [0, -ez, eye[1]], [0, 0, 1]]) @ (
                rot @ view.ray_from_pixel)
            self.ground.draw(img, world_from_pixel, masks)
        if cv2.countNonZero(sky):  # from the haze colour at the horizon to the top at 30 deg up
            idx = cv2.convertScaleAbs(cv2.max(sin_el, 0.0), alpha=2 * 255)
            cv2.copyTo(cv2.LUT(cv2.merge([idx, idx, idx]), self._sky_lut), sky, img)
        # haze grows with the distance along the ray: from the depth buffer where something was
        # drawn, from the ground hit for the ground, none for the sky
        dist = cv2.divide(view.depth_num, cv2.addWeighted(d, NEAR - FAR, d, 0.0, FAR))
        cv2.copyTo(cv2.divide(-ez, cv2.min(sin_el, -1e-4)), ground, dist)
        cv2.copyTo(view.zeros, sky, dist)
        gain = HAZE_MAX / (HAZE_END - HAZE_START)
        f = cv2.min(cv2.max(cv2.addWeighted(dist, gain, dist, 0.0, -HAZE_START * gain), 0.0),
                    HAZE_MAX)
        haze = view.haze.get(self._haze_rgb.tobytes())
        if haze is None:
            haze = view.haze[self._haze_rgb.tobytes()] = np.empty(img.shape, np.uint8)
            haze[:] = self._haze_rgb
        return cv2.blendLinear(img, haze, 1.0 - f, f)

    def render_overview(self, width: int = 480, height: int = 360) -> np.ndarray:
        """A chase view: from the trail centreline 3.5 m behind the drone at 2.2 m height (under
        the canopies that overhang the trail), looking at a point 1.5 m ahead of the drone."""
        self._require_reset()
        check_image_size(width, height)
        q, tr = self.quad, self.forest.trail
        x, y, _ = tr.pose_at(self._s - 3.5)
        eye = np.array([x, y, 2.2])
        pos = np.array([q.x, q.y, q.z])
        target = pos + 1.5 * np.array([math.cos(q.yaw), math.sin(q.yaw), 0.0])
        fwd = (target - eye) / np.linalg.norm(target - eye)
        left = np.cross([0.0, 0.0, 1.0], fwd)
        left /= np.linalg.norm(left)
        rot = np.stack([fwd, left, np.cross(fwd, left)], 1)
        self._cull(eye, None)
        self._drone_visible(True)
        self._gui_ground_visible(False)
        try:
            return self._render(eye, rot, self._view(width, height, 60.0))
        finally:
            self._gui_ground_visible(True)
            self._drone_visible(False)
            self._cull(pos, q.yaw)

    # ---- expert -------------------------------------------------------------------------------
    def reference_offset(self, s, avoid: bool = True):
        """Lateral offset (m, left +) of the expert's path from the centreline at arc length s:
        around the bypass tree a detour to the chosen side (``BYPASS_OFFSET`` within
        ``BYPASS_HOLD`` of the tree, raised-cosine ramps of ``BYPASS_RAMP``), 0 elsewhere."""
        tr = self.forest.trail
        s = np.asarray(s, dtype=np.float64)
        if not avoid or tr.widen_at is None:
            return np.zeros_like(s)
        x = np.clip((np.abs(s - tr.widen_at) - BYPASS_HOLD) / BYPASS_RAMP, 0, 1)
        return self.side * BYPASS_OFFSET * 0.5 * (1 + np.cos(np.pi * x))

    def expert_action(self, avoid: bool = True) -> np.ndarray:
        """Pure pursuit of the reference path (``avoid=False``: the bare centreline, which flies
        straight into the bypass tree). Returns (vx, vy, vz, yaw_rate) within the limits."""
        self._require_reset()
        q, tr = self.quad, self.forest.trail
        s = self._s
        # speed from the sharpest bend of the reference path in the next 6 m
        ahead = s + np.arange(0.0, 6.01, 0.5)
        off = self.reference_offset(ahead, avoid)
        kappa = np.abs(np.interp(ahead, tr.s, tr.curvature) + np.gradient(np.gradient(off, 0.5),
                                                                          0.5))
        v = float(np.clip(math.sqrt(A_LAT / max(kappa.max(), 1e-3)), V_MIN, V_MAX))
        look = 2.5 + 0.5 * max(q.vx, 0.0)
        xs, ys, hs = tr.pose_at(s + look)
        o = float(self.reference_offset(s + look, avoid))
        dx, dy = xs - o * math.sin(hs) - q.x, ys + o * math.cos(hs) - q.y
        c, sn = math.cos(q.yaw), math.sin(q.yaw)
        bx, by = c * dx + sn * dy, -sn * dx + c * dy
        alpha = math.atan2(by, bx)
        yaw_rate = 2.0 * max(q.vx, 0.8) * math.sin(alpha) / math.hypot(bx, by)
        v *= max(math.cos(alpha), 0.3)
        # lateral error from the reference, into the heading frame
        _, _, h0 = tr.pose_at(s)
        e = self._lat - float(self.reference_offset(s, avoid))
        vy = -K_LAT * e * math.cos(h0 - q.yaw)
        vz = K_Z * (CRUISE_Z - q.z)
        return np.clip(np.array([v, vy, vz, yaw_rate]), self.action_low, self.action_high)

    def tracking_error(self) -> tuple[float, float]:
        """(lateral m, left +; heading rad, counter-clockwise +) of the drone from the expert's
        reference path (the centreline, or the detour around the bypass tree): the offset from
        the path, and the yaw minus the path's direction (wrapped to [-pi, pi))."""
        self._require_reset()
        tr, s = self.forest.trail, self._s
        lateral = self._lat - float(self.reference_offset(s))
        ds = 0.25
        slope = float(self.reference_offset(s + ds) - self.reference_offset(s - ds)) / (2 * ds)
        path_heading = tr.pose_at(s)[2] + math.atan(slope)
        heading = (self.quad.yaw - path_heading + math.pi) % (2 * math.pi) - math.pi
        return float(lateral), float(heading)

    # ---- teardown -----------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_client", -1) >= 0:
            try:
                self._p.disconnect(physicsClientId=self._client)
            except Exception:  # already gone (e.g. the GUI window was closed)
                pass
            self._client = -1
        if getattr(self, "_meshes", None) is not None:
            self._meshes.close()

    def __del__(self):
        self.close()
