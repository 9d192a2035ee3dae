"""The Policy: normalizer + observation encoder + action head, and the inference state.

It owns what it was trained on (camera names, image size, state layout, action names, command
type: the observation/command spec), the normalization statistics (inside the state dict), and
explicit inference state for ``select_action``.

Inference timeline (``select_action``, one call per control tick; LeRobot's convention)::

    tick k:  observation o_k is pushed on the history queue (n_obs_steps long; at the first tick
             after reset() the queue is filled with copies of o_k)
             if the action queue is empty: predict a chunk of `horizon` actions from the history
             and queue its first `n_action_steps`
             pop and return the next action
    With temporal ensembling (ACT) a chunk is predicted at every tick and the action for tick k
    is the average of every chunk's prediction for k, weighted exp(-coef * age).
    A head that decodes in order (AR) decodes each executed step at the tick that sends it
    (``decoding.py``; ``decodes_per_tick``): the same actions, the cost spread over the ticks.

Coherent chunks (``chunk_candidates`` K > 1; the backward-coherence half of Bidirectional
Decoding, Liu et al. 2024): a multimodal head draws a fresh chunk every ``n_action_steps`` ticks,
and two chunks drawn from different modes (left of the obstacle, then right) make a path that
belongs to neither. With K > 1 the head draws K candidates in one batch and the policy keeps the
one closest (normalized actions, squared distance) to what the previous chunk still planned for
the same ticks: its unexecuted tail, or its last executed action when the chunk had no tail. The
first chunk of an episode is the first candidate, so the mode is still drawn as the head draws
it; later chunks follow it unless none of the candidates does.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import torch
from torch import nn

from bc_ros.core.policy.decoding import StepDecoder
from bc_ros.core.policy.encoders import EncoderConfig, ObservationEncoder
from bc_ros.core.policy.heads.base import HeadSpec, make_head
from bc_ros.core.policy.normalizer import Normalizer

# Heads that want targets in [-1, 1] get min_max action normalization; the others mean_std.
BOUNDED_HEADS = ("diffusion", "ar")


@dataclasses.dataclass
class PolicyConfig:
    head: str = "gaussian"
    head_options: dict = dataclasses.field(default_factory=dict)
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    cameras: list[str] = dataclasses.field(default_factory=lambda: ["center"])
    image_size: tuple[int, int] = (96, 96)          # (width, height)
    state_dim: int = 0                              # 0: images only
    state_names: list[str] = dataclasses.field(default_factory=list)
    action_names: list[str] = dataclasses.field(default_factory=lambda: ["vx", "yaw_rate"])
    command_type: str = "twist"
    command_interface: str = "velocity"             # what the actions are: velocity | position
    goal_dim: int = 0
    n_obs_steps: int = 1                            # observation history
    horizon: int = 1                                # actions predicted per chunk
    n_action_steps: int = 1                         # actions executed per chunk
    temporal_ensemble: float = 0.0                  # > 0: ACT's exponential weight coefficient
    chunk_candidates: int = 1                       # > 1: coherent chunks (module docstring)
    robot: str = ""
    task: str = ""
    # The recording's robot profile (bc_ros.core.robot), {} when it had none: the policy node
    # takes topics, joint order and command limits from it when it is given no profile.
    robot_profile: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.encoder, dict):
            self.encoder = EncoderConfig(**{k: tuple(v) if k == "channels" else v
                                            for k, v in self.encoder.items()})
        self.image_size = tuple(self.image_size)
        if not 1 <= self.n_action_steps <= self.horizon:
            raise ValueError(f"need 1 <= n_action_steps <= horizon, got "
                             f"{self.n_action_steps=} {self.horizon=}")
        if self.n_obs_steps < 1 or not self.cameras or not self.action_names:
            raise ValueError(f"need n_obs_steps >= 1, cameras and action_names, got "
                             f"{self.n_obs_steps=} {self.cameras=} {self.action_names=}")
        if self.temporal_ensemble < 0:
            raise ValueError(f"temporal_ensemble must be >= 0, got {self.temporal_ensemble=}")
        if self.chunk_candidates < 1:
            raise ValueError(f"chunk_candidates must be >= 1, got {self.chunk_candidates=}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["encoder"]["channels"] = list(d["encoder"]["channels"])
        d["image_size"] = list(self.image_size)
        return d

    def spec(self) -> dict:
        """What a node must feed the policy and what it sends back."""
        return {"cameras": list(self.cameras), "image_size": list(self.image_size),
                "state_dim": self.state_dim, "state_names": list(self.state_names),
                "action_names": list(self.action_names), "command_type": self.command_type,
                "command_interface": self.command_interface, "goal_dim": self.goal_dim,
                "robot": self.robot, "task": self.task, "robot_profile": self.robot_profile}


class Policy(nn.Module):
    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.config = c = config
        A = len(c.action_names)
        dims = {"action": A}
        modes = {"action": "min_max" if c.head in BOUNDED_HEADS else "mean_std"}
        if c.state_dim:
            dims["state"], modes["state"] = c.state_dim, "mean_std"
        if c.goal_dim:      # goals in metres span a few cm to a metre: scaled like the state
            dims["goal"], modes["goal"] = c.goal_dim, "mean_std"
        self.normalizer = Normalizer(dims, modes)
        self.encoder = ObservationEncoder(c.encoder, len(c.cameras), c.state_dim, c.n_obs_steps,
                                          c.goal_dim)
        self.head = make_head(c.head, HeadSpec(c.encoder.embed_dim, A, c.horizon),
                              **c.head_options)
        self.backend = None     # select_action's model calls: eager, or see set_backend
        self.reset()

    # ---- training ----------------------------------------------------------------------------
    def encode(self, images, state=None, goal=None):
        if self.config.state_dim:
            state = self.normalizer.normalize("state", state.float())
        return self.fuse(self.encoder.encode_steps(images, state), goal)

    def fuse(self, steps, goal=None):
        """Step features (B, n_obs_steps, step_dim) and the goal (B, G) as the robot's topic
        carries it (unnormalized) -> the head's condition (B, D)."""
        if self.config.goal_dim:
            if goal is None:
                raise ValueError(f"the policy is goal-conditioned ({self.config.goal_dim} "
                                 f"values) and was given no goal")
            goal = self.normalizer.normalize("goal", goal.float())
        return self.encoder.fuse(steps, goal)

    def forward(self, batch: dict) -> torch.Tensor:
        """Training loss of a batch from ``EpisodeDataset`` (tensors)."""
        cond = self.encode(batch["images"], batch.get("state"), batch.get("goal"))
        action = self.normalizer.normalize("action", batch["action"].float())
        # Under the trainer's bf16 autocast only the encoder runs in bf16: the heads' losses
        # (mixture log-likelihoods, noise regression, KL) stay in float32
        with torch.autocast(cond.device.type, enabled=False):
            return self.head.loss(cond.float(), action, batch.get("action_mask"))

    # ---- inference ---------------------------------------------------------------------------
    @torch.no_grad()
    def predict_chunk(self, images, state=None, goal=None,
                      generator: torch.Generator | None = None, noise=None) -> torch.Tensor:
        """images (B, T, V, 3, H, W) uint8, state (B, T, S) -> actions (B, horizon, A).
        ``noise``: the head's noise (``head.noise_spec``) instead of draws from ``generator``."""
        cond = self.encode(images, state, goal)
        return self.normalizer.unnormalize("action", self.head.sample(cond, generator,
                                                                      noise=noise))

    def set_backend(self, backend) -> None:
        """Run ``select_action``'s model calls through ``backend`` (``backend.py``:
        ``OnnxRuntimeBackend``), or eagerly with None. Training and ``predict_chunk`` stay
        eager. A backend runs the weights it was built from: build a new one after changing
        them. The inference state is cleared (step features may differ in the last bits)."""
        self.backend = backend
        self.reset()

    def set_inference(self, n_action_steps: int = 0, chunk_candidates: int = 0) -> None:
        """Change the run-time options a checkpoint carries (0 keeps each); clears the inference
        state. Call before ``set_backend``: an onnxruntime backend exports for the candidates."""
        c = self.config
        if not 0 <= n_action_steps <= c.horizon or chunk_candidates < 0:
            raise ValueError(f"n_action_steps must be 1..{c.horizon} (the chunk) and "
                             f"chunk_candidates >= 1, or 0 to keep the checkpoint's; got "
                             f"{n_action_steps=} {chunk_candidates=}")
        c.n_action_steps = n_action_steps or c.n_action_steps
        c.chunk_candidates = chunk_candidates or c.chunk_candidates
        self.reset()

    def reset(self) -> None:
        """Clear the inference state (call at every episode start)."""
        # per-step encoder features of the last n_obs_steps observations: a tick encodes only
        # its own frame (the encoder treats steps independently until fusion)
        self._steps: collections.deque = collections.deque(maxlen=self.config.n_obs_steps)
        self._actions: collections.deque = collections.deque()
        self._chunks: list[tuple[int, np.ndarray]] = []   # (tick predicted at, chunk)
        self._plan: np.ndarray | None = None   # coherent chunks: what the last chunk planned
        self._tick = 0                         # for the ticks after its executed part
        self._decoder: StepDecoder | None = None   # a chunk decoded a step per tick
        self.head.steps_needed = self.steps_needed()

    def can_decode_per_tick(self) -> bool:
        """Whether the head and the run-time options allow decoding the executed steps one per
        tick (``decoding.py``): a head that decodes in order (AR), and nothing that reads
        beyond the executed steps at the planning tick (coherent candidates, temporal
        ensembling)."""
        c = self.config
        return (getattr(self.head, "incremental", False) and c.chunk_candidates == 1
                and c.temporal_ensemble == 0)

    def decodes_per_tick(self) -> bool:
        """Whether ``select_action`` decodes the executed steps one per tick: it can, and the
        backend has the graphs for it (an onnxruntime backend exports them when it can)."""
        return self.can_decode_per_tick() and (self.backend is None
                                               or getattr(self.backend, "decodes", False))

    def steps_needed(self) -> int:
        """The chunk's first steps that run time reads: the executed ones, unless coherent
        chunks (which compare the plan beyond them) or temporal ensembling (which averages
        later steps) are on; then all."""
        c = self.config
        if c.chunk_candidates > 1 or c.temporal_ensemble > 0:
            return c.horizon
        return c.n_action_steps

    @torch.no_grad()
    def select_action(self, images: np.ndarray, state: np.ndarray | None = None,
                      goal: np.ndarray | None = None,
                      generator: torch.Generator | None = None) -> np.ndarray:
        """One control tick. images (V, H, W, 3) uint8 in ``cameras`` order, state (S,).
        Returns the action (A,) to execute now. See the module docstring for the timeline."""
        c = self.config
        # (V, 3, H, W), copied into NCHW order: the convolutions took 0.4 ms more per tick on
        # the permuted (channels-last) view (benchmarks/bench_policy_latency.py)
        img = torch.as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        backend = self.backend
        if backend is not None:
            step = backend.encode_step(img[None, None], state)
        else:
            st = None
            if c.state_dim:
                st = self.normalizer.normalize(
                    "state", torch.as_tensor(state, dtype=torch.float32))[None, None]  # (1,1,S)
            step = self.encoder.encode_steps(img[None, None], st)[0, 0]     # (step_dim,)
        while len(self._steps) < c.n_obs_steps:    # first tick: pad the history with o_0
            self._steps.append(step)
        self._steps.append(step)

        def chunk(candidates: int = 1):
            steps = torch.stack(list(self._steps))[None]                    # (1, T, step_dim)
            if backend is not None:
                return backend.chunk(steps, goal, generator, candidates)
            g = torch.as_tensor(goal, dtype=torch.float32)[None] if goal is not None else None
            self.head.steps_needed = self.steps_needed()   # options changed since reset
            cond = self.fuse(steps, g).expand(candidates, -1)               # (K, D)
            sample = self.head.sample(cond, generator)
            out = self.normalizer.unnormalize("action", sample).numpy()     # (K, H, A)
            return out[0] if candidates == 1 else out

        tick, self._tick = self._tick, self._tick + 1
        if c.temporal_ensemble > 0:
            self._chunks.append((tick, chunk()))
            self._chunks = [(t0, ch) for t0, ch in self._chunks if tick - t0 < c.horizon]
            preds = np.stack([ch[tick - t0] for t0, ch in self._chunks])   # oldest first
            ages = np.array([tick - t0 for t0, _ in self._chunks], dtype=np.float64)
            w = np.exp(-c.temporal_ensemble * (ages.max() - ages))         # ACT: w_i = exp(-m*i)
            return (w[:, None] * preds).sum(0) / w.sum()
        if not self._actions and self._decoder is not None and self._decoder.left:
            self._actions.append(self._decoder.next())
        if not self._actions and self.decodes_per_tick():
            self._decoder = StepDecoder(self, torch.stack(list(self._steps))[None], goal,
                                        generator, c.n_action_steps)
            self._actions.append(self._decoder.next())
        if not self._actions:
            if c.chunk_candidates > 1:
                chosen = self._coherent(chunk(c.chunk_candidates))
            else:
                chosen = chunk()
            self._actions.extend(chosen[: c.n_action_steps])
        return self._actions.popleft()

    def queued_actions(self) -> np.ndarray:
        """(n, A) the actions the next n ticks' ``select_action`` will return without predicting
        again: the rest of the current chunk's executed part (its first ``n_action_steps``),
        oldest first. Empty (0, A) when the queue is, and always with temporal ensembling, where
        every tick predicts anew. A robot that takes trajectories (policy_node's
        ``publish_chunk``) gets them with this tick's action, as one plan."""
        while self._decoder is not None and self._decoder.left:   # decoded now, not later
            self._actions.append(self._decoder.next())
        if not self._actions:
            return np.zeros((0, len(self.config.action_names)))
        return np.stack([np.asarray(a, dtype=np.float64) for a in self._actions])

    def _coherent(self, candidates: np.ndarray) -> np.ndarray:
        """The candidate (K, H, A) -> (H, A) that continues the previous chunk's plan."""
        c = self.config
        best = 0
        if self._plan is not None:
            scale = self.normalizer.action_scale.numpy()                     # (A,)
            n = min(len(self._plan), c.horizon)
            diff = (candidates[:, :n] - self._plan[None, :n]) / scale       # (K, n, A)
            best = int(np.argmin((diff ** 2).sum(axis=(1, 2))))
        chosen = candidates[best]
        tail = chosen[c.n_action_steps:]
        self._plan = tail if len(tail) else chosen[c.n_action_steps - 1:c.n_action_steps]
        return chosen
