"""One control tick of a policy on a robot or in a sim: the code path shared by ``bc-ros eval``
and the policy node, so that both compute the same command from the same observation (ROS-free).

    runner = PolicyRunner(policy, RunnerConfig(low=..., high=...))
    runner.reset()                                  # episode start
    out = runner.act({"images": {name: HxWx3 uint8}, "state": (S,)})
    out.command                                     # what to send: clamped, always finite
    out.upcoming                                    # (n, A) what the next ticks will send,
                                                    # with RunnerConfig(upcoming=True)

What it decides:
- images are checked against the checkpoint's spec (camera names, size, 3 channels, uint8); a
  wrong size is resized when ``resize`` allows it, otherwise refused with ``ObservationError``;
- the policy's action (``Policy.select_action``: history, chunk queue, temporal ensembling);
- a non-finite action is never sent: the stop command goes out instead and is counted;
- the command is clamped to ``[low, high]`` (counted).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from bc_ros.core.commands import CommandFilter
from bc_ros.core.policy.policy import Policy


class ObservationError(ValueError):
    """An observation that does not fit the policy's spec, with what was expected."""


@dataclasses.dataclass
class RunnerConfig:
    low: list[float]                 # command limits, in the policy's action_names order
    high: list[float]
    stop_command: list[float] | None = None   # sent on a non-finite action; default zeros
    resize: bool = False             # resize images of the wrong size (else refuse them)
    # fill RunnerOutput.upcoming every tick (the policy node's publish_chunk). Off, a chunk
    # that the policy decodes a step per tick (AR) is not decoded whole at its planning tick
    upcoming: bool = False

    def __post_init__(self):
        if len(self.low) != len(self.high):
            raise ValueError(f"low and high need the same length, got {self.low=} {self.high=}")


@dataclasses.dataclass
class RunnerOutput:
    command: np.ndarray              # (A,) float64, finite, within limits
    raw: np.ndarray                  # (A,) what the policy produced
    status: str = "ok"               # ok | clamped | nonfinite
    # (n, A) the actions queued after ``command`` for the next n ticks (the rest of the chunk
    # being executed), clamped like it and cut before the first non-finite one (that tick will
    # send the stop command); empty after a non-finite command and with temporal ensembling;
    # None unless RunnerConfig.upcoming asks for it
    upcoming: np.ndarray | None = None


class PolicyRunner:
    def __init__(self, policy: Policy, config: RunnerConfig,
                 generator: torch.Generator | None = None):
        c = policy.config
        if len(config.low) != len(c.action_names):
            raise ValueError(f"limits have {len(config.low)} values, the policy's actions are "
                             f"{c.action_names}")
        self.policy, self.config, self.generator = policy.eval(), config, generator
        self.filter = CommandFilter(c.action_names, config.low, config.high)
        stop = config.stop_command if config.stop_command is not None else [0.0] * len(config.low)
        self.stop_command = np.clip(np.asarray(stop, dtype=np.float64), self.filter.low,
                                    self.filter.high)
        self.counts = {"ticks": 0, "nonfinite": 0, "clamped": 0, "resized": 0}

    def reset(self) -> None:
        self.policy.reset()

    def images_from(self, images: dict) -> np.ndarray:
        """The policy's cameras in order, checked and (if allowed) resized: (V, H, W, 3) uint8."""
        c = self.policy.config
        w, h = c.image_size
        out = []
        for name in c.cameras:
            if name not in images:
                raise ObservationError(f"no image from camera {name!r}; the policy needs "
                                       f"{list(c.cameras)}, got {sorted(images)}")
            img = np.asarray(images[name])
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise ObservationError(f"camera {name!r}: expected uint8 HxWx3 RGB, got "
                                       f"{img.dtype} {img.shape}")
            if img.shape[:2] != (h, w):
                if not self.config.resize:
                    raise ObservationError(f"camera {name!r}: image is {img.shape[1]}x"
                                           f"{img.shape[0]}, the policy was trained on {w}x{h} "
                                           f"(allow resizing to accept it)")
                import cv2
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
                self.counts["resized"] += 1
            out.append(img)
        return np.stack(out)

    def state_from(self, obs: dict) -> np.ndarray | None:
        c = self.policy.config
        if not c.state_dim:
            return None
        state = np.asarray(obs.get("state"), dtype=np.float32).reshape(-1)
        if state.shape != (c.state_dim,):
            raise ObservationError(f"state: expected {c.state_dim} values "
                                   f"({', '.join(c.state_names) or 'unnamed'}), got "
                                   f"{state.size}")
        if not np.isfinite(state).all():
            raise ObservationError(f"state has a non-finite value: {state.tolist()}")
        return state

    def act(self, obs: dict, goal=None) -> RunnerOutput:
        """One tick: observation -> command. Raises ``ObservationError`` on a bad observation
        (the caller decides: the node publishes its stop command, eval fails the episode)."""
        images, state = self.images_from(obs["images"]), self.state_from(obs)
        raw = np.asarray(self.policy.select_action(images, state, goal, self.generator),
                         dtype=np.float64)
        self.counts["ticks"] += 1
        result = self.filter(raw)
        if result.action is None:
            self.counts["nonfinite"] += 1
            return RunnerOutput(self.stop_command.copy(), raw, "nonfinite",
                                upcoming=np.zeros((0, raw.size)))
        upcoming = self.upcoming() if self.config.upcoming else None
        if result.clamped:
            self.counts["clamped"] += 1
            return RunnerOutput(result.action, raw, "clamped", upcoming)
        return RunnerOutput(result.action, raw, upcoming=upcoming)

    def upcoming(self) -> np.ndarray:
        """(n, A) the policy's queued actions (``Policy.queued_actions``) as the next ticks will
        send them: clamped to the limits (not counted: each is counted at its own tick), cut
        before the first non-finite one."""
        queued = self.policy.queued_actions()
        finite = np.isfinite(queued).all(axis=1)
        n = len(queued) if finite.all() else int(np.argmin(finite))
        return np.clip(queued[:n], self.filter.low, self.filter.high)
