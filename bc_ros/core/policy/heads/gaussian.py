"""Unimodal Gaussian head: the baseline. With bimodal demonstrations its mean lands between the
modes (the expert going left and right around a tree gives "straight into the tree")."""

from __future__ import annotations

import dataclasses
import math

from torch.nn import functional as F

from bc_ros.core.policy.heads.base import ActionHead, masked_mean, mlp, register


@dataclasses.dataclass
class GaussianOptions:
    hidden: int = 256         # width of the two hidden layers
    min_std: float = 1e-3     # floor on the standard deviation, keeps the NLL finite
    sample_noise: bool = False  # sample around the mean at inference (default: the mean)

    def __post_init__(self):
        if self.hidden < 1 or not self.min_std > 0:
            raise ValueError(f"hidden must be >= 1 and min_std > 0, got {self}")


@register("gaussian")
class GaussianHead(ActionHead):
    Options = GaussianOptions

    def __init__(self, spec, options=None):
        super().__init__(spec, options)
        o, n = self.options, spec.horizon * spec.action_dim
        self.net = mlp([spec.cond_dim, o.hidden, o.hidden, 2 * n])

    def _params(self, cond):
        B, H, A = cond.shape[0], self.spec.horizon, self.spec.action_dim
        mean, raw = self.net(cond).view(B, H, A, 2).unbind(-1)   # (B, H, A) each
        return mean, F.softplus(raw) + self.options.min_std

    def loss(self, cond, action, mask=None):
        mean, std = self._params(cond)
        nll = 0.5 * ((action - mean) / std) ** 2 + std.log() + 0.5 * math.log(2 * math.pi)
        return masked_mean(nll.sum(-1), mask)                     # (B, H) -> scalar

    def noise_spec(self, batch):
        if not self.options.sample_noise:
            return {}
        return {"eps": ((batch, self.spec.horizon, self.spec.action_dim), "normal")}

    def sample_from_noise(self, cond, noise):
        mean, std = self._params(cond)
        if not self.options.sample_noise:
            return mean
        return mean + std * noise["eps"]
