"""Observation encoders: a compact CNN per camera view (or one shared by all views) with spatial
softmax, an MLP for the state, an optional goal, and the fusion of ``n_obs_steps`` of history by
concatenation or a GRU. Output: one embedding per sample (B, D) for the action head."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F


ACTIVATIONS = {"mish": nn.Mish, "silu": nn.SiLU, "relu": nn.ReLU}


@dataclasses.dataclass
class EncoderConfig:
    channels: tuple[int, ...] = (16, 32, 32)  # conv widths; each conv halves the resolution.
    # (32, 64, 64) took about 10x the CPU time per batch here; this fits the 3 ms batch-1 budget
    keypoints: int = 32          # spatial-softmax keypoints per view (robomimic uses 32)
    view_dim: int = 64           # features per view
    state_dim_out: int = 64      # features of the state MLP
    shared: bool = True          # one CNN for every view (False: one per view)
    fusion: str = "concat"       # history fusion: concat | gru
    embed_dim: int = 256         # D: the embedding the head sees
    activation: str = "relu"     # of the conv stack: relu | silu | mish. One frame of three
    # 96x96 views at batch 1, one thread: mish 1.77 ms, silu 0.96, relu 0.94 (CPU time here).
    # In closed loop relu did as well as mish (drone trail, 4 demos, 100 held-out seeds: centre
    # camera 57 vs 40, side cameras 97 vs 97, noise-injected 100 vs 100; bench_sim_results.py
    # trail_few --activation relu). Checkpoints from before this field existed used mish.

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got "
                             f"{self.activation=}")
        if self.fusion not in ("concat", "gru"):
            raise ValueError(f"fusion must be concat or gru, got {self.fusion=}")
        if not self.channels or min(self.channels) < 1 or self.keypoints < 1:
            raise ValueError(f"channels and keypoints must be positive, got {self}")


class SpatialSoftmax(nn.Module):
    """Expected (x, y) image position of each of K feature maps (Levine et al. 2016)."""

    def __init__(self, in_channels: int, keypoints: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, keypoints, 1)

    def forward(self, x):                                            # (N, C, h, w)
        n, _, h, w = x.shape
        logits = self.proj(x).flatten(2)                             # (N, K, h*w)
        attn = F.softmax(logits, dim=-1)
        ys = torch.linspace(-1, 1, h, device=x.device)
        xs = torch.linspace(-1, 1, w, device=x.device)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        ex = (attn * grid_x.flatten()).sum(-1)
        ey = (attn * grid_y.flatten()).sum(-1)
        return torch.cat([ex, ey], dim=-1)                           # (N, 2K)


class ConvEncoder(nn.Module):
    """uint8 images (N, 3, H, W) -> features (N, view_dim)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        layers, c_in = [], 3
        for c in cfg.channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1),
                       nn.GroupNorm(8 if c % 8 == 0 else 1, c), ACTIVATIONS[cfg.activation]()]
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.pool = SpatialSoftmax(c_in, cfg.keypoints)
        self.out = nn.Linear(2 * cfg.keypoints, cfg.view_dim)

    def forward(self, images):
        # uint8 -> [-1, 1] in place on one copy, in the autocast dtype when training under
        # bf16 autocast (the float32 copy and two more full-size temporaries took a fifth of a
        # training step)
        dtype = (torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu")
                 else torch.float32)
        x = images.to(dtype).mul_(1.0 / 127.5).sub_(1.0)
        return self.out(self.pool(self.conv(x)))


class ObservationEncoder(nn.Module):
    """images (B, T, V, 3, H, W) uint8, state (B, T, S) normalized, goal (B, G) -> (B, D)."""

    def __init__(self, cfg: EncoderConfig, n_views: int, state_dim: int, n_obs_steps: int,
                 goal_dim: int = 0):
        super().__init__()
        self.cfg, self.n_views, self.n_obs_steps = cfg, n_views, n_obs_steps
        n_cnn = 1 if cfg.shared else n_views
        self.cnns = nn.ModuleList(ConvEncoder(cfg) for _ in range(n_cnn))
        self.state_mlp = (nn.Sequential(nn.Linear(state_dim, cfg.state_dim_out), nn.Mish())
                          if state_dim else None)
        step_dim = n_views * cfg.view_dim + (cfg.state_dim_out if state_dim else 0)
        if cfg.fusion == "gru":
            self.gru = nn.GRU(step_dim, cfg.embed_dim, batch_first=True)
            fused = cfg.embed_dim
        else:
            fused = n_obs_steps * step_dim
        self.head_in = nn.Sequential(nn.Linear(fused + goal_dim, cfg.embed_dim), nn.Mish(),
                                     nn.Linear(cfg.embed_dim, cfg.embed_dim))

    def encode_steps(self, images, state=None):
        """Per-step features, each step on its own: images (B, T, V, 3, H, W) uint8, state
        (B, T, S) normalized -> (B, T, step_dim). ``select_action`` caches these, so a tick
        encodes only its newest frame."""
        B, T, V = images.shape[:3]
        if V != self.n_views:
            raise ValueError(f"expected {self.n_views} views, got images of shape "
                             f"{tuple(images.shape)}")
        if self.cfg.shared:
            feats = self.cnns[0](images.flatten(0, 2)).view(B, T, V, -1)     # (B, T, V, F)
        else:
            feats = torch.stack([cnn(images[:, :, v].flatten(0, 1)).view(B, T, -1)
                                 for v, cnn in enumerate(self.cnns)], dim=2)
        parts = [feats.flatten(2)]                                          # (B, T, V*F)
        if self.state_mlp is not None:
            parts.append(self.state_mlp(state))                            # (B, T, Fs)
        return torch.cat(parts, dim=-1)                                     # (B, T, step)

    def fuse(self, steps, goal=None):
        """(B, n_obs_steps, step_dim) step features (+ goal (B, G)) -> (B, D)."""
        if steps.shape[1] != self.n_obs_steps:
            raise ValueError(f"expected {self.n_obs_steps} steps, got {steps.shape[1]}")
        if self.cfg.fusion == "gru":
            _, h = self.gru(steps)
            fused = h[-1]                                                   # (B, D)
        else:
            fused = steps.flatten(1)                                        # (B, T*step)
        if goal is not None:
            fused = torch.cat([fused, goal], dim=-1)
        return self.head_in(fused)                                          # (B, D)

    def forward(self, images, state=None, goal=None):
        if images.shape[1] != self.n_obs_steps:
            raise ValueError(f"expected {self.n_obs_steps} steps of {self.n_views} views, got "
                             f"images of shape {tuple(images.shape)}")
        return self.fuse(self.encode_steps(images, state), goal)
