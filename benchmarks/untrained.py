"""Untrained policies made ready to run as a trained one is, for the speed benchmarks: the
normalizer fitted on random statistics, and CVAE's latent bank filled as training fills it."""

from __future__ import annotations

import numpy as np
import torch


def fit_as_trained(policy, seed: int = 0):
    """Fit ``policy``'s normalizer on random state and action statistics (500 samples) and, for
    CVAE, fill the bank of posterior means from one training-mode loss; returns it in eval."""
    from bc_ros.core.data.stats import feature_stats

    c = policy.config
    rng = np.random.default_rng(seed)
    stats = {"action": feature_stats(rng.normal(size=(500, len(c.action_names))))}
    if c.state_dim:
        stats["state"] = feature_stats(rng.normal(size=(500, c.state_dim)))
    policy.normalizer.fit(stats)
    if c.head == "cvae":   # as after training: z comes from the bank of posterior means
        policy.train()
        with torch.no_grad():
            policy.head.loss(torch.randn(256, c.encoder.embed_dim),
                             torch.randn(256, c.horizon, len(c.action_names)))
    return policy.eval()
