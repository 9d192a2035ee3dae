"""Diffusion head (Diffusion Policy, Chi et al. 2023): DDPM training over ``train_steps`` noise
levels, DDIM sampling in ``sample_steps`` steps, predicting a whole action chunk at once. The
denoiser is a residual MLP over the flattened chunk (``denoiser: mlp``, the compact default) or a
temporal-convolution UNet over the chunk's time axis (``denoiser: unet``, ``unet1d.py``: Diffusion
Policy's choice, smoother chunks); both are FiLM-conditioned on [observation, timestep]. The noise schedules are diffusers' DDPMScheduler / DDIMScheduler (squared-
cosine betas, epsilon prediction, samples clipped to [-1, 1], where the normalizer maps each
action dimension's q01..q99).

Sampling does not call ``DDIMScheduler.step``: with eta = 0 a DDIM step is deterministic given
the initial noise, so the ``sample_steps`` updates are unrolled with their coefficients taken
from the scheduler at construction (``ddim_coefficients``); the result matches ``step`` to float
precision, traces to ONNX, and skips diffusers' per-step Python work. The FiLM input of every
block is linear in [cond, time embedding], so its cond part is computed once per chunk (not once
per step) and its time part for all steps in one product; both denoisers share this through
``film_layers`` and ``eps``."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from bc_ros.core.policy.heads.base import ActionHead, masked_mean, register


@dataclasses.dataclass
class DiffusionOptions:
    train_steps: int = 100     # DDPM noise levels at training
    sample_steps: int = 10     # DDIM steps at inference
    prediction: str = "epsilon"   # what the denoiser predicts: epsilon (the noise) | sample (x0)
    denoiser: str = "mlp"      # mlp | unet
    hidden: int = 256          # mlp: width
    blocks: int = 3            # mlp: residual blocks
    unet_dims: tuple[int, ...] = (64, 128, 256)   # unet: channels per level (time halves)
    kernel: int = 5            # unet: temporal convolution width
    time_embed: int = 64

    def __post_init__(self):
        self.unet_dims = tuple(self.unet_dims)
        if not 1 <= self.sample_steps <= self.train_steps:
            raise ValueError(f"need 1 <= sample_steps <= train_steps, got {self}")
        if self.hidden < 1 or self.blocks < 1 or self.time_embed < 2:
            raise ValueError(f"hidden, blocks >= 1 and time_embed >= 2 needed, got {self}")
        if self.prediction not in ("epsilon", "sample"):
            raise ValueError(f"prediction must be epsilon or sample, got {self.prediction=}")
        if self.denoiser not in ("mlp", "unet"):
            raise ValueError(f"denoiser must be mlp or unet, got {self.denoiser=}")
        if not self.unet_dims or min(self.unet_dims) < 1 or self.kernel % 2 == 0:
            raise ValueError(f"unet_dims must be positive and kernel odd, got "
                             f"{self.unet_dims=} {self.kernel=}")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=-1)


class ResidualBlock(nn.Module):
    def __init__(self, width: int, cond_width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.film = nn.Linear(cond_width, 2 * width)   # FiLM: scale and shift from the condition
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x, c):
        scale, shift = self.film(c).chunk(2, -1)
        return self.modulated(x, 1 + scale, shift)

    def modulated(self, x, gain, shift):
        """The block given its FiLM output as gain (= 1 + scale) and shift, each (B, width)."""
        h = self.norm(x) * gain + shift
        return x + self.fc2(nn.functional.mish(self.fc1(nn.functional.mish(h))))


@register("diffusion")
class DiffusionHead(ActionHead):
    Options = DiffusionOptions

    def __init__(self, spec, options=None):
        super().__init__(spec, options)
        from diffusers.schedulers import DDIMScheduler, DDPMScheduler

        o, n = self.options, spec.horizon * spec.action_dim
        schedule = dict(num_train_timesteps=o.train_steps, beta_schedule="squaredcos_cap_v2",
                        clip_sample=True, prediction_type=o.prediction)
        self.train_scheduler = DDPMScheduler(**schedule)
        self.sample_scheduler = DDIMScheduler(**schedule)
        self.sampling_changed()
        cond_width = spec.cond_dim + o.time_embed
        if o.denoiser == "unet":
            from bc_ros.core.policy.heads.unet1d import TemporalUNet
            self.unet = TemporalUNet(spec.action_dim, spec.horizon, cond_width, o.unet_dims,
                                     o.kernel)
        else:   # the attribute names of checkpoints from before the unet existed
            self.inp = nn.Linear(n, o.hidden)
            self.blocks = nn.ModuleList(ResidualBlock(o.hidden, cond_width)
                                        for _ in range(o.blocks))
            self.outp = nn.Sequential(nn.LayerNorm(o.hidden), nn.Linear(o.hidden, n))

    def sampling_changed(self):
        """Take ``options.sample_steps`` (set at construction, or changed for an evaluation)."""
        self.sample_scheduler.set_timesteps(self.options.sample_steps)
        self.ddim = self.ddim_coefficients()

    def film_layers(self) -> list[nn.Linear]:
        """The denoiser's FiLM maps of [cond, time embedding], in the order ``eps`` takes them."""
        blocks = self.unet.blocks() if self.options.denoiser == "unet" else self.blocks
        return [block.film for block in blocks]

    def eps(self, x, films):
        """The denoiser's output for flattened noisy chunks x (B, n) -- the noise, or the clean
        chunk with ``prediction: sample`` -- given each FiLM layer's (gain, shift), each
        (B, width)."""
        if self.options.denoiser == "unet":
            B = x.shape[0]
            chunk = x.view(B, self.spec.horizon, self.spec.action_dim)
            return self.unet(chunk, films).reshape(B, -1)
        h = self.inp(x)
        for block, (gain, shift) in zip(self.blocks, films):
            h = block.modulated(h, gain, shift)
        return self.outp(h)

    def denoise(self, noisy, t, cond):
        """The denoiser's output (noise or clean chunk) for flattened noisy chunks (B, n) at
        timesteps t (B,)."""
        c = torch.cat([cond, timestep_embedding(t, self.options.time_embed)], -1)
        films = []
        for film in self.film_layers():
            scale, shift = film(c).chunk(2, -1)
            films.append((1 + scale, shift))
        return self.eps(noisy, films)

    def loss(self, cond, action, mask=None):
        B, H, A = action.shape
        x0 = action.reshape(B, H * A)
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.options.train_steps, (B,), device=cond.device)
        noisy = self.train_scheduler.add_noise(x0, noise, t)
        target = noise if self.options.prediction == "epsilon" else x0
        err = (self.denoise(noisy, t, cond) - target) ** 2                   # (B, n)
        return masked_mean(err.view(B, H, A).sum(-1), mask)

    def ddim_coefficients(self) -> list[tuple[int, float, float, float, float]]:
        """Per DDIM step (t, 1/sqrt(a_t), sqrt(1 - a_t), sqrt(a_prev), sqrt(1 - a_prev)), with
        a = alphas_cumprod, as ``DDIMScheduler.step`` (eta = 0) computes them."""
        s = self.sample_scheduler
        ratio = s.config.num_train_timesteps // s.num_inference_steps
        out = []
        for t in s.timesteps.tolist():
            a_t = s.alphas_cumprod[t]
            a_prev = s.alphas_cumprod[t - ratio] if t - ratio >= 0 else s.final_alpha_cumprod
            out.append((t, float(1 / a_t ** 0.5), float((1 - a_t) ** 0.5), float(a_prev ** 0.5),
                        float((1 - a_prev) ** 0.5)))
        return out

    def noise_spec(self, batch):
        return {"x_T": ((batch, self.spec.horizon * self.spec.action_dim), "normal")}

    def sample_from_noise(self, cond, noise):
        B, H, A = cond.shape[0], self.spec.horizon, self.spec.action_dim
        steps, D = self.ddim, self.spec.cond_dim
        clip = self.sample_scheduler.config.clip_sample_range
        # FiLM of each block at each step, split as W [cond, temb] + b = W_c cond + (W_t temb + b)
        # (slices of the weight, no copy).
        t = torch.tensor([step[0] for step in steps], device=cond.device)
        temb = timestep_embedding(t, self.options.time_embed)               # (S, E)
        films = []
        for layer in self.film_layers():
            w = layer.weight                                                # (2W, D + E)
            film = (nn.functional.linear(cond, w[:, :D]).unsqueeze(0)       # (1, B, 2W)
                    + nn.functional.linear(temb, w[:, D:], layer.bias).unsqueeze(1))
            scale, shift = film.chunk(2, -1)                                # (S, B, W) each
            films.append((scale + 1, shift))
        x = noise["x_T"]                                                    # (B, n)
        for i, (_, inv_sqrt_a, sqrt_1ma, sqrt_a_prev, sqrt_1ma_prev) in enumerate(steps):
            out = self.eps(x, [(gain[i], shift[i]) for gain, shift in films])   # (B, n)
            if self.options.prediction == "epsilon":
                eps = out
                x0 = ((x - sqrt_1ma * eps) * inv_sqrt_a).clamp(-clip, clip)
            else:   # the clean chunk; the noise it implies before clipping, as diffusers does
                eps = (x - out / inv_sqrt_a) / sqrt_1ma
                x0 = out.clamp(-clip, clip)
            x = sqrt_a_prev * x0 + sqrt_1ma_prev * eps
        return x.view(B, H, A)

    @torch.no_grad()
    def sample_with_scheduler(self, cond, x_T):
        """The reference loop through diffusers' ``DDIMScheduler.step`` (eta = 0), for tests."""
        B = cond.shape[0]
        x = x_T
        for t in self.sample_scheduler.timesteps:
            eps = self.denoise(x, t.expand(B), cond)
            x = self.sample_scheduler.step(eps, t, x).prev_sample
        return x.view(B, self.spec.horizon, self.spec.action_dim)
