"""Mixture-of-Gaussians head (robomimic's GMMActorNetwork): K diagonal Gaussians over the whole
action chunk with learned weights. Sampling picks a component by its weight (or the likeliest),
then returns its mean (low-noise evaluation, the default) or a draw from it.

Two training objectives (``loss``):
  ``nll``  the mixture negative log-likelihood (logsumexp over components), robomimic's. On the
           drone's 64-number chunks it collapsed: every component learned the same average path
           and they differed only in their spreads, so the head went between the trees' sides.
  ``wta``  winner takes all (the MTP loss of trajectory forecasting, Cui et al. 2019): each
           sample trains only the component whose mean is nearest to it (its Gaussian
           likelihood), and the weights learn, by cross-entropy, which component that was. The
           assignment by distance, not by likelihood, keeps components apart: a component cannot
           win samples by widening its spread.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch.nn import functional as F

from bc_ros.core.policy.heads.base import ActionHead, inverse_cdf, mlp, register


@dataclasses.dataclass
class MoGOptions:
    num_modes: int = 5        # K components
    hidden: int = 256
    min_std: float = 1e-2     # scale floor (robomimic uses 1e-4 with softplus; 1e-2 trains
                              # more stably on small datasets)
    low_noise_eval: bool = True  # return the chosen component's mean
    choice: str = "sample"    # how a chunk's component is chosen: sample (by its weight) |
                              # argmax (the likeliest given the observation)
    loss: str = "nll"         # nll | wta (see the module docstring)

    def __post_init__(self):
        if self.num_modes < 1 or self.hidden < 1 or not self.min_std > 0:
            raise ValueError(f"num_modes, hidden >= 1 and min_std > 0 needed, got {self}")
        if self.choice not in ("sample", "argmax"):
            raise ValueError(f"choice must be sample or argmax, got {self.choice=}")
        if self.loss not in ("nll", "wta"):
            raise ValueError(f"loss must be nll or wta, got {self.loss=}")


@register("mog")
class MoGHead(ActionHead):
    Options = MoGOptions

    def __init__(self, spec, options=None):
        super().__init__(spec, options)
        o, n = self.options, spec.horizon * spec.action_dim
        self.net = mlp([spec.cond_dim, o.hidden, o.hidden, o.num_modes * (2 * n + 1)])

    def _params(self, cond):
        B, K, n = cond.shape[0], self.options.num_modes, self.spec.horizon * self.spec.action_dim
        out = self.net(cond)
        logits = out[:, :K]                                        # (B, K)
        mean, raw = out[:, K:].view(B, K, n, 2).unbind(-1)         # (B, K, n) each
        return logits, mean, F.softplus(raw) + self.options.min_std

    def loss(self, cond, action, mask=None):
        logits, mean, std = self._params(cond)
        B, H, A = action.shape
        x = action.reshape(B, 1, H * A)
        # Per-dimension log-density, with masked (padded) steps contributing nothing.
        logp = -0.5 * ((x - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)
        keep = None
        if mask is not None:
            keep = mask.repeat_interleave(A, dim=1).unsqueeze(1).to(logp.dtype)   # (B, 1, n)
            logp = logp * keep
        steps = mask.sum(-1).clamp_min(1) if mask is not None else torch.full((B,), H)
        if self.options.loss == "wta":
            with torch.no_grad():                     # the winner: the nearest mean
                sq = (x - mean) ** 2
                winner = (sq * keep if keep is not None else sq).sum(-1).argmin(-1)   # (B,)
            own = logp.sum(-1).gather(1, winner[:, None]).squeeze(1)                 # (B,)
            return (-own / steps).mean() + F.cross_entropy(logits, winner)
        log_mix = torch.logsumexp(F.log_softmax(logits, -1) + logp.sum(-1), dim=-1)  # (B,)
        return (-log_mix / steps).mean()

    def noise_spec(self, batch):
        spec = {}
        if self.options.choice == "sample":   # the component, by inverse CDF (argmax: none, so
            spec["choice"] = ((batch,), "uniform")   # an exported graph has no unused input)
        if not self.options.low_noise_eval:
            spec["eps"] = ((batch, self.spec.horizon * self.spec.action_dim), "normal")
        return spec

    def sample_from_noise(self, cond, noise):
        logits, mean, std = self._params(cond)
        B, H, A = cond.shape[0], self.spec.horizon, self.spec.action_dim
        if self.options.choice == "argmax":
            k = logits.argmax(-1)                                                  # (B,)
        else:
            k = inverse_cdf(F.softmax(logits, -1), noise["choice"])               # (B,)
        pick = k.view(B, 1, 1).expand(B, 1, H * A)
        chosen_mean = mean.gather(1, pick).squeeze(1)                             # (B, n)
        if self.options.low_noise_eval:
            return chosen_mean.view(B, H, A)
        chosen_std = std.gather(1, pick).squeeze(1)
        return (chosen_mean + chosen_std * noise["eps"]).view(B, H, A)
