"""Exponential moving average of a model's weights, the copy that is evaluated and deployed.

Diffusion Policy and LeRobot evaluate an EMA of the weights rather than the last iterate: the
average over the last few hundred steps is smoother than any one of them, which matters most for
the heads whose loss is noisy (diffusion's random timesteps, the CVAE's latent draws). The decay
warms up as ``1 - (1 + step / inv_gamma) ** -power``, capped at ``max_decay``, so the first steps
are not dominated by the random initial weights (power 3/4: about 0.99 at step 500, 0.997 at
step 2 500, 0.999 at step 10 000).

Buffers (the normalizer's statistics) are copied, not averaged.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, power: float = 0.75, max_decay: float = 0.9999,
                 inv_gamma: float = 1.0, min_decay: float = 0.0):
        if not 0.0 < power or not 0.0 <= min_decay <= max_decay < 1.0 or inv_gamma <= 0:
            raise ValueError(f"EMA needs power > 0, inv_gamma > 0 and 0 <= min_decay <= "
                             f"max_decay < 1, got {power=} {inv_gamma=} {min_decay=} "
                             f"{max_decay=}")
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.power, self.max_decay, self.inv_gamma, self.min_decay = (
            power, max_decay, inv_gamma, min_decay)
        self.updates = 0

    def decay(self, updates: int) -> float:
        value = 1.0 - (1.0 + updates / self.inv_gamma) ** -self.power
        return min(self.max_decay, max(self.min_decay, value)) if updates > 0 else 0.0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step of the average towards ``model``'s current weights."""
        d = self.decay(self.updates)
        self.updates += 1
        ema = dict(self.model.named_parameters())
        for name, p in model.named_parameters():
            ema[name].lerp_(p.detach(), 1.0 - d)
        ema_buffers = dict(self.model.named_buffers())
        for name, b in model.named_buffers():
            ema_buffers[name].copy_(b)

    def state_dict(self) -> dict:
        return {"weights": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
