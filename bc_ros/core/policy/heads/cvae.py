"""Conditional VAE head (the action-chunking part of ACT, without the transformer): an encoder
q(z | observation, action chunk), a decoder p(action chunk | observation, z), trained with a
reconstruction loss plus beta * KL to the unit Gaussian prior.

Where z comes from at test time (``latent``):
  ``bank``   (default) a latent code the encoder actually produced during training, drawn from a
             ring buffer of posterior means kept in the state dict: an empirical estimate of the
             aggregate posterior ("ex-post density estimation", Ghosh et al. 2020). Draws from
             the N(0, I) prior also land in the gap between the modes, which the decoder maps to
             in-between actions: on the bimodal toy 75-81 % of prior draws were near a mode.
  ``prior``  z ~ N(0, I), the textbook choice.
  ``zero``   z = 0, the prior mean, as ACT does at inference (one deterministic mode).
"""

from __future__ import annotations

import dataclasses

import torch

from bc_ros.core.policy.heads.base import ActionHead, masked_mean, mlp, register


@dataclasses.dataclass
class CVAEOptions:
    latent: int = 8            # size of z
    hidden: int = 256
    beta: float = 0.3          # KL weight (ACT uses 10 with an L1 loss on a transformer)
    latent_source: str = "bank"  # bank | prior | zero (see the module docstring)
    bank_size: int = 1024      # posterior means kept for the bank

    def __post_init__(self):
        if self.latent < 1 or self.hidden < 1 or self.beta < 0 or self.bank_size < 1:
            raise ValueError(f"latent, hidden, bank_size >= 1 and beta >= 0 needed, got {self}")
        if self.latent_source not in ("bank", "prior", "zero"):
            raise ValueError(f"latent_source must be bank, prior or zero, "
                             f"got {self.latent_source=}")


@register("cvae")
class CVAEHead(ActionHead):
    Options = CVAEOptions

    def __init__(self, spec, options=None):
        super().__init__(spec, options)
        o, n = self.options, spec.horizon * spec.action_dim
        self.encoder = mlp([spec.cond_dim + n, o.hidden, o.hidden, 2 * o.latent])
        self.decoder = mlp([spec.cond_dim + o.latent, o.hidden, o.hidden, n])
        self.register_buffer("bank", torch.zeros(o.bank_size, o.latent))
        self.register_buffer("bank_filled", torch.tensor(0))
        self.register_buffer("bank_next", torch.tensor(0))

    @torch.no_grad()
    def _remember(self, mu):
        """Keep the newest posterior means in the ring buffer."""
        size = self.options.bank_size
        mu = mu.detach()[-size:]
        idx = (self.bank_next + torch.arange(len(mu), device=mu.device)) % size
        self.bank[idx] = mu
        self.bank_next.copy_((self.bank_next + len(mu)) % size)
        self.bank_filled.copy_(torch.clamp(self.bank_filled + len(mu), max=size))

    def loss(self, cond, action, mask=None):
        B, H, A = action.shape
        mu, logvar = self.encoder(torch.cat([cond, action.reshape(B, -1)], -1)).chunk(2, -1)
        if self.training:
            self._remember(mu)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)                 # (B, latent)
        recon = self.decoder(torch.cat([cond, z], -1)).view(B, H, A)
        rec = masked_mean(((recon - action) ** 2).sum(-1), mask)
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1).mean()
        return rec + self.options.beta * kl

    def noise_spec(self, batch):
        """Where z comes from follows ``latent_source``; a bank head that was never trained
        falls back to the prior. ``sample_from_noise`` reads the choice from the noise it gets,
        so an exported graph keeps the source the head had at export time."""
        source = self.options.latent_source
        if source == "bank" and int(self.bank_filled) > 0:
            return {"pick": ((batch,), "uniform")}    # which remembered code
        if source != "zero":
            return {"z": ((batch, self.options.latent), "normal")}
        return {}

    def sample_from_noise(self, cond, noise):
        B = cond.shape[0]
        if "pick" in noise:   # the bank: a uniform scaled to the filled part of the ring
            filled = self.bank_filled.to(noise["pick"].dtype)
            pick = torch.minimum((noise["pick"] * filled).long(), self.bank_filled - 1)
            z = self.bank[pick]                                               # (B, latent)
        elif "z" in noise:    # the prior
            z = noise["z"]
        else:                 # the prior mean
            z = cond.new_zeros((B, self.options.latent))
        return self.decoder(torch.cat([cond, z], -1)).view(B, self.spec.horizon,
                                                           self.spec.action_dim)
