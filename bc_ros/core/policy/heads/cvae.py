"""Conditional VAE head (the action-chunking part of ACT, without the transformer): an encoder
q(z | observation, action chunk), a decoder p(action chunk | observation, z), trained with a
reconstruction loss plus beta * KL to the unit Gaussian prior. At test time z comes from the
prior, so different draws can land in different modes (ACT uses z = 0, the prior mean: set
``sample_prior=False`` for that)."""

from __future__ import annotations

import dataclasses

import torch

from bc_ros.core.policy.heads.base import ActionHead, masked_mean, mlp, register


@dataclasses.dataclass
class CVAEOptions:
    latent: int = 8            # size of z
    hidden: int = 256
    beta: float = 0.05         # KL weight (ACT uses 10 with an L1 loss on a transformer)
    sample_prior: bool = True  # z ~ N(0, I) at test time; False: z = 0

    def __post_init__(self):
        if self.latent < 1 or self.hidden < 1 or self.beta < 0:
            raise ValueError(f"latent, hidden >= 1 and beta >= 0 needed, got {self}")


@register("cvae")
class CVAEHead(ActionHead):
    Options = CVAEOptions

    def __init__(self, spec, options=None):
        super().__init__(spec, options)
        o, n = self.options, spec.horizon * spec.action_dim
        self.encoder = mlp([spec.cond_dim + n, o.hidden, o.hidden, 2 * o.latent])
        self.decoder = mlp([spec.cond_dim + o.latent, o.hidden, o.hidden, n])

    def loss(self, cond, action, mask=None):
        B, H, A = action.shape
        mu, logvar = self.encoder(torch.cat([cond, action.reshape(B, -1)], -1)).chunk(2, -1)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)                 # (B, latent)
        recon = self.decoder(torch.cat([cond, z], -1)).view(B, H, A)
        rec = masked_mean(((recon - action) ** 2).sum(-1), mask)
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1).mean()
        return rec + self.options.beta * kl

    @torch.no_grad()
    def sample(self, cond, generator=None):
        B = cond.shape[0]
        shape = (B, self.options.latent)
        z = (torch.randn(shape, generator=generator, device=cond.device)
             if self.options.sample_prior else torch.zeros(shape, device=cond.device))
        return self.decoder(torch.cat([cond, z], -1)).view(B, self.spec.horizon,
                                                           self.spec.action_dim)
