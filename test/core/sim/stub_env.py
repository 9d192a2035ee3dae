"""A pure-numpy SimEnv for testing the machinery around sims (session, experts) quickly."""

import numpy as np

from bc_ros.core.sim.base import SimEnv


class PointEnv(SimEnv):
    """A point that must travel 1 m along x; leaving |y| > 0.5 fails; the expert goes straight."""

    robot = "point"
    tasks = ("line",)
    action_names = ("vx", "vy")
    state_names = ("x", "y")
    action_low = np.array([-1.0, -1.0])
    action_high = np.array([1.0, 1.0])
    control_dt = 0.1

    def __init__(self, task="line", image_size=(32, 32)):
        super().__init__(task, image_size)
        self._max_steps = 50

    def reset(self, seed):
        self.pos = np.array([0.0, np.random.default_rng(seed).uniform(-0.1, 0.1)])
        self._steps = 0
        return self._obs()

    def _obs(self):
        img = np.zeros((self.image_size[1], self.image_size[0], 3), np.uint8)
        return {"images": {c: img for c in self.camera_names},
                "state": self.pos.astype(np.float32)}

    def step(self, action):
        a = self.check_action(action)
        self.pos = self.pos + a * self.control_dt
        self._steps += 1
        success = self.pos[0] >= 1.0 - 1e-9
        failure = "trail_exit" if abs(self.pos[1]) > 0.5 else None
        truncated = self._steps >= self._max_steps and not (success or failure)
        info = {"success": bool(success), "failure": failure or ("timeout" if truncated else None)}
        return self._obs(), 0.0, bool(success or failure), truncated, info

    def expert_action(self):
        return np.array([1.0, -self.pos[1] * 5.0]).clip(-1, 1)

    def camera_specs(self):
        return ()

    def render_overview(self, width=480, height=360):
        return np.zeros((height, width, 3), np.uint8)
