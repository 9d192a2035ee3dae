"""A chunk decoded one executed step per tick, for a head that decodes in order (the AR head:
``head.incremental``).

An autoregressive head's tokens come one after another, and the tokens of a step depend only on
the observation and the tokens before them. So the action a tick sends can be decoded at that
tick, from the state the previous tick left: the planning tick fuses the observation and decodes
the first step's tokens, each later tick of the chunk decodes its own step's. The actions are
the ones the whole chunk decoded at once would give (same noise, drawn at the planning tick in
the same order, same arithmetic), and the planning tick costs one step's tokens instead of
``n_action_steps`` steps' (``benchmarks/bench_policy_node.py``'s planning ticks).

    decoder = StepDecoder(policy, steps, goal, generator, n_steps=c.n_action_steps)
    action = decoder.next()           # (A,) unnormalized; decoder.left steps remain

Eager PyTorch or the onnxruntime backend's ``decode_begin`` / ``decode_step`` graphs, whichever
runs the policy.
"""

from __future__ import annotations

import numpy as np
import torch


class StepDecoder:
    def __init__(self, policy, steps: torch.Tensor, goal, generator: torch.Generator | None,
                 n_steps: int):
        """steps (1, n_obs_steps, step_dim): the history's step features; goal as the topic
        carries it (or None); the head's noise for the chunk is drawn from ``generator`` now."""
        self.policy, self.head, self.backend = policy, policy.head, policy.backend
        self.A = len(policy.config.action_names)
        self.left = n_steps
        self._i = 0
        self.u = self.head.draw_noise(1, generator)["u"]                       # (1, H * A)
        if self.backend is not None:
            self.gi, self.hidden = self.backend.decode_begin(steps, goal)
            self.prev = np.full((1,), self.head.options.bins, dtype=np.int64)
            self.u = self.u.numpy()
        else:
            with torch.no_grad():
                g = (torch.as_tensor(goal, dtype=torch.float32)[None] if goal is not None
                     else None)
                self.gi, self.hidden = self.head.decode_begin(policy.fuse(steps, g))
            self.prev = self.head.start_tokens(1)

    def next(self) -> np.ndarray:
        """The next step's action (A,), unnormalized."""
        if self.left <= 0:
            raise RuntimeError("every step of this chunk was decoded")
        part = slice(self._i * self.A, (self._i + 1) * self.A)
        if self.backend is not None:
            action, self.hidden, self.prev = self.backend.decode_step(
                self.gi[:, part], self.hidden, self.prev, self.u[:, part])
        else:
            with torch.no_grad():
                tokens, self.hidden, self.prev = self.head.decode_tokens(
                    self.gi[:, part], self.hidden, self.prev, self.u[:, part])
                action = self.policy.normalizer.unnormalize(
                    "action", self.head.centers[tokens]).numpy()[0]
        self._i += 1
        self.left -= 1
        return action
