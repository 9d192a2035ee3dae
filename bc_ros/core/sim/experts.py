"""Scripted experts and noise injection for recovery data (DART, Laskey et al. 2017).

Every env computes its expert's clean command from privileged state (``env.expert_action()``).
``NoisyExpert`` perturbs the command that is *executed* while reporting the clean one as the label,
so the recorded data visits off-nominal states and still says how to get back.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bc_ros.core.sim.base import SimEnv


@dataclasses.dataclass
class ExpertCommand:
    clean: np.ndarray     # what the expert wants: the training label
    executed: np.ndarray  # what is sent to the robot: clean + injected noise, clamped


class NoisyExpert:
    """The env's scripted expert with optional Gaussian noise on the executed command.

    Args:
        env: the sim whose privileged state the expert reads.
        noise_std: per-dimension standard deviation of the injected noise, as a fraction of each
            action dimension's half range (0 = no noise). Scaling by the range keeps one number
            meaningful for both velocities (m/s) and yaw rates (rad/s).
        rng: the noise source; pass a seeded generator for reproducible data.
        hold_steps: the same noise sample is held for this many steps, so the perturbation lasts
            long enough to move the robot off its path (white noise at 10 Hz mostly averages out).
    """

    def __init__(self, env: SimEnv, noise_std: float = 0.0, *, rng: np.random.Generator,
                 hold_steps: int = 5):
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std=}")
        if hold_steps < 1:
            raise ValueError(f"hold_steps must be >= 1, got {hold_steps=}")
        self.env = env
        self.noise_std = float(noise_std)
        self.rng = rng
        self.hold_steps = hold_steps
        self._noise = np.zeros(len(env.action_names))
        self._age = hold_steps

    def reset(self) -> None:
        self._noise[:] = 0.0
        self._age = self.hold_steps

    def act(self) -> ExpertCommand:
        clean = np.asarray(self.env.expert_action(), dtype=np.float64)
        if self.noise_std == 0.0:
            return ExpertCommand(clean=clean, executed=clean.copy())
        if self._age >= self.hold_steps:
            half_range = 0.5 * (self.env.action_high - self.env.action_low)
            self._noise = self.rng.normal(0.0, self.noise_std, size=clean.shape) * half_range
            self._age = 0
        self._age += 1
        executed = np.clip(clean + self._noise, self.env.action_low, self.env.action_high)
        return ExpertCommand(clean=clean, executed=executed)


def run_expert_episode(env: SimEnv, seed: int, *, noise_std: float = 0.0,
                       rng: np.random.Generator | None = None, on_step=None) -> dict:
    """Fly/drive one episode with the scripted expert. Returns the final info plus ``steps``.

    ``on_step(obs, command, info)`` is called after every step (for recording or snapshots).
    """
    rng = rng if rng is not None else np.random.default_rng(seed)
    expert = NoisyExpert(env, noise_std, rng=rng)
    env.reset(seed)
    steps = 0
    while True:
        cmd = expert.act()
        obs, _, terminated, truncated, info = env.step(cmd.executed)
        steps += 1
        if on_step is not None:
            on_step(obs, cmd, info)
        if terminated or truncated:
            return {**info, "steps": steps, "seed": seed}
