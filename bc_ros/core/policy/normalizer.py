"""Normalization that travels with the weights (diffusion_policy's LinearNormalizer idea).

Statistics are buffers of an ``nn.Module``, so they are saved in the state dict with the weights.
A policy whose normalizer was never fitted refuses to run rather than silently using zeros.

Modes per key: ``mean_std`` maps x to (x - mean) / std; ``min_max`` maps [q01, q99] to [-1, 1]
(robust to outliers; the diffusion and autoregressive heads want bounded targets).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

MODES = ("mean_std", "min_max")
EPS = 1e-6


class Normalizer(nn.Module):
    def __init__(self, dims: dict[str, int], modes: dict[str, str]):
        super().__init__()
        for key, mode in modes.items():
            if mode not in MODES:
                raise ValueError(f"normalizer mode for {key!r} must be one of {MODES}, "
                                 f"got {mode!r}")
        self.keys = list(dims)
        self.modes = dict(modes)
        for key, dim in dims.items():
            self.register_buffer(f"{key}_scale", torch.ones(dim))
            self.register_buffer(f"{key}_offset", torch.zeros(dim))
        self.register_buffer("fitted", torch.tensor(False))

    def fit(self, stats: dict[str, dict[str, np.ndarray]]) -> "Normalizer":
        """Set scale and offset from ``feature_stats`` dicts (bc_ros.core.data.stats)."""
        for key in self.keys:
            if key not in stats:
                raise ValueError(f"no statistics for {key!r}; have {sorted(stats)}")
            s = stats[key]
            if self.modes[key] == "mean_std":
                offset, scale = s["mean"], np.maximum(s["std"], EPS)
            else:
                lo, hi = s["q01"], s["q99"]
                offset, scale = (hi + lo) / 2, np.maximum((hi - lo) / 2, EPS)
            getattr(self, f"{key}_scale").copy_(torch.as_tensor(scale, dtype=torch.float32))
            getattr(self, f"{key}_offset").copy_(torch.as_tensor(offset, dtype=torch.float32))
        self.fitted.fill_(True)
        return self

    def _check(self):
        if not bool(self.fitted):
            raise RuntimeError("the normalizer has no statistics: fit it on the dataset (or load "
                               "a checkpoint that has them) before using the policy")

    def normalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        self._check()
        return (x - getattr(self, f"{key}_offset")) / getattr(self, f"{key}_scale")

    def unnormalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        self._check()
        return x * getattr(self, f"{key}_scale") + getattr(self, f"{key}_offset")
