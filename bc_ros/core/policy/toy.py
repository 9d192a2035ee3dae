"""The 2-D bimodal toy: half the demonstrations pass a point on the left, half on the right.

Observation: a position (x, y) in a unit square. Action: the 2-D velocity the expert takes, which
is (1, +0.8) or (1, -0.8) at random with a little noise, whatever the position. A unimodal head
averages the two and goes straight at the point; a multimodal head should put its samples near
one of the two modes. Used by the unit test and ``benchmarks/bench_bimodal.py``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bc_ros.core.policy.heads.base import HeadSpec, make_head

MODES = np.array([[1.0, 0.8], [1.0, -0.8]])
NOISE = 0.05


def bimodal_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    obs = rng.uniform(-1, 1, (n, 2))
    side = rng.integers(0, 2, n)
    actions = MODES[side] + rng.normal(0, NOISE, (n, 2))
    return obs.astype(np.float32), actions.astype(np.float32)


def train_toy(head_name: str, steps: int = 1500, batch: int = 256, seed: int = 0,
              **options) -> tuple[nn.Module, nn.Module]:
    """Train encoder + head on the toy; actions are in [-1, 1] already (no normalizer)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    obs, act = bimodal_data(20000, rng)
    obs_t, act_t = torch.as_tensor(obs), torch.as_tensor(act)
    encoder = nn.Sequential(nn.Linear(2, 64), nn.Mish(), nn.Linear(64, 64))
    head = make_head(head_name, HeadSpec(cond_dim=64, action_dim=2, horizon=1), **options)
    params = list(encoder.parameters()) + list(head.parameters())
    optim = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-6)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, steps)
    encoder.train()
    head.train()
    for _ in range(steps):
        idx = torch.as_tensor(rng.integers(0, len(obs), batch))
        loss = head.loss(encoder(obs_t[idx]), act_t[idx].unsqueeze(1))
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
    return encoder.eval(), head.eval()


@torch.no_grad()
def mode_fraction(encoder, head, n: int = 1000, radius: float = 0.25, seed: int = 1) -> dict:
    """Fraction of samples within ``radius`` of a mode, and of each mode."""
    obs, _ = bimodal_data(n, np.random.default_rng(seed))
    gen = torch.Generator().manual_seed(seed)
    samples = head.sample(encoder(torch.as_tensor(obs)), generator=gen)[:, 0].numpy()  # (n, 2)
    dist = np.linalg.norm(samples[:, None, :] - MODES[None], axis=-1)              # (n, 2)
    near = dist.min(1) < radius
    which = dist.argmin(1)
    return {"near_a_mode": float(near.mean()),
            "left": float((near & (which == 0)).mean()),
            "right": float((near & (which == 1)).mean()),
            "mean_abs_lateral": float(np.abs(samples[:, 1]).mean())}
