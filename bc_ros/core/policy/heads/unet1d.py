"""A temporal-convolution UNet over an action chunk, FiLM-conditioned: the diffusion head's
``denoiser: unet`` (the architecture Diffusion Policy's ConditionalUnet1D made the default, here
sized for CPUs and chunks of 8-32).

The chunk is a 1-D signal of ``horizon`` steps with ``action_dim`` channels. Each level halves
the time axis (a strided convolution) and widens the channels (``dims``); the way back up doubles
it (a transposed convolution) and concatenates the skip of the same level. Convolutions along
time are what make the denoised chunks smooth: a step's noise estimate sees its neighbours.

Every residual block is conditioned by FiLM: ``gain * h + shift`` per channel after its first
convolution, with (gain, shift) from the observation embedding and the diffusion timestep. The
block does not compute them itself: ``film_layers`` lists the linear maps in order and
``forward`` takes their outputs, so the head can compute the observation's part once per chunk
and the timestep's part once for all DDIM steps (``DiffusionHead.sample_from_noise``).

A horizon that is not a multiple of 2 ** (levels - 1) is zero-padded at the end and cropped back,
so any chunk length works with fixed shapes (ONNX export traces it).

    x (B, H, A) -> (B, A, H') -> down: block(A -> d0), down, block(d0 -> d1), down, ...
                  mid: block(d_last)
                  up:  up, concat the skip, block(d_(i+1) + d_i -> d_i), ...
                  -> conv 1x1 (d0 -> A) -> (B, H, A)
"""

from __future__ import annotations

import torch
from torch import nn


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


class FiLMResidualBlock(nn.Module):
    """conv -> GroupNorm -> Mish -> FiLM -> conv -> GroupNorm -> Mish, plus a (1x1) residual."""

    def __init__(self, c_in: int, c_out: int, cond_width: int, kernel: int):
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Sequential(nn.Conv1d(c_in, c_out, kernel, padding=pad),
                                   nn.GroupNorm(_groups(c_out), c_out), nn.Mish())
        self.conv2 = nn.Sequential(nn.Conv1d(c_out, c_out, kernel, padding=pad),
                                   nn.GroupNorm(_groups(c_out), c_out), nn.Mish())
        self.film = nn.Linear(cond_width, 2 * c_out)       # (gain - 1, shift) per channel
        self.residual = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, gain, shift):                    # x (B, C_in, H); gain, shift (B, C)
        h = self.conv1(x) * gain.unsqueeze(-1) + shift.unsqueeze(-1)
        return self.conv2(h) + self.residual(x)


class TemporalUNet(nn.Module):
    def __init__(self, action_dim: int, horizon: int, cond_width: int,
                 dims: tuple[int, ...] = (64, 128, 256), kernel: int = 5):
        super().__init__()
        if not dims or min(dims) < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"unet needs positive dims and an odd kernel, got {dims=} {kernel=}")
        self.horizon = horizon
        self.stride = 2 ** (len(dims) - 1)
        self.padded = -(-horizon // self.stride) * self.stride
        widths = [action_dim, *dims]
        self.down = nn.ModuleList(FiLMResidualBlock(a, b, cond_width, kernel)
                                  for a, b in zip(widths[:-1], widths[1:]))
        self.downsample = nn.ModuleList(nn.Conv1d(d, d, 3, stride=2, padding=1)
                                        for d in dims[:-1])
        self.mid = FiLMResidualBlock(dims[-1], dims[-1], cond_width, kernel)
        self.upsample = nn.ModuleList(nn.ConvTranspose1d(d, d, 4, stride=2, padding=1)
                                      for d in reversed(dims[1:]))
        # up level i: the upsampled d_(i+1) channels and the skip's d_i -> d_i
        self.up = nn.ModuleList(FiLMResidualBlock(b + a, a, cond_width, kernel)
                                for a, b in zip(reversed(dims[:-1]), reversed(dims[1:])))
        self.out = nn.Sequential(nn.Conv1d(dims[0], dims[0], kernel, padding=kernel // 2),
                                 nn.GroupNorm(_groups(dims[0]), dims[0]), nn.Mish(),
                                 nn.Conv1d(dims[0], action_dim, 1))

    def blocks(self) -> list[FiLMResidualBlock]:
        """The FiLM-conditioned blocks in the order ``forward`` takes their (gain, shift)."""
        return [*self.down, self.mid, *self.up]

    def forward(self, x, films):
        """x (B, H, A) noisy chunk; films: per block of ``blocks()`` a (gain, shift) pair, each
        (B, C) -> the noise estimate (B, H, A)."""
        B, H, A = x.shape
        h = x.transpose(1, 2)                                               # (B, A, H)
        if self.padded != H:
            h = nn.functional.pad(h, (0, self.padded - H))                  # (B, A, H')
        films = iter(films)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, *next(films))
            if i < len(self.downsample):
                skips.append(h)
                h = self.downsample[i](h)
        h = self.mid(h, *next(films))
        for upsample, block in zip(self.upsample, self.up):
            h = torch.cat([upsample(h), skips.pop()], dim=1)
            h = block(h, *next(films))
        return self.out(h)[:, :, :H].transpose(1, 2)                        # (B, H, A)
